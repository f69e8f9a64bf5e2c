/** Content digests (image-spec descriptor.md#digests): parsing, hashing, verification. */
import { createHash, type Hash } from 'node:crypto';
import { UsageError } from '../errors.js';

declare const DigestBrand: unique symbol;
/** "sha256:<64 hex>" or "sha512:<128 hex>"; only parseDigest/computeDigest produce one. */
export type Digest = string & { readonly [DigestBrand]: true };

export type DigestAlgorithm = 'sha256' | 'sha512';

const HEX_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };

/** Returns the digest if `text` is a valid sha256/sha512 digest, else throws UsageError. */
export function parseDigest(text: string): Digest {
  const match = /^(sha256|sha512):([a-f0-9]+)$/.exec(text);
  if (!match) throw new UsageError(`invalid digest "${text}"`, { hint: 'a digest looks like sha256:<64 lowercase hex characters>' });
  const algorithm = match[1] as DigestAlgorithm;
  if (match[2]!.length !== HEX_LENGTH[algorithm]) {
    throw new UsageError(`invalid digest "${text}": ${algorithm} takes ${HEX_LENGTH[algorithm]} hex characters`);
  }
  return text as Digest;
}

/** Returns whether `text` is a valid digest. */
export function isDigest(text: string): text is Digest {
  try {
    parseDigest(text);
    return true;
  } catch {
    return false;
  }
}

/** Splits a digest into its algorithm and hex. */
export function splitDigest(digest: Digest): { algorithm: DigestAlgorithm; hex: string } {
  const i = digest.indexOf(':');
  return { algorithm: digest.slice(0, i) as DigestAlgorithm, hex: digest.slice(i + 1) };
}

/** Returns the digest of `bytes` with the given algorithm. */
export function computeDigest(bytes: Uint8Array, algorithm: DigestAlgorithm = 'sha256'): Digest {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}` as Digest;
}

/** Returns an incremental hasher for the digest's algorithm. */
export function createDigester(algorithm: DigestAlgorithm): { hash: Hash; digest(): Digest } {
  const hash = createHash(algorithm);
  return { hash, digest: () => `${algorithm}:${hash.digest('hex')}` as Digest };
}

/** Returns a short form for humans: the first 12 hex characters. */
export function shortDigest(digest: string): string {
  const i = digest.indexOf(':');
  return digest.slice(i + 1, i + 13);
}
