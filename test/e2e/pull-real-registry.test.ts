// The built CLI against Debian's real docker-registry: outputs read back by skopeo and umoci, every
// blob's digest checked, a second pull served from the cache, and the documented exit codes.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildImage, buildIndex, buildLayer, randomLayer, type BuiltImage } from '../helpers/image-builder.js';
import { pushImage, pushIndex } from '../helpers/push.js';
import { startRegistry, type RegistryServer } from '../helpers/registry-server.js';
import { runDray, tempDir } from '../helpers/cli.js';

const exec = promisify(execFile);

let registry: RegistryServer;
let authRegistry: RegistryServer;
let image: BuiltImage;
let armImage: BuiltImage;
let work: { path: string; remove(): Promise<void> };

async function layersOf(seed: string): Promise<BuiltImage> {
  return buildImage({
    layers: [
      await buildLayer([
        { type: 'dir', path: 'etc' },
        { type: 'file', path: 'etc/os-release', content: `ID=dray-${seed}\n` },
      ]),
      await randomLayer(300_000, `${seed}-1`),
      await buildLayer([{ type: 'file', path: 'app/run.sh', content: '#!/bin/sh\necho hi\n', mode: 0o755 }]),
    ],
    platform: seed === 'arm' ? { os: 'linux', architecture: 'arm64', variant: 'v8' } : { os: 'linux', architecture: 'amd64' },
  });
}

function blobGetsIn(logs: string, repo: string): number {
  return logs.split('\n').filter((l) => l.includes(`"GET /v2/${repo}/blobs/`)).length;
}

async function sha256File(path: string): Promise<string> {
  return `sha256:${createHash('sha256').update(await readFile(path)).digest('hex')}`;
}

beforeAll(async () => {
  work = await tempDir();
  [registry, authRegistry] = await Promise.all([
    startRegistry(),
    startRegistry({ auth: { kind: 'basic', users: { alice: 's3cret-pw' } } }),
  ]);
  image = await layersOf('amd');
  armImage = await layersOf('arm');
  await pushImage(registry.url, 'e2e/app', image, { tag: '1.0' });
  await pushIndex(registry.url, 'e2e/multi', buildIndex([image, armImage]), { tag: 'latest' });
  await pushImage(authRegistry.url, 'private/app', image, { tag: '1.0', auth: { username: 'alice', password: 's3cret-pw' } });
});

afterAll(async () => {
  await Promise.all([registry?.stop(), authRegistry?.stop()]);
  await work?.remove();
});

