/**
 * RegistryClient over the composed pipeline: `/v2/` ping (once, lazily; it picks the scheme and primes
 * auth), manifests (HEAD/GET, 4 MiB cap, digests verified from the bytes) and blobs (Range, redirects
 * without Authorization, expired storage URLs replaced). Small requests retry here; blob bodies never do.
 */
import { createTokenCache } from '../auth/token-cache.js';
import type { RunContext } from '../context.js';
import { AbortedError, IntegrityError, InvalidManifestError, NetworkError, RegistryError } from '../errors.js';
import type { Descriptor } from '../oci/descriptor.js';
import { computeDigest, isDigest, splitDigest, type Digest } from '../oci/digest.js';
import { MANIFEST_ACCEPT } from '../oci/media-types.js';
import type { ImageRef } from '../reference/types.js';
import { toBlobResponse } from './blob-response.js';
import { compose } from './compose.js';
import { toRegistryError } from './errors.js';
import { destroyBody, discardBody, readCapped } from './read-body.js';
import { candidateOrigins } from './scheme.js';
import { isCertificateError } from './undici-send.js';
import type { BlobResponse, HttpRequest, OpenBlobOptions, RawManifest, RegistryClient, RegistryClientOptions, Send } from './types.js';
import { withAuth } from './with-auth.js';
import { withRateLimit } from './rate-limit.js';
import { withHeaders } from './with-headers.js';
import { withRedirects } from './with-redirects.js';
import { withRetry } from './with-retry.js';

/** Manifest bodies are read up to 4 MiB, c/image's MaxManifestBodySize and the distribution registry's own limit. */
const DEFAULT_MANIFEST_LIMIT = 4 * 1024 * 1024;

/** Content types that say nothing about the manifest kind; then the body's `mediaType` decides. */
const GENERIC_CONTENT_TYPES = new Set(['', 'application/json', 'text/plain', 'application/octet-stream']);

interface Pipelines {
  readonly origin: string;
  /** ping, manifests: retried. */
  readonly small: Send;
  /** blobs: never retried here (the transfer engine resumes them). */
  readonly blob: Send;
}

/** Returns a client for one registry host (host[:port], as ImageRef.registry names it). */
export function createRegistryClient(registry: string, deps: { send: Send; ctx: RunContext }, options: RegistryClientOptions = {}): RegistryClient {
  const { ctx } = deps;
  const base = options.userAgent === undefined ? deps.send : withHeaders({ 'user-agent': options.userAgent })(deps.send);
  const retry = withRetry(ctx, {
    ...(options.attempts !== undefined ? { attempts: options.attempts } : {}),
    ...(options.maxWaitMs !== undefined ? { maxDelayMs: options.maxWaitMs } : {}),
  });
  const quota = withRateLimit(ctx, { registry: options.displayName ?? registry, ...(options.maxWaitMs !== undefined ? { maxWaitMs: options.maxWaitMs } : {}) });
  const tokens = createTokenCache({ send: compose(base, retry, withRedirects()), ctx });
  const build = (origin: string): Pipelines => {
    const auth = withAuth({ origin, tokens, ...(options.credentials ? { credentials: options.credentials } : {}) });
    // quota inside retry: a 429 past --max-wait throws a non-retryable error at the first response
    return { origin, small: compose(base, retry, quota, auth, withRedirects()), blob: compose(base, quota, auth, withRedirects()) };
  };
  const origins = candidateOrigins(registry, options.insecure === true, options.scheme);
  // No /v2/ ping when the first origin can simply be used: one origin, or plain HTTP on loopback. Any
  // request's 401 primes auth (with-auth.ts), so the ping would only cost a round trip (ctr skips it too).
  const optimistic = origins.length === 1 || origins[0]!.startsWith('http:');
  let ready: Promise<Pipelines> | undefined;
  const pingFrom = (candidates: readonly string[]): Promise<Pipelines> =>
    ping(registry, candidates, build, ctx).catch((err: unknown) => {
      ready = undefined; // a failed ping is tried again by the next request
      throw err;
    });
  const connect = (): Promise<Pipelines> => (ready ??= optimistic ? Promise.resolve(warmUp(build(origins[0]!), ctx)) : pingFrom(origins));
  const call = async <T>(fn: (p: Pipelines) => Promise<T>): Promise<T> => {
    const p = await connect();
    try {
      return await fn(p);
    } catch (err) {
      // registry quirk (Go TLS servers): plain HTTP to a TLS port gets "400 Client sent an HTTP request to
      // an HTTPS server": this loopback registry speaks TLS, so move to HTTPS once and ask again
      if (!(optimistic && origins.length > 1 && p.origin === origins[0] && err instanceof RegistryError && err.status === 400)) throw err;
      ready = pingFrom(origins.slice(1));
      return fn(await connect());
    }
  };

  return {
    registry,
    headManifest: (ref, signal) => call((p) => headManifest(p, ref, signal)),
    getManifest: (ref, reference, signal) => call((p) => getManifest(p, ref, reference, signal)),
    openBlob: (repository, digest, blobOptions = {}) => call((p) => openBlob(p, repository, digest, blobOptions)),
  };
}

