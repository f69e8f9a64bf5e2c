/**
 * Interprets a blob GET's answer (RFC 9110 §14, §15.3.7): 206 + Content-Range is the range served, 200 is
 * the whole blob (the server ignored Range; the transfer engine then stops chunking), anything else is a
 * typed error. A 206 for a range other than the one asked is refused rather than written at the wrong offset.
 */
import type { ByteRange } from '../oci/descriptor.js';
import { RangeMismatchError, redactUrl } from '../errors.js';
import { toRegistryError } from './errors.js';
import { destroyBody } from './read-body.js';
import type { BlobResponse, HttpRequest, HttpResponse } from './types.js';

/** Parses `bytes first-last/total` or `bytes first-last/*`; undefined when malformed. */
export function parseContentRange(value: string | undefined): { range: ByteRange; total?: number } | undefined {
  const match = /^\s*bytes\s+(\d+)-(\d+)\/(\d+|\*)\s*$/i.exec(value ?? '');
  if (!match) return undefined;
  const range = { start: Number(match[1]), end: Number(match[2]) };
  if (range.end < range.start) return undefined;
  return match[3] === '*' ? { range } : { range, total: Number(match[3]) };
}

/** Returns the BlobResponse, or throws (after destroying the body) a typed error. */
export async function toBlobResponse(req: HttpRequest, res: HttpResponse, asked: ByteRange | undefined): Promise<BlobResponse> {
  if (res.status === 200) {
    const length = parseLength(res.headers['content-length']);
    return { body: res.body, url: res.url, ...(length === undefined ? {} : { totalSize: length }) };
  }
  if (res.status === 206) {
    const parsed = parseContentRange(res.headers['content-range']);
    if (parsed === undefined || asked === undefined || !servesAsked(parsed.range, parsed.total, asked)) {
      destroyBody(res.body);
      const got = res.headers['content-range'] ?? 'no Content-Range';
      const want = asked === undefined ? 'no range' : `bytes ${asked.start}-${asked.end}`;
      throw new RangeMismatchError(`${redactUrl(res.url)} answered ${got} for ${want}`, {
        hint: 'the server mishandles Range requests; the blob will be fetched as one stream',
      });
    }
    return { body: res.body, url: res.url, served: parsed.range, ...(parsed.total === undefined ? {} : { totalSize: parsed.total }) };
  }
  throw await toRegistryError(req, res);
}

/** The start must match; the end may be short only where the blob ends (a range past the end is clamped). */
function servesAsked(served: ByteRange, total: number | undefined, asked: ByteRange): boolean {
  if (served.start !== asked.start) return false;
  if (served.end === asked.end) return true;
  return total !== undefined && served.end === total - 1 && asked.end > served.end;
}

function parseLength(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d+$/.test(value.trim())) return undefined;
  return Number(value.trim());
}
