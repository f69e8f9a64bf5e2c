// --pull always|missing|never (issue 4): what each policy asks of the registry, read from its request log.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { pull } from '../../src/pull.js';
import { buildImage, buildLayer } from '../helpers/image-builder.js';
import { startFakeRegistry, type FakeRegistry } from '../helpers/fake-registry.js';
import { tempDir } from '../helpers/cli.js';
import type { PullPolicy } from '../../src/image/cached-manifests.js';

let registry: FakeRegistry;
let cache: { path: string; remove(): Promise<void> };

const imageWith = async (text: string) => buildImage({ layers: [await buildLayer([{ type: 'file', path: 'v', content: text }])] });

beforeAll(async () => {
  registry = await startFakeRegistry();
  registry.seed('app', await imageWith('one'), '1');
});
afterAll(() => registry.close());
beforeEach(async () => {
  cache = await tempDir('dray-policy-');
});
afterEach(() => cache.remove());

async function pullWith(policy: PullPolicy, tag = '1') {
  const before = registry.requests.length;
  const result = await pull([`${registry.host}/app:${tag}`], { cacheDir: cache.path, pullPolicy: policy, platform: 'linux/amd64' });
  const requests = registry.requests.slice(before).map((r) => `${r.method} ${r.path.replace(/sha256:[a-f0-9]{64}/, 'DIGEST')}`);
  return { result, requests };
}

describe('pull policies', () => {
  it('always: a tag never seen costs one manifest GET and no HEAD', async () => {
    const { result, requests } = await pullWith('always');
    expect(result.ok).toBe(true);
    expect(requests.filter((r) => r.startsWith('HEAD'))).toEqual([]);
    expect(requests.filter((r) => r.includes('/manifests/'))).toEqual(['GET /v2/app/manifests/1']);
  });

  it('always: a tag seen before costs exactly one HEAD and nothing else when unchanged', async () => {
    await pullWith('always');
    const { result, requests } = await pullWith('always');
    expect(result.ok).toBe(true);
    expect(requests.filter((r) => r !== 'GET /v2/')).toEqual(['HEAD /v2/app/manifests/1']);
  });

  it('always: a tag that moved is fetched anew after the HEAD', async () => {
    registry.seed('app', await imageWith('one'), 'moving');
    expect((await pullWith('always', 'moving')).result.ok).toBe(true);
    const moved = await imageWith('two');
    registry.seed('app', moved, 'moving');
    const { result, requests } = await pullWith('always', 'moving');
    expect(result.images[0]!.digest).toBe(moved.manifest.digest);
    expect(requests, requests.join(', ')).toContain('HEAD /v2/app/manifests/moving');
    expect(requests).toContain('GET /v2/app/manifests/moving');
  });

  it('missing: a tag already in the cache makes no request at all', async () => {
    await pullWith('always');
    const { result, requests } = await pullWith('missing');
    expect(result.ok).toBe(true);
    expect(requests).toEqual([]);
  });

  it('missing: a tag not in the cache is pulled', async () => {
    const { result, requests } = await pullWith('missing');
    expect(result.ok).toBe(true);
    expect(requests).toContain('GET /v2/app/manifests/1');
  });

  it('never: works from the cache alone with no request', async () => {
    await pullWith('always');
    const { result, requests } = await pullWith('never');
    expect(result.ok).toBe(true);
    expect(requests).toEqual([]);
  });

  it('never: an image not in the cache fails with exit 3 and no request', async () => {
    const { result, requests } = await pullWith('never');
    expect(result.ok).toBe(false);
    expect(result.exitCode).toBe(3);
    expect(result.images[0]!.error?.hint).toMatch(/--pull missing/);
    expect(requests).toEqual([]);
  });
});
