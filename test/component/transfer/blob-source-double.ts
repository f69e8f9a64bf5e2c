/**
 * A BlobSource over an in-memory Buffer, honouring Range like a registry, with scripted faults per
 * request. It counts open bodies (from open() until the body closes) so tests can check the budget.
 */
import { Readable } from 'node:stream';
import { AbortedError, NotFoundError, RateLimitedError } from '../../../src/errors.js';
import type { ByteRange, Descriptor } from '../../../src/oci/descriptor.js';
import { computeDigest } from '../../../src/oci/digest.js';
import type { BlobResponse, OpenBlobOptions } from '../../../src/registry/types.js';
import type { BlobSource } from '../../../src/transfer/types.js';

export type Fault =
  | { readonly kind: 'reset'; readonly afterBytes: number }
  | { readonly kind: 'stall'; readonly afterBytes: number }
  | { readonly kind: 'ignore-range' }
  | { readonly kind: 'wrong-range' }
  | { readonly kind: 'rate-limited'; readonly retryAfterMs?: number }
  | { readonly kind: 'not-found' }
  | { readonly kind: 'corrupt' }
  | { readonly kind: 'redirect'; readonly to: string };

export interface SeenRequest {
  readonly digest: string;
  readonly range: ByteRange | undefined;
  readonly location: string | undefined;
}

/** Decides the fault of the n-th request (0-based, over all blobs) for a digest. */
export type Script = (request: SeenRequest, n: number) => Fault | undefined;

const PIECE = 16 * 1024;

export class BufferBlobSource implements BlobSource {
  readonly key = 'registry.test';
  readonly requests: SeenRequest[] = [];
  readonly #blobs = new Map<string, Buffer>();
  #script: Script;
  openBodies = 0;
  peakOpen = 0;

  constructor(script: Script = () => undefined) {
    this.#script = script;
  }

  /** Registers content; returns its descriptor. */
  add(bytes: Buffer, mediaType = 'application/vnd.oci.image.layer.v1.tar+gzip'): Descriptor {
    const digest = computeDigest(bytes);
    this.#blobs.set(digest, bytes);
    return { mediaType, digest, size: bytes.length };
  }

  setScript(script: Script): void {
    this.#script = script;
  }

  async open(desc: Descriptor, options: OpenBlobOptions): Promise<BlobResponse> {
    if (options.signal?.aborted) throw new AbortedError('interrupted');
    const seen: SeenRequest = { digest: desc.digest, range: options.range, location: options.location?.toString() };
    const n = this.requests.length;
    this.requests.push(seen);
    const fault = this.#script(seen, n);
    const url = new URL(`http://${this.key}/v2/repo/blobs/${desc.digest}`);
    const request = { method: 'GET', url: url.toString() };
    const bytes = this.#blobs.get(desc.digest);
    if (!bytes || fault?.kind === 'not-found') throw new NotFoundError(request, 404, [{ code: 'BLOB_UNKNOWN', message: 'blob unknown' }]);
    if (fault?.kind === 'rate-limited') throw new RateLimitedError(request, 429, [], fault.retryAfterMs);
    const honour = options.range !== undefined && fault?.kind !== 'ignore-range';
    const range = honour ? options.range! : { start: 0, end: bytes.length - 1 };
    const content = Buffer.from(bytes.subarray(range.start, Math.min(range.end, bytes.length - 1) + 1));
    if (fault?.kind === 'corrupt' && content.length > 0) content[0] = content[0]! ^ 0xff;
    const served = !honour ? undefined : fault?.kind === 'wrong-range' ? { start: range.start + 1, end: range.end } : range;
    return {
      body: this.#body(content, fault, options.signal),
      ...(served ? { served, totalSize: bytes.length } : { totalSize: bytes.length }),
      url: fault?.kind === 'redirect' ? new URL(fault.to) : (options.location ?? url),
    };
  }

  #body(content: Buffer, fault: Fault | undefined, signal: AbortSignal | undefined): Readable {
    let sent = 0;
    const cut = fault?.kind === 'reset' || fault?.kind === 'stall' ? fault.afterBytes : Number.POSITIVE_INFINITY;
    this.openBodies++;
    this.peakOpen = Math.max(this.peakOpen, this.openBodies);
    // Reset only once the consumer has read everything sent, so "reset after N bytes" means N arrived.
    const resetWhenDrained = (): void => {
      if (body.destroyed) return;
      if (body.readableLength > 0) setImmediate(resetWhenDrained);
      else body.destroy(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
    };
    const body = new Readable({
      read() {
        setImmediate(() => {
          if (body.destroyed) return;
          if (sent >= cut) {
            if (fault?.kind === 'reset') resetWhenDrained();
            return; // stall: never push again
          }
          if (sent >= content.length) {
            body.push(null);
            return;
          }
          const piece = content.subarray(sent, Math.min(sent + PIECE, content.length, cut));
          sent += piece.length;
          body.push(piece);
        });
      },
    });
    body.once('close', () => this.openBodies--);
    signal?.addEventListener('abort', () => body.destroy(new AbortedError('interrupted')), { once: true });
    return body;
  }
}

/** Deterministic pseudo-random bytes. */
export function makeBytes(size: number, seed = 1): Buffer {
  const out = Buffer.alloc(size);
  let x = seed;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    out[i] = x >>> 16;
  }
  return out;
}
