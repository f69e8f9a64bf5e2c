// Docker Hub-style quotas against the fake registry (429 with Retry-After and RateLimit headers): a wait
// past --max-wait stops the run at once with the reset time and advice; a short one is waited out. And a
// storage origin behind a redirect, reached through a mirror with credentials, never sees Authorization.
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { pull } from '../../../src/pull.js';
import { tempDir } from '../../helpers/cli.js';
import { startFakeRegistry, type FakeRegistry } from '../../helpers/fake-registry.js';
import { buildImage, buildLayer, type BuiltImage } from '../../helpers/image-builder.js';

const QUOTA = { 'ratelimit-limit': '100;w=21600', 'ratelimit-remaining': '0;w=21600', 'docker-ratelimit-source': '192.0.2.1' };
let work: { path: string; remove(): Promise<void> };
let registry: FakeRegistry;
let image: BuiltImage;
let n = 0;

beforeAll(async () => {
  work = await tempDir('dray-limits-');
  registry = await startFakeRegistry();
  image = buildImage({ layers: [await buildLayer([{ type: 'file', path: 'q.txt', content: 'quota\n' }])] });
  registry.seed('hub/app', image, '1');
});

beforeEach(() => {
  registry.faults = {};
  registry.requests.length = 0;
});

afterAll(async () => {
  await registry?.close();
  await work?.remove();
});

function pullApp(maxWaitMs = 60_000, host = registry.host, extra: Partial<Parameters<typeof pull>[1]> = {}) {
  return pull([`${host}/hub/app:1`], { cacheDir: join(work.path, `cache-${++n}`), network: { maxWaitMs }, ...extra });
}

describe('rate limits', () => {
  it('stops at once when Retry-After exceeds --max-wait, naming the reset time, the quota and the way out', async () => {
    registry.faults = { status: { status: 429, path: /\/manifests\//, times: Infinity, retryAfter: 3600, headers: QUOTA } };
    const started = Date.now();
    const result = await pullApp();
    expect(Date.now() - started).toBeLessThan(5_000); // no hour-long (or even one-second) sleep
    const error = result.images[0]!.error!;
    expect(result.exitCode).toBe(5);
    expect(error.code).toBe('ERR_RATE_LIMITED');
    expect(error.message).toMatch(/rate limit reached \(100 pulls per 6h\); it resets at \d{4}-\d\d-\d\dT[\d:.]+Z \(in 1h\), longer than --max-wait 1m/);
    expect(error.hint).toMatch(/log in .*--mirror/);
    // HEAD (whose failure the manifest cache tolerates) then GET: not retried
    expect(registry.requests.filter((r) => r.path.includes('/manifests/')).length).toBeLessThanOrEqual(2);
  });

  it('without Retry-After, a spent quota stops with "resets within" the window', async () => {
    registry.faults = { status: { status: 429, path: /\/manifests\//, times: Infinity, headers: QUOTA } };
    const result = await pullApp();
    expect(result.images[0]!.error!.message).toContain('resets within 6h');
  });

  it('stops blob downloads too, without the transfer engine retrying them', async () => {
    registry.faults = { status: { status: 429, path: /\/blobs\//, times: Infinity, retryAfter: 600, headers: QUOTA } };
    const result = await pullApp(30_000);
    expect(result.images[0]!.error!.code).toBe('ERR_RATE_LIMITED');
    expect(result.images[0]!.error!.message).toContain('longer than --max-wait 30s');
    const blobGets = registry.requests.filter((r) => r.path.includes('/blobs/'));
    expect(new Set(blobGets.map((r) => r.path)).size).toBe(blobGets.length); // each blob asked once
  });

  it('waits out a 429 within --max-wait and succeeds', async () => {
    registry.faults = { status: { status: 429, path: /\/manifests\//, method: 'GET', times: 1, retryAfter: 1, headers: { ...QUOTA, 'ratelimit-remaining': '3;w=21600' } } };
    const result = await pullApp();
    expect(result.images[0]!.error).toBeUndefined();
    expect(result.ok).toBe(true);
  });
});

describe('redirects to storage', () => {
  it('never sends Authorization to the storage origin, pulling through an authenticated mirror', async () => {
    const authed = await startFakeRegistry({ auth: { kind: 'basic', users: { alice: 'pw' } }, faults: { redirectBlobs: 'cross-origin', storageRejectsAuthorization: true } });
    try {
      authed.seed('hub/app', image, '1');
      const result = await pullApp(60_000, registry.host, { network: { mirrors: [`${registry.host}=${authed.host}`] }, creds: 'alice:pw' });
      expect(result.images[0]!.error).toBeUndefined();
      const storage = authed.requests.filter((r) => r.server === 'storage');
      expect(storage.length).toBe(image.layers.length + 1);
      expect(authed.storageSawAuthorization).toBe(false);
      expect(authed.requests.some((r) => r.server === 'registry' && r.authorization)).toBe(true); // the mirror itself got them
      expect(registry.requests.filter((r) => r.path.includes('/blobs/'))).toEqual([]);
    } finally {
      await authed.close();
    }
  });
});
