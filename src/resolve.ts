/** Library `resolve`: a reference to its platform manifest (and, optionally, its config), through the cache. */
import { createRunContext } from './context.js';
import { createEventBus } from './events/bus.js';
import type { PullEvent } from './events/types.js';
import type { Platform } from './oci/descriptor.js';
import { hostPlatform, parsePlatform } from './oci/platform.js';
import { parseReference } from './reference/parse.js';
import { resolveAndRecord } from './pull-image.js';
import type { ResolvedImage } from './image/types.js';
import { openSession, type SessionOptions } from './session.js';

export interface ResolveOptions extends SessionOptions {
  readonly platform?: string | Platform;
  readonly signal?: AbortSignal;
  readonly onEvent?: (event: PullEvent) => void;
  /** Also fetch the config blob (into the cache) and return its bytes. */
  readonly withConfig?: boolean;
}

export interface ResolveResult {
  readonly image: ResolvedImage;
  readonly config?: Uint8Array;
}

/** Resolves `input` for the platform; manifests land in the cache, the tag is recorded in refs/. */
export async function resolve(input: string, options: ResolveOptions): Promise<ResolveResult> {
  const bus = createEventBus();
  if (options.onEvent) bus.subscribe(options.onEvent);
  const ctx = createRunContext({ emit: bus.emit, ...(options.signal ? { signal: options.signal } : {}) });
  const platform = options.platform === undefined ? hostPlatform() : typeof options.platform === 'string' ? parsePlatform(options.platform) : options.platform;
  const ref = parseReference(input);
  const session = await openSession(ctx, options);
  try {
    const image = await resolveAndRecord(ref, { ctx, session, platform });
    if (!options.withConfig) return { image };
    const blob = await session.transfer.fetch({ desc: image.config, role: 'config', source: session.blobSource(ref) });
    return { image, config: await session.store.readBytes(blob.digest) };
  } finally {
    await session.close();
  }
}
