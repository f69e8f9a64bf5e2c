/**
 * Platform specifiers, normalisation and matching (image-index.md; ecosystem.md §7). Matching always
 * compares normalised platforms, so "aarch64" and "arm64/v8" are the same machine, and "arm" is "arm/v7".
 */
import { arch as nodeArch, endianness as nodeEndianness, platform as nodePlatform } from 'node:os';
import { PlatformNotFoundError, UsageError } from '../errors.js';
import { formatPlatform, type Descriptor, type Platform } from './descriptor.js';
import type { ImageIndex } from './manifest.js';
import { isManifestMediaType } from './media-types.js';

/** BuildKit marks attestation manifests with this annotation (docs.docker.com "Image attestation storage"). */
const REFERENCE_TYPE_ANNOTATION = 'vnd.docker.reference.type';
const ATTESTATION_MANIFEST = 'attestation-manifest';

const COMPONENT_RE = /^[A-Za-z0-9_.-]+$/;

/**
 * Parses "os/arch[/variant]" with crane's optional ":osversion" suffix (`ggcr: pkg/v1/platform.go
 * ParsePlatform`), e.g. "linux/arm64/v8" or "windows/amd64:10.0.17763.1234"; the result is normalised.
 */
export function parsePlatform(spec: string): Platform {
  const colon = spec.indexOf(':');
  const path = colon === -1 ? spec : spec.slice(0, colon);
  const osVersion = colon === -1 ? undefined : spec.slice(colon + 1);
  const parts = path.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => !COMPONENT_RE.test(p)) || osVersion === '') {
    throw new UsageError(`invalid platform "${spec}": expected os/arch[/variant], e.g. linux/amd64 or linux/arm64/v8`, {
      hint: 'common platforms: linux/amd64, linux/arm64, linux/arm/v7, linux/386, linux/ppc64le, linux/s390x, linux/riscv64',
    });
  }
  const [os = '', architecture = '', variant] = parts;
  return normalizePlatform({
    os,
    architecture,
    ...(variant !== undefined ? { variant } : {}),
    ...(osVersion !== undefined ? { 'os.version': osVersion } : {}),
  });
}

/**
 * Returns the canonical form containerd compares (`platforms: database.go normalizeArch`): lower case;
 * macos → darwin; x86_64/x86-64 → amd64 (v1 is the baseline, so no variant); aarch64 → arm64 (v8 is
 * the baseline, so no variant; 9 → v9); i386 → 386; armhf → arm/v7; armel → arm/v6; bare arm → arm/v7.
 */
export function normalizePlatform(p: Platform): Platform {
  let os = p.os.toLowerCase();
  if (os === 'macos') os = 'darwin';
  let architecture = p.architecture.toLowerCase();
  let variant = (p.variant ?? '').toLowerCase();
  switch (architecture) {
    case 'i386':
      architecture = '386';
      variant = '';
      break;
    case 'x86_64':
    case 'x86-64':
    case 'amd64':
      architecture = 'amd64';
      if (variant === 'v1') variant = '';
      break;
    case 'aarch64':
    case 'arm64':
      architecture = 'arm64';
      if (variant === '8' || variant === 'v8' || variant === 'v8.0') variant = '';
      else if (variant === '9' || variant === '9.0' || variant === 'v9.0') variant = 'v9';
      break;
    case 'armhf':
      architecture = 'arm';
      variant = 'v7';
      break;
    case 'armel':
      architecture = 'arm';
      variant = 'v6';
      break;
    case 'arm':
      if (variant === '' || variant === '7') variant = 'v7';
      else if (variant === '5' || variant === '6' || variant === '8') variant = `v${variant}`;
      break;
  }
  return {
    os,
    architecture,
    ...(variant ? { variant } : {}),
    ...(p['os.version'] !== undefined ? { 'os.version': p['os.version'] } : {}),
    ...(p['os.features'] !== undefined ? { 'os.features': p['os.features'] } : {}),
  };
}

/** What hostPlatform reads from node:os; injectable so tests can describe other machines. */
export interface HostProbe {
  readonly platform: string;
  readonly arch: string;
  readonly endianness: 'BE' | 'LE';
}

