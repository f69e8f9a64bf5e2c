/**
 * Pulls through mirrors (issue 7): for each request the mirrors of the repository are tried in order,
 * then the upstream. A mirror that fails (connect error, TLS error, 5xx, 429, 404, anything but an
 * abort) makes that request fall back to the next endpoint with a `warning` event; one that failed
 * for a transient reason is skipped for a backoff that grows per mirror, so a dead mirror costs one
 * connect attempt per backoff, not one per blob. Mirrors cannot substitute content: manifests by
 * digest are hashed by the endpoint's client, blobs by the transfer engine; a tag resolved by a mirror
 * is accepted, as docker and containerd accept it, unless the mirror is digest-only.
 */
import type { RunContext } from '../context.js';
import { AbortedError, NetworkError, RateLimitedError, RateLimitStopError, ServerError } from '../errors.js';
import { isDigest } from '../oci/digest.js';
import type { ImageRef } from '../reference/types.js';
import type { RegistryClient } from './types.js';

/** A dead mirror is skipped this long after its first failure (containerd retries the next host at once, docker re-tries every pull). */
const DEFAULT_DOWN_MS = 30_000;
/** ...doubling per consecutive failure, up to this. */
const DEFAULT_MAX_DOWN_MS = 5 * 60_000;

/** One place a repository can be pulled from. */
export interface Endpoint {
  /** host[:port]. */
  readonly host: string;
  /** A scheme the configuration names; undefined: the usual rules (scheme.ts). */
  readonly scheme?: 'http' | 'https';
  /** The repository at this endpoint ("library/alpine", or "dockerhub/library/alpine" under a namespace). */
  readonly repository: string;
  /** Plain HTTP and unverified TLS allowed. */
  readonly insecure: boolean;
  /** false for the upstream, which is always last and never skipped. */
  readonly mirror: boolean;
  /** Which manifest requests this mirror serves (registries.conf pull-from-mirror; hosts.toml capabilities). Blobs: all but "none". */
  readonly serves: 'all' | 'digest-only' | 'tag-only';
}

/** The endpoints for a repository of the registry, mirrors first, the upstream last. */
export type EndpointPlan = (repository: string) => Promise<readonly Endpoint[]>;

export interface MirroredClientDeps {
  readonly ctx: RunContext;
  /** The client for an endpoint (cached by the caller). */
  readonly clientFor: (endpoint: Endpoint) => RegistryClient;
}

interface MirrorState {
  failures: number;
  downUntil: number;
  warned404: boolean;
}

/** Returns a client for `registry` that tries the plan's mirrors before the upstream. */
export function createMirroredClient(registry: string, plan: EndpointPlan, deps: MirroredClientDeps): RegistryClient {
  const { ctx } = deps;
  const states = new Map<string, MirrorState>();
  /** A storage URL from a response → the endpoint that gave it, so further ranges go back there. */
  const locations = new Map<string, Endpoint>();
  const stateOf = (e: Endpoint): MirrorState => {
    const key = `${e.scheme ?? ''}//${e.host}`;
    let s = states.get(key);
    if (s === undefined) states.set(key, (s = { failures: 0, downUntil: 0, warned404: false }));
    return s;
  };

  const failed = (e: Endpoint, err: unknown, what: string): void => {
    const s = stateOf(e);
    const transient = err instanceof NetworkError || err instanceof ServerError || err instanceof RateLimitedError || err instanceof RateLimitStopError;
    const detail = err instanceof Error ? err.message : String(err);
    if (!transient) {
      // 404, 401, a digest mismatch: this content is not (rightly) there; the mirror itself is fine.
      ctx.emit(s.warned404 ? { type: 'debug', scope: 'mirror', message: `${e.host}: ${what}: ${detail}` } : { type: 'warning', code: 'mirror.fallback', message: `mirror ${e.host} could not serve ${what} (${detail}); using the next source` });
      s.warned404 = true;
      return;
    }
    s.failures++;
    const down = Math.min(DEFAULT_MAX_DOWN_MS, DEFAULT_DOWN_MS * 2 ** (s.failures - 1));
    s.downUntil = ctx.now() + down;
    ctx.emit({ type: 'warning', code: 'mirror.down', message: `mirror ${e.host} failed for ${what} (${detail}); using the next source and skipping it for ${Math.round(down / 1000)}s` });
  };

  async function attempt<T>(repository: string, what: string, byDigest: boolean | undefined, op: (c: RegistryClient, e: Endpoint) => Promise<T>, first?: Endpoint): Promise<T> {
    const endpoints = (await plan(repository)).filter((e) => !e.mirror || byDigest === undefined || e.serves === 'all' || (e.serves === 'digest-only') === byDigest);
    const order = first ? [first, ...endpoints] : endpoints;
    for (const [i, e] of order.entries()) {
      const last = i === order.length - 1;
      const retrying = first !== undefined && i === 0; // the endpoint that gave the storage URL
      if (e.mirror && !last && !retrying && stateOf(e).downUntil > ctx.now()) continue;
      try {
        const result = await op(deps.clientFor(e), e);
        if (e.mirror) stateOf(e).failures = 0;
        return result;
      } catch (err) {
        if (last || err instanceof AbortedError || ctx.signal.aborted) throw err;
        if (e.mirror) failed(e, err, what);
      }
    }
    throw new Error('unreachable: the upstream is always last');
  }

  return {
    registry,
    headManifest: (ref, signal) =>
      attempt(ref.repository, `${ref.toString()}`, ref.digest !== undefined, (c, e) => c.headManifest(atEndpoint(ref, e), signal)),
    getManifest: (ref, reference, signal) =>
      attempt(ref.repository, `${ref.name}${isDigest(reference) ? '@' : ':'}${reference}`, isDigest(reference), (c, e) =>
        c.getManifest(atEndpoint(ref, e), reference, signal),
      ),
    openBlob: async (repository, digest, options = {}) => {
      const { location, ...rest } = options;
      const origin = location === undefined ? undefined : locations.get(location.href);
      const res = await attempt(repository, `blob ${digest}`, undefined, async (c, e) => {
        const r = await c.openBlob(e.repository, digest, e === origin && location ? { ...rest, location } : rest);
        locations.set(r.url.href, e);
        return r;
      }, origin);
      return res;
    },
  };
}

/** The reference as the endpoint names it: same tag and digest, the endpoint's host and repository. */
export function atEndpoint(ref: ImageRef, e: Endpoint): ImageRef {
  if (e.host === ref.registry && e.repository === ref.repository) return ref;
  const name = `${e.host}/${e.repository}`;
  const text = `${name}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`;
  return {
    domain: e.host,
    registry: e.host,
    repository: e.repository,
    ...(ref.tag !== undefined ? { tag: ref.tag } : {}),
    ...(ref.digest !== undefined ? { digest: ref.digest } : {}),
    name,
    toString: () => text,
  };
}
