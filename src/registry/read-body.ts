/**
 * Capped body reads. Registries and storage answer with bodies whose size we do not control; manifests,
 * tokens and error bodies are read with a cap so a hostile or broken server cannot make us buffer
 * without bound (DESIGN.md §6; c/image iolimits reads at most limit+1 bytes).
 */
import type { Readable } from 'node:stream';

/**
 * Reads the whole body. Once more than `limit` bytes arrived the body is destroyed and `tooLarge()` is
 * thrown, so no more than one chunk past the cap is ever buffered.
 */
export async function readCapped(body: Readable, limit: number, tooLarge: () => Error): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body as AsyncIterable<Buffer | string>) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    total += buf.length;
    if (total > limit) {
      destroyBody(body);
      throw tooLarge();
    }
    chunks.push(buf);
  }
  return Buffer.concat(chunks, total);
}

/** Up to this much of an unwanted body is drained so the keep-alive connection is reused; past it the socket is dropped. */
const DEFAULT_DRAIN_LIMIT = 64 * 1024;

/** Consumes a body nobody wants (a redirect's, a 401's before the replay): drains a small one, destroys a large one. Never throws. */
export async function discardBody(body: Readable, limit = DEFAULT_DRAIN_LIMIT): Promise<void> {
  try {
    await readCapped(body, limit, () => new Error('drain limit'));
  } catch {
    destroyBody(body);
  }
}

/**
 * Destroys a body we stop reading. undici's body emits an abort error when destroyed before its end;
 * nobody is listening for it any more, so it is swallowed rather than left to crash the process.
 */
export function destroyBody(body: Readable): void {
  body.on('error', () => {});
  body.destroy();
}