const NODE_ARCH: Readonly<Record<string, string>> = { x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', mipsel: 'mipsle' };

/**
 * Returns the platform of this machine in OCI terms. macOS hosts get linux (images for darwin do not
 * exist in practice; Docker Desktop and containerd's darwin default matcher both fall back to linux).
 * A 32-bit arm host is assumed v7, the variant containerd defaults to.
 */
export function hostPlatform(probe: HostProbe = { platform: nodePlatform(), arch: nodeArch(), endianness: nodeEndianness() }): Platform {
  const os = probe.platform === 'win32' ? 'windows' : probe.platform === 'darwin' ? 'linux' : probe.platform;
  let architecture = NODE_ARCH[probe.arch] ?? probe.arch;
  if (probe.arch === 'ppc64' && probe.endianness === 'LE') architecture = 'ppc64le';
  return normalizePlatform({ os, architecture });
}

/**
 * Returns whether `candidate` can serve a request for `wanted`. os and architecture must be equal after
 * normalisation; variants must be equal unless either side has none (no variant in `wanted` means
 * any; none in a candidate means the baseline build, which runs everywhere). os.version is compared
 * only when `wanted` names one (prefix match by dotted component), os.features only when wanted lists some.
 */
export function platformMatches(wanted: Platform, candidate: Platform): boolean {
  return matchScore(normalizePlatform(wanted), normalizePlatform(candidate)) > 0;
}

/**
 * Returns the index entry to pull for `wanted`: an exact variant match first, then a compatible one,
 * then an entry without a platform (containerd lets those through); the first of equals wins, as
 * image-index.md asks. Attestation manifests and non-image entries are never chosen. Throws
 * PlatformNotFoundError whose hint lists the platforms the index offers.
 */
export function selectManifest(index: ImageIndex, wanted: Platform, options: { name?: string } = {}): Descriptor {
  const want = normalizePlatform(wanted);
  let best: Descriptor | undefined;
  let bestScore = 0;
  for (const d of index.manifests) {
    if (!isRunnableImage(d)) continue;
    const score = d.platform ? matchScore(want, normalizePlatform(d.platform)) : 1;
    if (score > bestScore) {
      best = d;
      bestScore = score;
    }
  }
  if (best) return best;
  const available = availablePlatforms(index);
  const where = options.name ? ` in ${options.name}` : '';
  throw new PlatformNotFoundError(`no image for platform ${formatPlatform(want)}${where}`, {
    hint:
      available.length > 0
        ? `available platforms: ${available.join(', ')}; choose one with --platform`
        : 'the index lists no runnable platform images',
  });
}

/** Returns "os/arch[/variant]" of each runnable entry of an index, in index order, without duplicates. */
export function availablePlatforms(index: ImageIndex): string[] {
  const seen = new Set<string>();
  for (const d of index.manifests) {
    if (isRunnableImage(d) && d.platform) seen.add(formatPlatform(d.platform));
  }
  return [...seen];
}

/** Returns whether an index entry is an image manifest one could run (not an attestation or artifact). */
export function isRunnableImage(d: Descriptor): boolean {
  if (!isManifestMediaType(d.mediaType)) return false;
  if (d.annotations?.[REFERENCE_TYPE_ANNOTATION] === ATTESTATION_MANIFEST) return false;
  return !(d.platform?.os === 'unknown' && d.platform.architecture === 'unknown');
}

/** 0: no match; 2: compatible (one side has no variant); 3: same variant. Inputs are normalised. */
function matchScore(want: Platform, cand: Platform): number {
  if (want.os !== cand.os || want.architecture !== cand.architecture) return 0;
  const wantVersion = want['os.version'];
  if (wantVersion !== undefined) {
    const v = cand['os.version'];
    if (v === undefined || (v !== wantVersion && !v.startsWith(`${wantVersion}.`))) return 0;
  }
  const features = want['os.features'];
  if (features && !features.every((f) => cand['os.features']?.includes(f))) return 0;
  const wv = want.variant ?? '';
  const cv = cand.variant ?? '';
  if (wv === cv) return 3;
  return wv === '' || cv === '' ? 2 : 0;
}
