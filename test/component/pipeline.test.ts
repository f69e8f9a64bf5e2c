// Issue 5: the rootfs export is pipelined with the downloads. A 3-layer image whose top layer trickles
// from the fake registry: the library's event stream must show the base layer applied while the top
// layer is still on the wire, and the finished tree must hold every layer's files.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PullEvent } from '../../src/events/types.js';
import { pull } from '../../src/pull.js';
import { buildImage, buildLayer, randomLayer, type BuiltImage } from '../helpers/image-builder.js';
import { FakeRegistry } from '../helpers/fake-registry.js';

/** Every blob body trickles at this rate: the two small layers need one 20 ms tick, the top one about 2.5 s. */
const BYTES_PER_SECOND = 64 * 1024;
const TOP_LAYER_BYTES = 160 * 1024;

let registry: FakeRegistry;
let image: BuiltImage;
let tmp: string;
/** One slow pull, observed by both tests. */
let pulled: { observed: Observed; dest: string };

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'dray-pipeline-'));
  image = buildImage({
    layers: [
      await buildLayer([
        { type: 'dir', path: 'etc' },
        { type: 'file', path: 'etc/base', content: 'layer 0\n' },
      ]),
      await buildLayer([{ type: 'file', path: 'etc/middle', content: 'layer 1\n' }]),
      await randomLayer(TOP_LAYER_BYTES, 'top'),
    ],
  });
  registry = await FakeRegistry.start({ faults: { bytesPerSecond: BYTES_PER_SECOND } });
  registry.seed('pipe/app', image, 'v1');
  pulled = await pullRootfs('run');
});

afterAll(async () => {
  await registry?.close();
  await rm(tmp, { recursive: true, force: true });
});

interface Observed {
  readonly events: PullEvent[];
  /** Bytes of the top layer the registry had sent when the base layer's export.layer arrived. */
  topBytesSentAtBaseExport: number | undefined;
}

async function pullRootfs(name: string): Promise<{ observed: Observed; dest: string }> {
  const dest = join(tmp, `${name}-rootfs`);
  const top = image.layers[2]!.digest;
  const observed: Observed = { events: [], topBytesSentAtBaseExport: undefined };
  const result = await pull([`${registry.host}/pipe/app:v1`], {
    cacheDir: join(tmp, `${name}-cache`),
    platform: 'linux/amd64',
    output: { format: 'rootfs', dest },
    transfer: { concurrency: 4 },
    isRoot: false,
    onEvent: (e) => {
      observed.events.push(e);
      if (e.type === 'export.layer' && e.digest === image.layers[0]!.digest && observed.topBytesSentAtBaseExport === undefined) {
        observed.topBytesSentAtBaseExport = registry.blobGets(top).reduce((n, r) => n + r.bytesSent, 0);
      }
    },
  });
  expect(result.ok, JSON.stringify(result.images[0]?.error)).toBe(true);
  return { observed, dest };
}

describe('rootfs export pipelined with the downloads', () => {
  it('applies the base layer (export.layer order 1) before the top layer finishes downloading (its blob.done)', async () => {
    const { observed, dest } = pulled;
    const { events } = observed;
    const top = image.layers[2]!.digest;
    const baseExport = events.findIndex((e) => e.type === 'export.layer' && e.order === 1 && e.digest === image.layers[0]!.digest);
    const topDone = events.findIndex((e) => e.type === 'blob.done' && e.digest === top);
    const topStarted = events.findIndex((e) => e.type === 'blob.started' && e.digest === top);
    expect(baseExport).toBeGreaterThanOrEqual(0);
    expect(topDone).toBeGreaterThanOrEqual(0);
    expect(topStarted).toBeGreaterThanOrEqual(0);
    // the top layer was already downloading, and was not finished, when layer 0 was applied
    expect(topStarted).toBeLessThan(baseExport);
    expect(baseExport).toBeLessThan(topDone);
    // and the wire agrees: the registry had not yet sent the whole top layer at that moment
    expect(observed.topBytesSentAtBaseExport).toBeLessThan(image.layers[2]!.size);
    // progress of the top layer kept arriving after layer 0 was applied
    const progressAfter = events.slice(baseExport).filter((e) => e.type === 'blob.progress' && e.digest === top);
    expect(progressAfter.length).toBeGreaterThan(0);

    // layers are exported in manifest order, each after its own blob.done
    const exportOrder = events.flatMap((e) => (e.type === 'export.layer' && e.order >= 1 ? [e.order] : []));
    expect(exportOrder).toEqual([1, 2, 3]);
    for (const [i, layer] of image.layers.entries()) {
      const done = events.findIndex((e) => e.type === 'blob.done' && e.digest === layer.digest);
      const exported = events.findIndex((e) => e.type === 'export.layer' && e.order === i + 1);
      expect(done).toBeLessThan(exported);
    }

    expect(await readFile(join(dest, 'etc/base'), 'utf8')).toBe('layer 0\n');
    expect(await readFile(join(dest, 'etc/middle'), 'utf8')).toBe('layer 1\n');
    expect((await readFile(join(dest, 'random-top.bin'))).byteLength).toBe(TOP_LAYER_BYTES);
  });

  // Regression: the rootfs sink once emitted its own 0-based export.layer beside pull-image's 1-based one.
  it('emits exactly one export.layer per layer, numbered 1… as docs/events.md says', async () => {
    const { observed } = pulled;
    const exports = observed.events.flatMap((e) => (e.type === 'export.layer' ? [[e.order, e.digest]] : []));
    expect(exports).toEqual(image.layers.map((l, i) => [i + 1, l.digest]));
  });
});