/**
 * Sends a /v2/ request beside the first real one, never awaited: it opens a second keep-alive connection
 * while the manifest is fetched (so config and layer then start on warm connections, a round trip
 * saved on a high-latency link) and lets its 401 teach withAuth the challenge early. Not retried, so a
 * dead host costs nothing beyond the real request's own error.
 *
 * It leaves after the real request (next turn of the event loop): the run's first connection compiles
 * undici's HTTP parser on the main thread (~10 ms here), and the request the pull waits for should not
 * queue behind a ping.
 */
function warmUp(p: Pipelines, ctx: RunContext): Pipelines {
  const req: HttpRequest = { method: 'GET', url: new URL(`${p.origin}/v2/`), headers: {}, signal: ctx.signal };
  setImmediate(() => {
    if (!ctx.signal.aborted) p.blob(req).then((res) => discardBody(res.body), () => {}).catch(() => {});
  });
  return p;
}

function manifestRequest(p: Pipelines, method: 'GET' | 'HEAD', repository: string, reference: string, signal?: AbortSignal): HttpRequest {
  return {
    method,
    url: new URL(`${p.origin}/v2/${repository}/manifests/${reference}`),
    headers: { accept: MANIFEST_ACCEPT.join(', ') },
    scope: pullScope(repository),
    ...(signal ? { signal } : {}),
  };
}

async function headManifest(p: Pipelines, ref: ImageRef, signal: AbortSignal | undefined): Promise<Descriptor | undefined> {
  const req = manifestRequest(p, 'HEAD', ref.repository, ref.digest ?? ref.tag ?? 'latest', signal);
  const res = await p.small(req);
  if (res.status !== 200) throw await toRegistryError(req, res);
  await discardBody(res.body);
  const mediaType = mediaTypeOf(res.headers['content-type']);
  const size = Number(res.headers['content-length'] ?? NaN);
  const header = res.headers['docker-content-digest'];
  // containerd falls back to GET when the digest or the length is missing (resolver.go); so do we.
  if (!MANIFEST_ACCEPT.includes(mediaType) || !Number.isSafeInteger(size) || header === undefined || !isDigest(header)) return undefined;
  if (ref.digest === undefined) return { mediaType, digest: header, size };
  if (sameAlgorithm(header, ref.digest) && header !== ref.digest) throw digestMismatch(ref, ref.digest, header, 'Docker-Content-Digest');
  return { mediaType, digest: ref.digest, size };
}

async function getManifest(p: Pipelines, ref: ImageRef, reference: string, signal: AbortSignal | undefined): Promise<RawManifest> {
  const req = manifestRequest(p, 'GET', ref.repository, reference, signal);
  const res = await p.small(req);
  if (res.status !== 200) throw await toRegistryError(req, res);
  const tooLarge = (): InvalidManifestError =>
    new InvalidManifestError(`manifest ${ref.name}@${reference} is larger than 4 MiB`, { hint: 'dray reads manifests up to 4 MiB, as docker and podman do' });
  if (Number(res.headers['content-length'] ?? 0) > DEFAULT_MANIFEST_LIMIT) {
    destroyBody(res.body);
    throw tooLarge();
  }
  const bytes = await readCapped(res.body, DEFAULT_MANIFEST_LIMIT, tooLarge);
  const digest = verifyManifest(ref, reference, bytes, res.headers['docker-content-digest']);
  const descriptor: Descriptor = { mediaType: manifestMediaType(res.headers['content-type'], bytes), digest, size: bytes.length };
  return { descriptor, bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length) };
}

