/** The parsed, normalised image reference. */
import type { Digest } from '../oci/digest.js';

export interface ImageRef {
  /** The registry as the user names it, normalised: "docker.io", "ghcr.io", "127.0.0.1:5000", "[::1]:5000". */
  readonly domain: string;
  /** The host[:port] to contact: "registry-1.docker.io" for docker.io, else the domain. */
  readonly registry: string;
  /** "library/alpine". */
  readonly repository: string;
  /** Present unless the reference is by digest only; "latest" when neither was given. */
  readonly tag?: string;
  readonly digest?: Digest;
  /** domain + "/" + repository: "docker.io/library/alpine". */
  readonly name: string;
  /** Canonical form: name[:tag][@digest]. */
  toString(): string;
}
