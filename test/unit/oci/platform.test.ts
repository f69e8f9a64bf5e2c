import { describe, expect, it } from 'vitest';
import { ExitCode, PlatformNotFoundError, UsageError } from '../../../src/errors.js';
import type { Descriptor, Platform } from '../../../src/oci/descriptor.js';
import type { Digest } from '../../../src/oci/digest.js';
import type { ImageIndex } from '../../../src/oci/manifest.js';
import { MediaType } from '../../../src/oci/media-types.js';
import {
  availablePlatforms,
  hostPlatform,
  normalizePlatform,
  parsePlatform,
  platformMatches,
  selectManifest,
} from '../../../src/oci/platform.js';

describe('parsePlatform', () => {
  it.each<[string, Platform]>([
    ['linux/amd64', { os: 'linux', architecture: 'amd64' }],
    ['linux/arm64', { os: 'linux', architecture: 'arm64' }],
    ['linux/arm64/v8', { os: 'linux', architecture: 'arm64' }],
    ['linux/arm64/v9.0', { os: 'linux', architecture: 'arm64', variant: 'v9' }],
    ['linux/arm', { os: 'linux', architecture: 'arm', variant: 'v7' }],
    ['linux/arm/v6', { os: 'linux', architecture: 'arm', variant: 'v6' }],
    ['linux/arm/5', { os: 'linux', architecture: 'arm', variant: 'v5' }],
    ['Linux/X86_64', { os: 'linux', architecture: 'amd64' }],
    ['linux/amd64/v3', { os: 'linux', architecture: 'amd64', variant: 'v3' }],
    ['linux/ppc64le', { os: 'linux', architecture: 'ppc64le' }],
    ['windows/amd64:10.0.17763.1234', { os: 'windows', architecture: 'amd64', 'os.version': '10.0.17763.1234' }],
  ])('%s', (spec, expected) => {
    expect(parsePlatform(spec)).toEqual(expected);
  });

  it.each(['', 'linux', 'linux/', '/amd64', 'linux/arm/v7/extra', 'linux/am d64', 'linux/amd64:', 'linux//v7'])(
    'rejects %j with a UsageError',
    (spec) => {
      let caught: unknown;
      try {
        parsePlatform(spec);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(UsageError);
      expect((caught as UsageError).exitCode).toBe(ExitCode.Usage);
      expect((caught as UsageError).message).toContain(`invalid platform "${spec}"`);
      expect((caught as UsageError).hint).toContain('linux/arm64');
    },
  );
});

describe('normalizePlatform', () => {
  it.each<[Platform, Platform]>([
    [{ os: 'linux', architecture: 'x86_64' }, { os: 'linux', architecture: 'amd64' }],
    [{ os: 'linux', architecture: 'x86-64' }, { os: 'linux', architecture: 'amd64' }],
    [{ os: 'linux', architecture: 'amd64', variant: 'v1' }, { os: 'linux', architecture: 'amd64' }],
    [{ os: 'linux', architecture: 'amd64', variant: 'v2' }, { os: 'linux', architecture: 'amd64', variant: 'v2' }],
    [{ os: 'linux', architecture: 'aarch64' }, { os: 'linux', architecture: 'arm64' }],
    [{ os: 'linux', architecture: 'arm64', variant: 'v8' }, { os: 'linux', architecture: 'arm64' }],
    [{ os: 'linux', architecture: 'arm64', variant: '8' }, { os: 'linux', architecture: 'arm64' }],
    [{ os: 'linux', architecture: 'arm64', variant: 'v8.0' }, { os: 'linux', architecture: 'arm64' }],
    [{ os: 'linux', architecture: 'arm64', variant: '9' }, { os: 'linux', architecture: 'arm64', variant: 'v9' }],
    [{ os: 'linux', architecture: 'arm64', variant: 'v8.2' }, { os: 'linux', architecture: 'arm64', variant: 'v8.2' }],
    [{ os: 'linux', architecture: 'armhf' }, { os: 'linux', architecture: 'arm', variant: 'v7' }],
    [{ os: 'linux', architecture: 'armel' }, { os: 'linux', architecture: 'arm', variant: 'v6' }],
    [{ os: 'linux', architecture: 'arm' }, { os: 'linux', architecture: 'arm', variant: 'v7' }],
    [{ os: 'linux', architecture: 'arm', variant: '8' }, { os: 'linux', architecture: 'arm', variant: 'v8' }],
    [{ os: 'linux', architecture: 'i386' }, { os: 'linux', architecture: '386' }],
    [{ os: 'linux', architecture: '386' }, { os: 'linux', architecture: '386' }],
    [{ os: 'MacOS', architecture: 'arm64' }, { os: 'darwin', architecture: 'arm64' }],
    [{ os: 'LINUX', architecture: 'S390X' }, { os: 'linux', architecture: 's390x' }],
    [
      { os: 'windows', architecture: 'AMD64', 'os.version': '10.0.20348.1', 'os.features': ['win32k'] },
      { os: 'windows', architecture: 'amd64', 'os.version': '10.0.20348.1', 'os.features': ['win32k'] },
    ],
  ])('%j → %j', (input, expected) => {
    expect(normalizePlatform(input)).toEqual(expected);
  });
});

describe('hostPlatform', () => {
  it.each<[{ platform: string; arch: string; endianness: 'BE' | 'LE' }, Platform]>([
    [{ platform: 'linux', arch: 'x64', endianness: 'LE' }, { os: 'linux', architecture: 'amd64' }],
    [{ platform: 'linux', arch: 'arm64', endianness: 'LE' }, { os: 'linux', architecture: 'arm64' }],
    [{ platform: 'linux', arch: 'arm', endianness: 'LE' }, { os: 'linux', architecture: 'arm', variant: 'v7' }],
    [{ platform: 'linux', arch: 'ia32', endianness: 'LE' }, { os: 'linux', architecture: '386' }],
    [{ platform: 'linux', arch: 'ppc64', endianness: 'LE' }, { os: 'linux', architecture: 'ppc64le' }],
    [{ platform: 'linux', arch: 'ppc64', endianness: 'BE' }, { os: 'linux', architecture: 'ppc64' }],
    [{ platform: 'linux', arch: 's390x', endianness: 'BE' }, { os: 'linux', architecture: 's390x' }],
    [{ platform: 'darwin', arch: 'arm64', endianness: 'LE' }, { os: 'linux', architecture: 'arm64' }],
    [{ platform: 'win32', arch: 'x64', endianness: 'LE' }, { os: 'windows', architecture: 'amd64' }],
  ])('%j → %j', (probe, expected) => {
    expect(hostPlatform(probe)).toEqual(expected);
  });

  it('describes this machine with an OCI os and architecture by default', () => {
    const p = hostPlatform();
    expect(p.os).toMatch(/^[a-z0-9]+$/);
    expect(['x64', 'ia32'].includes(p.architecture)).toBe(false); // node names were translated
  });
});

describe('platformMatches', () => {
  const p = (spec: string): Platform => {
    const [os = '', architecture = '', variant] = spec.split('/');
    return { os, architecture, ...(variant ? { variant } : {}) };
  };
  it.each<[string, string, boolean]>([
    ['linux/amd64', 'linux/amd64', true],
    ['linux/amd64', 'linux/x86_64', true],
    ['linux/arm64', 'linux/arm64/v8', true],
    ['linux/arm64/v8', 'linux/arm64', true],
    ['linux/arm64', 'linux/aarch64', true],
    ['linux/arm64', 'linux/arm64/v8.2', true], // wanted names no variant: any
    ['linux/arm64/v8.2', 'linux/arm64', true], // candidate baseline runs on a v8.2 machine
    ['linux/arm', 'linux/arm/v7', true],
    ['linux/arm', 'linux/arm', true],
    ['linux/arm', 'linux/arm/v6', false], // linux/arm means v7
    ['linux/arm/v6', 'linux/arm', false], // a bare arm candidate is v7, too new for v6
    ['linux/arm/v6', 'linux/armel', true],
    ['linux/amd64', 'linux/amd64/v3', true],
    ['linux/amd64/v3', 'linux/amd64/v2', false],
    ['linux/amd64', 'linux/arm64', false],
    ['linux/amd64', 'windows/amd64', false],
    ['linux/386', 'linux/i386', true],
  ])('%s wants %s → %s', (wanted, candidate, expected) => {
    expect(platformMatches(p(wanted), p(candidate))).toBe(expected);
  });

  it('ignores os.version unless wanted names one', () => {
    const cand: Platform = { os: 'windows', architecture: 'amd64', 'os.version': '10.0.17763.1234' };
    expect(platformMatches({ os: 'windows', architecture: 'amd64' }, cand)).toBe(true);
    expect(platformMatches({ os: 'windows', architecture: 'amd64', 'os.version': '10.0.17763' }, cand)).toBe(true);
    expect(platformMatches({ os: 'windows', architecture: 'amd64', 'os.version': '10.0.17763.1234' }, cand)).toBe(true);
    expect(platformMatches({ os: 'windows', architecture: 'amd64', 'os.version': '10.0.20348' }, cand)).toBe(false);
    expect(platformMatches({ os: 'windows', architecture: 'amd64', 'os.version': '10.0.1776' }, cand)).toBe(false);
    expect(platformMatches({ os: 'windows', architecture: 'amd64', 'os.version': '1' }, { os: 'windows', architecture: 'amd64' })).toBe(false);
  });

  it('requires wanted os.features to be a subset of the candidate’s', () => {
    const cand: Platform = { os: 'windows', architecture: 'amd64', 'os.features': ['win32k'] };
    expect(platformMatches({ os: 'windows', architecture: 'amd64', 'os.features': ['win32k'] }, cand)).toBe(true);
    expect(platformMatches({ os: 'windows', architecture: 'amd64', 'os.features': ['other'] }, cand)).toBe(false);
  });
});

let counter = 0;
function entry(platform: Platform | undefined, extra: Partial<Descriptor> = {}): Descriptor {
  counter += 1;
  return {
    mediaType: MediaType.OciManifest,
    digest: `sha256:${counter.toString(16).padStart(64, '0')}` as Digest,
    size: 500 + counter,
    ...(platform ? { platform } : {}),
    ...extra,
  };
}
function index(...manifests: Descriptor[]): ImageIndex {
  return { kind: 'index', schemaVersion: 2, mediaType: MediaType.OciIndex, manifests };
}
const attestation = (): Descriptor =>
  entry({ os: 'unknown', architecture: 'unknown' }, { annotations: { 'vnd.docker.reference.type': 'attestation-manifest' } });

describe('selectManifest', () => {
  const amd64 = entry({ os: 'linux', architecture: 'amd64' });
  const arm64v8 = entry({ os: 'linux', architecture: 'arm64', variant: 'v8' });
  const armv6 = entry({ os: 'linux', architecture: 'arm', variant: 'v6' });
  const armv7 = entry({ os: 'linux', architecture: 'arm', variant: 'v7' });
  const multi = index(amd64, attestation(), armv6, armv7, arm64v8, attestation());

  it.each<[string, Descriptor]>([
    ['linux/amd64', amd64],
    ['linux/arm64', arm64v8],
    ['linux/arm64/v8', arm64v8],
    ['linux/arm', armv7],
    ['linux/arm/v7', armv7],
    ['linux/arm/v6', armv6],
  ])('picks %s', (wanted, expected) => {
    expect(selectManifest(multi, parsePlatform(wanted))).toBe(expected);
  });

  it('prefers the exact variant over a compatible baseline listed first', () => {
    const base = entry({ os: 'linux', architecture: 'amd64' });
    const v3 = entry({ os: 'linux', architecture: 'amd64', variant: 'v3' });
    expect(selectManifest(index(base, v3), parsePlatform('linux/amd64/v3'))).toBe(v3);
    expect(selectManifest(index(v3, base), parsePlatform('linux/amd64'))).toBe(base);
  });

  it('takes the first of equally good entries', () => {
    const a = entry({ os: 'linux', architecture: 'arm64' });
    const b = entry({ os: 'linux', architecture: 'arm64', variant: 'v8' });
    expect(selectManifest(index(a, b), parsePlatform('linux/arm64'))).toBe(a);
    expect(selectManifest(index(b, a), parsePlatform('linux/arm64'))).toBe(b);
  });

  it('never picks an attestation manifest, even one with a real platform', () => {
    const att = entry({ os: 'linux', architecture: 'amd64' }, { annotations: { 'vnd.docker.reference.type': 'attestation-manifest' } });
    const real = entry({ os: 'linux', architecture: 'amd64' });
    expect(selectManifest(index(att, real), parsePlatform('linux/amd64'))).toBe(real);
  });

  it('skips unknown/unknown entries and nested indexes', () => {
    const unknown = entry({ os: 'unknown', architecture: 'unknown' });
    const nested = entry({ os: 'linux', architecture: 'amd64' }, { mediaType: MediaType.OciIndex });
    const real = entry({ os: 'linux', architecture: 'amd64' });
    expect(selectManifest(index(unknown, nested, real), parsePlatform('linux/amd64'))).toBe(real);
  });

  it('falls back to an entry without a platform only when nothing matches by platform', () => {
    const bare = entry(undefined);
    const arm = entry({ os: 'linux', architecture: 'arm64' });
    expect(selectManifest(index(bare, arm), parsePlatform('linux/arm64'))).toBe(arm);
    expect(selectManifest(index(bare, arm), parsePlatform('linux/amd64'))).toBe(bare);
  });

  it('throws PlatformNotFoundError naming the wanted platform and listing the available ones', () => {
    let caught: unknown;
    try {
      selectManifest(multi, parsePlatform('linux/riscv64'), { name: 'docker.io/library/x:1' });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(PlatformNotFoundError);
    const err = caught as PlatformNotFoundError;
    expect(err.exitCode).toBe(ExitCode.NotFound);
    expect(err.code).toBe('ERR_PLATFORM_NOT_FOUND');
    expect(err.message).toBe('no image for platform linux/riscv64 in docker.io/library/x:1');
    expect(err.hint).toBe('available platforms: linux/amd64, linux/arm/v6, linux/arm/v7, linux/arm64/v8; choose one with --platform');
  });

  it('says so when an index lists only attestations', () => {
    let caught: unknown;
    try {
      selectManifest(index(attestation()), parsePlatform('linux/amd64'));
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(PlatformNotFoundError);
    expect((caught as PlatformNotFoundError).hint).toBe('the index lists no runnable platform images');
  });

  it('availablePlatforms lists runnable entries once each, in index order', () => {
    const dup = entry({ os: 'linux', architecture: 'amd64' });
    expect(availablePlatforms(index(arm64v8, attestation(), amd64, dup))).toEqual(['linux/arm64/v8', 'linux/amd64']);
  });
});
