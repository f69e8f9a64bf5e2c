/**
 * A RegistryClient decorator that serves manifests from the cache according to the pull policy
 * (issue 4): `always` asks the registry one HEAD per tag (Docker Hub does not count HEADs against its
 * quota) for tags it has resolved before and GETs only manifests the cache lacks; `missing` trusts refs/ for tags already resolved;
 * `never` touches no network at all. Manifests by digest come from the cache whenever present, since
 * the cache only holds verified bytes.
 */
import type { BlobStore } from '../cache/types.js';
import { NotFoundError } from '../errors.js';
import { isDigest, parseDigest, type Digest } from '../oci/digest.js';
import { parseManifest } from '../oci/manifest.js';
import type { ImageRef } from '../reference/types.js';
import type { RawManifest, RegistryClient } from '../registry/types.js';

export const PULL_POLICIES = ['always', 'missing', 'never'] as const;
export type PullPolicy = (typeof PULL_POLICIES)[number];

/** Returns a client whose manifest reads go through the cache as the policy says. */
export function withCachedManifests(client: RegistryClient, store: BlobStore, policy: PullPolicy): RegistryClient {
  const fromCache = async (digest: Digest): Promise<RawManifest | undefined> => {
    if (!(await store.stat(digest))) return undefined;
    const bytes = await store.readBytes(digest);
    await store.touch(digest);
    const parsed = parseManifest(bytes);
    return { descriptor: { mediaType: parsed.mediaType, digest, size: bytes.byteLength }, bytes };
  };
  const offline = (ref: ImageRef, what: string) =>
    new NotFoundError({ method: 'GET', url: `cache:${ref.toString()}` }, 404, [], {
      message: `${what} is not in the cache and --pull never forbids the network`,
      hint: 'pull it once with network access, or use --pull missing',
    });

  return {
    registry: client.registry,
    headManifest: (ref, signal) => client.headManifest(ref, signal),
    openBlob: (repository, digest, options) => client.openBlob(repository, digest, options),
    async getManifest(ref, reference, signal) {
      if (isDigest(reference)) {
        const cached = await fromCache(parseDigest(reference));
        if (cached) return cached;
        if (policy === 'never') throw offline(ref, `manifest ${reference} of ${ref.name}`);
        return client.getManifest(ref, reference, signal);
      }
      const record = await store.readRef(ref.toString());
      if (policy !== 'always') {
        const cached = record ? await fromCache(record.digest) : undefined;
        if (cached) return cached;
        if (policy === 'never') throw offline(ref, ref.toString());
      }
      // A tag seen before: one HEAD (free against Docker Hub's quota) tells whether the cached manifest
      // is still current. A tag never seen needs the GET anyway, so a HEAD first would only add a round trip.
      if (record) {
        const head = await client.headManifest(ref, signal).catch(() => undefined);
        const cached = head ? await fromCache(head.digest) : undefined;
        if (cached) return cached;
      }
      return client.getManifest(ref, reference, signal);
    },
  };
}
