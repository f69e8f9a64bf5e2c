/**
 * Registry client contracts. The HTTP pipeline is composed from small wrappers
 * (compose(send, withAuth, withRedirects, withRetry)); only registry/undici-send.ts imports undici.
 */
import type { Readable } from 'node:stream';
import type { ByteRange, Descriptor } from '../oci/descriptor.js';
import type { Digest } from '../oci/digest.js';
import type { ImageRef } from '../reference/types.js';

export interface HttpRequest {
  readonly method: 'GET' | 'HEAD' | 'POST';
  readonly url: URL;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
  readonly signal?: AbortSignal;
  /** Token scope for bearer auth, e.g. "repository:library/alpine:pull". */
  readonly scope?: string;
}

export interface HttpResponse {
  readonly status: number;
  /** Lower-case header names; repeated headers joined with ", " (set-cookie is not used). */
  readonly headers: Readonly<Record<string, string | undefined>>;
  /** Final URL after redirects. */
  readonly url: URL;
  /** The caller must consume or destroy it. */
  readonly body: Readable;
}

export type Send = (req: HttpRequest) => Promise<HttpResponse>;
export type Middleware = (next: Send) => Send;

/** Credentials for one registry, from --creds, config.json, a helper... */
export interface Credentials {
  readonly username?: string;
  readonly password?: string;
  /** OAuth2 refresh token (docker config "identitytoken"). */
  readonly identityToken?: string;
  /** Human-readable origin, for error hints: "--creds", "~/.docker/config.json". Never the secret. */
  readonly source: string;
}

/**
 * Looks up credentials for a registry host (host[:port], docker.io normalised to its index key by the
 * implementation) and, when known, the repository (auth.json keys may name a namespace or repository).
 * `searched` names the places looked in, for the hint when nothing was found.
 */
export type CredentialLookup = ((registry: string, repository?: string) => Promise<Credentials | undefined>) & {
  readonly searched?: readonly string[];
};

export interface RawManifest {
  readonly descriptor: Descriptor;
  readonly bytes: Uint8Array;
}

export interface BlobResponse {
  readonly body: Readable;
  /** The range actually served (206 + Content-Range); undefined: the server sent the whole blob (200). */
  readonly served?: ByteRange;
  /** Total blob size when the server said (Content-Range total or Content-Length of a 200). */
  readonly totalSize?: number;
  /** The URL that served the bytes (after redirects), reusable for further ranges of the same blob. */
  readonly url: URL;
}

export interface OpenBlobOptions {
  readonly range?: ByteRange;
  readonly signal?: AbortSignal;
  /** A redirected storage URL from an earlier response of the same blob; on 401/403 from it the client goes back to the registry. */
  readonly location?: URL;
}

/** Talks to one registry host. */
export interface RegistryClient {
  readonly registry: string;
  /** HEAD the manifest by tag or digest; undefined when the registry gave no usable digest (then GET). */
  headManifest(ref: ImageRef, signal?: AbortSignal): Promise<Descriptor | undefined>;
  /** GET a manifest by tag or digest; by digest the bytes are hashed and must match. Size capped at 4 MiB. */
  getManifest(ref: ImageRef, reference: string, signal?: AbortSignal): Promise<RawManifest>;
  /** GET (a range of) a blob; follows redirects without the registry's Authorization. Retries nothing: the transfer engine does. */
  openBlob(repository: string, digest: Digest, options?: OpenBlobOptions): Promise<BlobResponse>;
}

export interface RegistryClientOptions {
  /** Plain HTTP and unverified TLS for this host (loopback hosts use HTTP regardless). */
  readonly insecure?: boolean;
  readonly credentials?: CredentialLookup;
  readonly userAgent?: string;
  /** The scheme configuration names for this host (a mirror's `https://…`); overrides the loopback rule. */
  readonly scheme?: 'http' | 'https';
  /** Attempts for small requests (ping, manifests); mirrors use 1 and fall back instead of retrying. */
  readonly attempts?: number;
  /** Longest 429 wait to sit through (--max-wait); longer ones stop with RateLimitStopError. */
  readonly maxWaitMs?: number;
  /** The registry as the user names it, for messages ("docker.io" for registry-1.docker.io). */
  readonly displayName?: string;
}
