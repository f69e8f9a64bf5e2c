import { describe, expect, it } from 'vitest';
import { AbortedError, IntegrityError, InvalidManifestError, NotFoundError, PlatformNotFoundError } from '../../../src/errors.js';
import { resolveAllPlatforms, resolveImage } from '../../../src/image/resolve.js';
import type { Descriptor, Platform } from '../../../src/oci/descriptor.js';
import { computeDigest, type Digest } from '../../../src/oci/digest.js';
import { MediaType } from '../../../src/oci/media-types.js';
import { parsePlatform } from '../../../src/oci/platform.js';
import { parseReference } from '../../../src/reference/parse.js';
import type { ImageRef } from '../../../src/reference/types.js';
import type { RawManifest, RegistryClient } from '../../../src/registry/types.js';

/** A registry double serving manifests from memory and recording which references were asked for. */
class MemoryRegistry implements RegistryClient {
  readonly registry = 'registry.test';
  readonly requests: string[] = [];
  private readonly byRef = new Map<string, RawManifest>();

  put(bytes: Uint8Array, mediaType: string, tag?: string): Descriptor {
    const descriptor: Descriptor = { mediaType, digest: computeDigest(bytes), size: bytes.byteLength };
    this.byRef.set(descriptor.digest, { descriptor, bytes });
    if (tag) this.byRef.set(tag, { descriptor, bytes });
    return descriptor;
  }
  /** Serves `bytes` when `reference` is asked for, whatever its digest (a misbehaving registry). */
  putRaw(reference: string, bytes: Uint8Array, mediaType: string): void {
    this.byRef.set(reference, { descriptor: { mediaType, digest: computeDigest(bytes), size: bytes.byteLength }, bytes });
  }
  async headManifest(): Promise<Descriptor | undefined> {
    throw new Error('not used');
  }
  async getManifest(ref: ImageRef, reference: string): Promise<RawManifest> {
    this.requests.push(`${ref.repository}:${reference}`);
    const found = this.byRef.get(reference);
    if (!found) throw new NotFoundError({ method: 'GET', url: `https://registry.test/v2/${ref.repository}/manifests/${reference}` }, 404);
    return found;
  }
  async openBlob(): Promise<never> {
    throw new Error('not used');
  }
}

const json = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value));
const blob = (n: number): Descriptor => ({
  mediaType: MediaType.OciLayerGzip,
  digest: `sha256:${n.toString(16).padStart(64, '0')}` as Digest,
  size: n * 100,
});

function imageManifest(seed: number): Uint8Array {
  return json({
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { ...blob(seed), mediaType: MediaType.OciConfig },
    layers: [blob(seed + 1), blob(seed + 2)],
  });
}

/** Pushes one image per platform plus an attestation, and an index tagged `tag`. */
function pushMultiArch(reg: MemoryRegistry, tag: string, platforms: Platform[]) {
  const children = platforms.map((platform, i) => ({ ...reg.put(imageManifest(10 * (i + 1)), MediaType.OciManifest), platform }));
  const attestation = {
    ...reg.put(imageManifest(900), MediaType.OciManifest),
    platform: { os: 'unknown', architecture: 'unknown' },
    annotations: { 'vnd.docker.reference.type': 'attestation-manifest' },
  };
  const indexBytes = json({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [...children, attestation] });
  const index = reg.put(indexBytes, MediaType.OciIndex, tag);
  return { children, attestation, index, indexBytes };
}

const LINUX_AMD64 = { os: 'linux', architecture: 'amd64' };
const LINUX_ARM64_V8 = { os: 'linux', architecture: 'arm64', variant: 'v8' };

