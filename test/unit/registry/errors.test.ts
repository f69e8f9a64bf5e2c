import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { AuthError, NotFoundError, RateLimitedError, RegistryError, ServerError } from '../../../src/errors.js';
import { parseErrorBody, parseRetryAfter, toRegistryError } from '../../../src/registry/errors.js';
import type { HttpResponse } from '../../../src/registry/types.js';

const NOW = Date.parse('Wed, 21 Oct 2015 07:28:00 GMT');

describe('parseRetryAfter', () => {
  it.each([
    { value: '120', want: 120_000 },
    { value: '0', want: 0 },
    { value: ' 7 ', want: 7_000 },
    { value: 'Wed, 21 Oct 2015 07:28:30 GMT', want: 30_000 },
    { value: 'Wed, 21 Oct 2015 07:27:00 GMT', want: 0 }, // a date in the past: no wait
    { value: 'Wednesday, 21-Oct-15 07:29:00 GMT', want: 60_000 }, // obsolete RFC 850 form still parses
    { value: undefined, want: undefined },
    { value: '', want: undefined },
    { value: '-5', want: undefined },
    { value: '1.5', want: undefined },
    { value: 'soon', want: undefined },
  ])('$value → $want', ({ value, want }) => {
    expect(parseRetryAfter(value, NOW)).toBe(want);
  });
});

describe('parseErrorBody', () => {
  it('reads the distribution-spec errors array', () => {
    const body = JSON.stringify({ errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown', detail: { Tag: 'x' } }, { code: 'DENIED' }] });
    expect(parseErrorBody(body)).toEqual([
      { code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' },
      { code: 'DENIED', message: '' },
    ]);
  });
  it("reads Docker Hub's bare message body", () => {
    expect(parseErrorBody('{"message":"toomanyrequests: slow down"}')).toEqual([{ code: 'UNKNOWN', message: 'toomanyrequests: slow down' }]);
  });
  it('keeps the first line of a plain-text body, truncated', () => {
    const [d] = parseErrorBody(`${'x'.repeat(500)}\nsecond`);
    expect(d?.message).toHaveLength(200);
  });
  it('returns nothing for an empty body', () => {
    expect(parseErrorBody('  ')).toEqual([]);
  });
});

function response(status: number, body: string, headers: Record<string, string> = {}): HttpResponse {
  return { status, headers, url: new URL('http://r.example/v2/a/manifests/x'), body: Readable.from([Buffer.from(body)]) };
}

describe('toRegistryError', () => {
  const req = { method: 'GET', url: new URL('https://user:secret@r.example/v2/a/manifests/x?token=abc') };
  it.each([
    { status: 404, body: '', cls: NotFoundError, exit: 3 },
    { status: 400, body: '{"errors":[{"code":"NAME_UNKNOWN","message":"no"}]}', cls: NotFoundError, exit: 3 },
    { status: 401, body: '', cls: AuthError, exit: 4 },
    { status: 403, body: '{"errors":[{"code":"DENIED","message":"no"}]}', cls: AuthError, exit: 4 },
    { status: 429, body: '', cls: RateLimitedError, exit: 5 },
    { status: 408, body: '', cls: ServerError, exit: 5 },
    { status: 503, body: '', cls: ServerError, exit: 5 },
    { status: 400, body: '{"errors":[{"code":"MANIFEST_INVALID","message":"bad"}]}', cls: RegistryError, exit: 1 },
  ])('$status $body → $cls.name', async ({ status, body, cls, exit }) => {
    const err = await toRegistryError(req, response(status, body));
    expect(err).toBeInstanceOf(cls);
    expect(err.constructor).toBe(cls);
    expect(err.exitCode).toBe(exit);
  });
  it('carries Retry-After on 429 and redacts the URL', async () => {
    const err = await toRegistryError(req, response(429, '', { 'retry-after': '12' }));
    expect(err).toBeInstanceOf(RateLimitedError);
    expect((err as RateLimitedError).retryAfterMs).toBe(12_000);
    expect(err.message).not.toContain('secret');
    expect(err.message).not.toContain('abc');
  });
  it('reads no more than 64 KiB of an error body and still classifies it', async () => {
    const big: HttpResponse = { ...response(404, ''), body: Readable.from([Buffer.alloc(100 * 1024, 0x61)]) };
    const err = await toRegistryError(req, big);
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err.diagnostics).toEqual([]);
    expect(big.body.destroyed).toBe(true);
  });
});