describe('dray pull against a real registry', () => {
  it('writes an OCI layout that skopeo and umoci read, with every blob matching its digest', async () => {
    const cache = join(work.path, 'cache-oci');
    const out = join(work.path, 'layout');
    const ref = `${registry.host}/e2e/app:1.0`;
    const run = await runDray(['pull', ref, '-o', out, '--cache', cache, '--platform', 'linux/amd64']);
    expect(run.stderr).not.toMatch(/error\[/);
    expect(run.code).toBe(0);
    expect(run.stdout.trim()).toBe(`${ref}@${image.manifest.digest}`);

    const inspected = JSON.parse((await exec('skopeo', ['inspect', `oci:${out}`])).stdout) as { Digest: string; Layers: string[] };
    expect(inspected.Digest).toBe(image.manifest.digest);
    expect(inspected.Layers).toEqual(image.layers.map((l) => l.digest));
    for (const name of await readdir(join(out, 'blobs', 'sha256'))) {
      expect(await sha256File(join(out, 'blobs', 'sha256', name))).toBe(`sha256:${name}`);
    }
    const tags = (await exec('umoci', ['ls', '--layout', out])).stdout.trim().split('\n');
    expect(tags).toContain('1.0');
    const bundle = join(work.path, 'bundle');
    await exec('umoci', ['unpack', '--image', `${out}:1.0`, bundle]);
    expect(await readFile(join(bundle, 'rootfs', 'etc', 'os-release'), 'utf8')).toBe('ID=dray-amd\n');
  });

  it('writes a docker-archive (for *.tar) that skopeo reads and copies out', async () => {
    const cache = join(work.path, 'cache-archive');
    const out = join(work.path, 'app.tar');
    const run = await runDray(['pull', `${registry.host}/e2e/app:1.0`, '-o', out, '--cache', cache, '--progress', 'none']);
    expect(run.code).toBe(0);
    // skopeo names a docker-archive's layers by diff_id (the uncompressed digest), as docker load does
    const inspected = JSON.parse((await exec('skopeo', ['inspect', `docker-archive:${out}`])).stdout) as { Layers: string[] };
    expect(inspected.Layers).toEqual(image.layers.map((l) => l.diffId));
    const copy = join(work.path, 'copied');
    await exec('skopeo', ['copy', `docker-archive:${out}`, `oci:${copy}:x`]);
    const index = JSON.parse(await readFile(join(copy, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    expect(index.manifests).toHaveLength(1);
  });

  it('makes zero blob requests when the same image is pulled again into the same cache', async () => {
    const cache = join(work.path, 'cache-again');
    const ref = `${registry.host}/e2e/app:1.0`;
    expect((await runDray(['pull', ref, '--cache', cache])).code).toBe(0);
    const before = blobGetsIn(registry.logs(), 'e2e/app');
    const again = await runDray(['pull', ref, '--cache', cache, '-o', join(work.path, 'again')]);
    expect(again.code).toBe(0);
    expect(blobGetsIn(registry.logs(), 'e2e/app')).toBe(before);
    expect((await stat(join(work.path, 'again', 'index.json'))).isFile()).toBe(true);
  });

  it('picks the requested platform from an index, and linux/arm64 matches linux/arm64/v8', async () => {
    const run = await runDray(['pull', `${registry.host}/e2e/multi`, '--platform', 'linux/arm64', '--cache', join(work.path, 'cache-arm'), '--json']);
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout) as { images: { manifestDigest: string; platform: string }[] };
    expect(result.images[0]!.manifestDigest).toBe(armImage.manifest.digest);
    expect(result.images[0]!.platform).toBe('linux/arm64/v8');
  });

  it('pulls name:tag@digest by digest', async () => {
    const ref = `${registry.host}/e2e/app:ignored-tag@${image.manifest.digest}`;
    const run = await runDray(['pull', ref, '--cache', join(work.path, 'cache-digest')]);
    expect(run.code).toBe(0);
    expect(run.stdout.trim()).toBe(`${ref}`);
  });

  it('pulls from a registry with basic auth given --creds', async () => {
    const run = await runDray(['pull', `${authRegistry.host}/private/app:1.0`, '--creds', 'alice:s3cret-pw', '--cache', join(work.path, 'cache-auth')]);
    expect(run.stderr).not.toMatch(/error\[/);
    expect(run.code).toBe(0);
  });
});

describe('dray pull exit codes', () => {
  it('exits 3 for an unknown tag, naming it', async () => {
    const run = await runDray(['pull', `${registry.host}/e2e/app:nope`, '--cache', join(work.path, 'c3')]);
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(/error\[ERR_NOT_FOUND\]/);
    expect(run.stderr).toContain('nope');
    expect(run.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('exits 3 when no manifest matches the platform, listing the available ones', async () => {
    const run = await runDray(['pull', `${registry.host}/e2e/multi`, '--platform', 'linux/s390x', '--cache', join(work.path, 'c3p')]);
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(/ERR_PLATFORM_NOT_FOUND/);
    expect(run.stderr).toContain('linux/arm64');
    expect(run.stderr).toContain('linux/amd64');
  });

  it('exits 2 for a malformed reference, saying why', async () => {
    const run = await runDray(['pull', 'Not/Valid:!!', '--cache', join(work.path, 'c2')]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/error\[ERR_USAGE\]/);
  });

  it('exits 2 for an unknown flag', async () => {
    const run = await runDray(['pull', '--no-such-flag', 'alpine']);
    expect(run.code).toBe(2);
  });

  it('exits 4 when the registry refuses the credentials, without printing the password', async () => {
    const run = await runDray(['pull', `${authRegistry.host}/private/app:1.0`, '--creds', 'alice:wrong-pw', '--cache', join(work.path, 'c4')]);
    expect(run.code).toBe(4);
    expect(run.stderr).toMatch(/error\[ERR_AUTH\]/);
    expect(run.stderr).toContain('--creds');
    expect(run.stderr).not.toContain('wrong-pw');
  });

  it('exits 4 when credentials are missing for a private registry', async () => {
    const run = await runDray(['pull', `${authRegistry.host}/private/app:1.0`, '--cache', join(work.path, 'c4b')], { env: { DOCKER_CONFIG: join(work.path, 'no-docker-config') } });
    expect(run.code).toBe(4);
  });

  it('exits 5 when the registry cannot be reached', async () => {
    const run = await runDray(['pull', '127.0.0.1:9/x/y:1', '--cache', join(work.path, 'c5'), '--retries', '1']);
    expect(run.code).toBe(5);
    expect(run.stderr).toMatch(/error\[ERR_(NETWORK|RETRIES_EXHAUSTED)\]/);
  });

  it('prints help and exits 0', async () => {
    const run = await runDray(['pull', '--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('--output');
  });
});

describe('the launcher (bin/dray.js)', () => {
  const dist = join(import.meta.dirname, '../../dist');

  it('writes a V8 code cache beside the bundle after a pull, one that V8 accepts under the launcher flags', async () => {
    const cache = join(dist, 'dray.cjs.v8-cache');
    await rm(cache, { force: true });
    const run = await runDray(['pull', `${registry.host}/e2e/app:1.0`, '-o', join(work.path, 'cc-oci'), '--cache', join(work.path, 'cc-cache')]);
    expect(run.code).toBe(0);
    expect((await stat(cache)).size).toBeGreaterThan(100_000);
    // Loaded as the launcher loads it: a cache made under other V8 flags would be rejected here.
    const probe = [
      "import { setFlagsFromString } from 'node:v8';",
      "import { readFileSync } from 'node:fs';",
      `import { loadBundle } from ${JSON.stringify(join(dist, 'cli', 'code-cache.js'))};`,
      `import { LAUNCH_V8_FLAGS } from ${JSON.stringify(join(dist, 'cli', 'launch.js'))};`,
      'setFlagsFromString(LAUNCH_V8_FLAGS);',
      `const file = ${JSON.stringify(join(dist, 'dray.cjs'))};`,
      "console.log(loadBundle(file, readFileSync(file, 'utf8'), file + '.v8-cache').cache);",
    ].join('\n');
    const { stdout } = await exec(process.execPath, ['--input-type=module', '-e', probe]);
    expect(stdout.trim()).toBe('used');
  });

  it('names the missing bundle in one line and exits 1 when the install is broken', async () => {
    const script = `require(${JSON.stringify(join(dist, 'launch.cjs'))}).launch('/nonexistent/dray.cjs', process.argv)`;
    const failed = await exec(process.execPath, ['-e', script]).catch((err: { code: number; stderr: string }) => err);
    expect('code' in failed ? failed.code : 0).toBe(1);
    expect(failed.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^dray: cannot load \/nonexistent\/dray\.cjs: ENOENT.*npm run build\)$/)]);
  });
});