describe('resolveImage', () => {
  it('resolves a tag pointing at an index to the wanted platform’s manifest, config and layers', async () => {
    const reg = new MemoryRegistry();
    const { children, index } = pushMultiArch(reg, 'v1', [LINUX_AMD64, LINUX_ARM64_V8]);
    const ref = parseReference('registry.test/app:v1');

    const img = await resolveImage(reg, ref, { platform: parsePlatform('linux/arm64') });

    expect(reg.requests).toEqual(['app:v1', `app:${children[1]!.digest}`]);
    expect(img.ref).toBe(ref);
    expect(img.root.descriptor.digest).toBe(index.digest);
    expect(img.index?.descriptor.digest).toBe(index.digest);
    expect(img.manifest.descriptor).toEqual(children[1]);
    expect(img.config.digest).toBe(blob(20).digest);
    expect(img.layers.map((l) => l.digest)).toEqual([blob(21).digest, blob(22).digest]);
    expect(img.platform).toEqual(LINUX_ARM64_V8);
  });

  it('accepts a single manifest whatever the wanted platform, labelled with the wanted platform', async () => {
    const reg = new MemoryRegistry();
    const single = reg.put(imageManifest(40), MediaType.OciManifest, 'latest');
    const img = await resolveImage(reg, parseReference('registry.test/one'), { platform: parsePlatform('linux/s390x') });
    expect(reg.requests).toEqual(['one:latest']);
    expect(img.index).toBeUndefined();
    expect(img.root).toBe(img.manifest);
    expect(img.manifest.descriptor.digest).toBe(single.digest);
    expect(img.platform).toEqual({ os: 'linux', architecture: 's390x' });
  });

  it('fetches by digest when the reference has both a tag and a digest', async () => {
    const reg = new MemoryRegistry();
    const { index } = pushMultiArch(reg, 'moved', [LINUX_AMD64]);
    const ref = parseReference(`registry.test/app:stale@${index.digest}`);
    await resolveImage(reg, ref, { platform: parsePlatform('linux/amd64') });
    expect(reg.requests[0]).toBe(`app:${index.digest}`);
    expect(reg.requests).not.toContain('app:stale');
  });

  it('raises PlatformNotFoundError naming the reference and listing platforms, skipping the attestation', async () => {
    const reg = new MemoryRegistry();
    pushMultiArch(reg, 'v1', [LINUX_AMD64, LINUX_ARM64_V8]);
    const err = await resolveImage(reg, parseReference('registry.test/app:v1'), { platform: parsePlatform('linux/ppc64le') }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PlatformNotFoundError);
    expect((err as PlatformNotFoundError).message).toBe('no image for platform linux/ppc64le in registry.test/app:v1');
    expect((err as PlatformNotFoundError).hint).toBe('available platforms: linux/amd64, linux/arm64/v8; choose one with --platform');
    expect(reg.requests).toEqual(['app:v1']);
  });

  it('raises IntegrityError when the served child manifest’s size differs from the index descriptor', async () => {
    const reg = new MemoryRegistry();
    const { children } = pushMultiArch(reg, 'v1', [LINUX_AMD64]);
    // The registry answers the child digest with other bytes (its client-side digest check bypassed).
    const longer = json({ ...(JSON.parse(new TextDecoder().decode(imageManifest(10))) as object), annotations: { a: 'b' } });
    reg.putRaw(children[0]!.digest, longer, MediaType.OciManifest);
    const err = await resolveImage(reg, parseReference('registry.test/app:v1'), { platform: parsePlatform('linux/amd64') }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as IntegrityError).message).toMatch(/got \d+ bytes, the descriptor says \d+/);
  });

  it('raises IntegrityError when same-sized child bytes have another digest', async () => {
    const reg = new MemoryRegistry();
    const { children } = pushMultiArch(reg, 'v1', [LINUX_AMD64]);
    const tampered = imageManifest(10);
    tampered[tampered.length - 3] = '9'.charCodeAt(0); // same length, different content
    reg.putRaw(children[0]!.digest, tampered, MediaType.OciManifest);
    const err = await resolveImage(reg, parseReference('registry.test/app:v1'), { platform: parsePlatform('linux/amd64') }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as IntegrityError).message).toContain(`expected ${children[0]!.digest}`);
  });

  it('raises IntegrityError when a by-digest root does not hash to the reference’s digest', async () => {
    const reg = new MemoryRegistry();
    const wanted = computeDigest(json({ other: true }));
    reg.putRaw(wanted, imageManifest(50), MediaType.OciManifest);
    const err = await resolveImage(reg, parseReference(`registry.test/app@${wanted}`), { platform: parsePlatform('linux/amd64') }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
  });

  it('rejects an index entry that is itself an index', async () => {
    const reg = new MemoryRegistry();
    const inner = reg.put(json({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] }), MediaType.OciIndex);
    // Labelled as a manifest in the outer index so selection picks it; the body says index.
    reg.put(json({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [{ ...inner, mediaType: MediaType.OciManifest, platform: LINUX_AMD64 }] }), MediaType.OciIndex, 'v1');
    const err = await resolveImage(reg, parseReference('registry.test/app:v1'), { platform: parsePlatform('linux/amd64') }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidManifestError);
  });

  it('passes the registry’s NotFoundError through', async () => {
    const reg = new MemoryRegistry();
    const err = await resolveImage(reg, parseReference('registry.test/missing:1'), { platform: parsePlatform('linux/amd64') }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
  });

  it('does not ask the registry anything once the signal has aborted', async () => {
    const reg = new MemoryRegistry();
    pushMultiArch(reg, 'v1', [LINUX_AMD64]);
    const controller = new AbortController();
    controller.abort();
    const err = await resolveImage(reg, parseReference('registry.test/app:v1'), { platform: parsePlatform('linux/amd64'), signal: controller.signal }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortedError);
    expect(reg.requests).toEqual([]);
  });
});

describe('resolveAllPlatforms', () => {
  it('resolves every runnable entry in index order and reports the attestation as skipped', async () => {
    const reg = new MemoryRegistry();
    const { children, attestation, index } = pushMultiArch(reg, 'v1', [LINUX_AMD64, LINUX_ARM64_V8, { os: 'linux', architecture: 'arm', variant: 'v7' }]);
    const all = await resolveAllPlatforms(reg, parseReference('registry.test/app:v1'), { fallbackPlatform: LINUX_AMD64 });
    expect(all.root.descriptor.digest).toBe(index.digest);
    expect(all.index?.manifests).toHaveLength(4);
    expect(all.images.map((i) => i.manifest.descriptor.digest)).toEqual(children.map((c) => c.digest));
    expect(all.images.map((i) => i.platform)).toEqual(children.map((c) => c.platform));
    expect(all.images.every((i) => i.index?.descriptor.digest === index.digest)).toBe(true);
    expect(all.skipped.map((d) => d.digest)).toEqual([attestation.digest]);
    expect(reg.requests).toEqual(['app:v1', ...children.map((c) => `app:${c.digest}`)]);
  });

  it('returns the single manifest as the only image when the root is not an index', async () => {
    const reg = new MemoryRegistry();
    reg.put(imageManifest(60), MediaType.DockerManifest, 'x');
    const all = await resolveAllPlatforms(reg, parseReference('registry.test/one:x'), { fallbackPlatform: LINUX_AMD64 });
    expect(all.index).toBeUndefined();
    expect(all.images).toHaveLength(1);
    expect(all.images[0]!.platform).toEqual(LINUX_AMD64);
    expect(all.skipped).toEqual([]);
  });
});
