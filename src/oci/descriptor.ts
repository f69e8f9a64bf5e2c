/** Descriptors (image-spec descriptor.md) and platforms (image-index.md). */
import type { Digest } from './digest.js';

export interface Platform {
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string;
  readonly 'os.version'?: string;
  readonly 'os.features'?: readonly string[];
}

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: Digest;
  readonly size: number;
  readonly platform?: Platform;
  readonly urls?: readonly string[];
  readonly annotations?: Readonly<Record<string, string>>;
  readonly artifactType?: string;
}

/** Inclusive byte range, as HTTP Range counts. */
export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

/** Returns "os/arch[/variant]". */
export function formatPlatform(p: Platform): string {
  return p.variant ? `${p.os}/${p.architecture}/${p.variant}` : `${p.os}/${p.architecture}`;
}