async function openBlob(p: Pipelines, repository: string, digest: Digest, options: OpenBlobOptions): Promise<BlobResponse> {
  const { range, signal, location } = options;
  const headers: Record<string, string> = { 'accept-encoding': 'identity' }; // compressed layers must arrive byte-exact
  if (range !== undefined) headers.range = `bytes=${range.start}-${range.end}`;
  const common = { method: 'GET' as const, headers, scope: pullScope(repository), ...(signal ? { signal } : {}) };
  if (location !== undefined) {
    const req: HttpRequest = { ...common, url: location };
    const res = await p.blob(req);
    if (res.status !== 401 && res.status !== 403) return toBlobResponse(req, res, range);
    await discardBody(res.body); // a presigned storage URL expired (ghcr ~300 s): ask the registry for a new one
  }
  const req: HttpRequest = { ...common, url: new URL(`${p.origin}/v2/${repository}/blobs/${digest}`) };
  return toBlobResponse(req, await p.blob(req), range);
}

/** The bearer scope every request of a pull needs (distribution spec/auth/scope.md). */
export function pullScope(repository: string): string {
  return `repository:${repository}:pull`;
}

/** Pings `/v2/` on each candidate origin; the first that answers (200, 401, 404...) is the registry's. */
async function ping(registry: string, origins: readonly string[], build: (origin: string) => Pipelines, ctx: RunContext): Promise<Pipelines> {
  let lastError: unknown;
  for (const [i, origin] of origins.entries()) {
    const p = build(origin);
    const last = i === origins.length - 1;
    const req: HttpRequest = { method: 'GET', url: new URL(`${origin}/v2/`), headers: {}, signal: ctx.signal };
    try {
      // Only the last candidate retries: an https attempt on a plain-http registry fails fast to the fallback.
      const res = await (last ? p.small : p.blob)(req);
      if (res.status >= 500) throw await toRegistryError(req, res);
      await discardBody(res.body);
      // registry quirk (Go TLS servers): plain HTTP to a TLS port gets "400 Client sent an HTTP request to
      // an HTTPS server"; the HTTPS attempt's failure is the real one.
      if (res.status === 400 && lastError !== undefined) throw lastError;
      return p;
    } catch (err) {
      // A certificate that failed verification means a TLS server answered: report it, never retry in plain HTTP.
      if (last || err === lastError || err instanceof AbortedError || !(err instanceof NetworkError) || isCertificateError(err)) throw err;
      lastError = err;
    }
  }
  throw new NetworkError(`cannot reach ${registry}`, { cause: lastError });
}

function verifyManifest(ref: ImageRef, reference: string, bytes: Uint8Array, header: string | undefined): Digest {
  // By digest: the bytes must hash to it, whatever headers say (ggcr fetcher.go). By tag: the digest is
  // computed; Docker-Content-Digest is only cross-checked (distribution-spec: a client using it MUST verify it).
  const expected = isDigest(reference) ? reference : undefined;
  const digest = computeDigest(bytes, expected === undefined ? 'sha256' : splitDigest(expected).algorithm);
  if (expected !== undefined && digest !== expected) throw digestMismatch(ref, expected, digest, 'the bytes received');
  if (header !== undefined && isDigest(header)) {
    const check = sameAlgorithm(header, digest) ? digest : computeDigest(bytes, splitDigest(header).algorithm);
    if (check !== header) throw digestMismatch(ref, header, check, 'the bytes received (against Docker-Content-Digest)');
  }
  return digest;
}

function digestMismatch(ref: ImageRef, expected: string, actual: string, what: string): IntegrityError {
  return new IntegrityError(`manifest of ${ref.name} should be ${expected} but ${what} give ${actual}`, {
    hint: 'the registry or a proxy in between served different content; nothing was stored',
  });
}

function sameAlgorithm(a: string, b: string): boolean {
  return a.slice(0, a.indexOf(':')) === b.slice(0, b.indexOf(':'));
}

function mediaTypeOf(contentType: string | undefined): string {
  return (contentType ?? '').split(';', 1)[0]!.trim().toLowerCase();
}

/** The response Content-Type, or the body's `mediaType` when the type is missing or generic (image/ validates the rest). */
function manifestMediaType(contentType: string | undefined, bytes: Uint8Array): string {
  const declared = mediaTypeOf(contentType);
  if (!GENERIC_CONTENT_TYPES.has(declared)) return declared;
  try {
    const body = JSON.parse(Buffer.from(bytes).toString('utf8')) as { mediaType?: unknown };
    if (typeof body.mediaType === 'string' && body.mediaType !== '') return body.mediaType;
  } catch {
    // not JSON: image/ reports it as an invalid manifest
  }
  return declared === '' ? 'application/octet-stream' : declared;
}
