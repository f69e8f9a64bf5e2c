// Every credential source a skopeo or docker user has, through the built CLI against the real
// docker-registry (token auth with a JWT token server; basic auth for --creds), with isolated HOME,
// XDG and DOCKER_CONFIG per run. Secrets are grepped for in every output channel.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildImage, buildLayer, type BuiltImage } from '../helpers/image-builder.js';
import { pushImage } from '../helpers/push.js';
import { startRegistry, type RegistryServer } from '../helpers/registry-server.js';
import { runDray, tempDir, type CliRun } from '../helpers/cli.js';
import { writeTestHelper } from '../component/auth/helper-script.js';

const ALICE_PW = 'alice-Pw-7f3e9c';
const BOB_PW = 'bob-Pw-51aa02';
const WRONG_PW = 'wrong-Pw-c0ffee';
const REFRESH = 'refresh-alice-9d1b44';
const BASIC_PW = 'basic-Pw-88e1d0';
const b64 = (s: string): string => Buffer.from(s).toString('base64');

let token: RegistryServer;
let anon: RegistryServer;
let basic: RegistryServer;
let image: BuiltImage;
let work: { path: string; remove(): Promise<void> };
let home: string;
let env: Record<string, string | undefined>;
let runs = 0;

beforeAll(async () => {
  work = await tempDir('dray-creds-e2e-');
  [token, anon, basic] = await Promise.all([
    startRegistry({ auth: { kind: 'token', users: { alice: ALICE_PW, bob: BOB_PW }, refreshTokens: { [REFRESH]: 'alice' } } }),
    startRegistry({ auth: { kind: 'token', users: { alice: ALICE_PW }, anonymousPull: true } }),
    startRegistry({ auth: { kind: 'basic', users: { alice: BASIC_PW } } }),
  ]);
  image = buildImage({ layers: [await buildLayer([{ type: 'file', path: 'hello.txt', content: 'hi\n' }])], platform: { os: 'linux', architecture: 'amd64' } });
  await Promise.all([
    pushImage(token.url, 'private/app', image, { tag: '1.0', auth: { username: 'alice', password: ALICE_PW } }),
    pushImage(anon.url, 'public/app', image, { tag: '1.0', auth: { username: 'alice', password: ALICE_PW } }),
    pushImage(basic.url, 'private/app', image, { tag: '1.0', auth: { username: 'alice', password: BASIC_PW } }),
  ]);
});

afterAll(async () => {
  await Promise.all([token?.stop(), anon?.stop(), basic?.stop()]);
  await work?.remove();
});

beforeEach(async () => {
  runs += 1;
  home = join(work.path, `home-${runs}`);
  await mkdir(join(home, 'run'), { recursive: true });
  await mkdir(join(home, 'bin'));
  // Nothing of the real user's credentials may leak in: every location is inside this test's HOME.
  env = { HOME: home, XDG_RUNTIME_DIR: join(home, 'run'), XDG_CONFIG_HOME: undefined, DOCKER_CONFIG: undefined, REGISTRY_AUTH_FILE: undefined, DOCKER_AUTH_CONFIG: undefined };
});

function pull(registry: RegistryServer, args: readonly string[] = [], input?: string, repo = 'private/app'): Promise<CliRun> {
  return runDray(['pull', `${registry.host}/${repo}:1.0`, '--cache', join(home, 'cache'), '--progress', 'none', ...args], { env, ...(input !== undefined ? { input } : {}) });
}

async function authFile(rel: string, json: unknown): Promise<string> {
  const path = join(home, rel);
  await mkdir(join(path, '..'), { recursive: true });
  await writeFile(path, JSON.stringify(json));
  return path;
}

const authsFor = (host: string, entry: unknown) => ({ auths: { [host]: entry } });
const aliceAuth = () => authsFor(token.host, { auth: b64(`alice:${ALICE_PW}`) });
const bobWrong = () => authsFor(token.host, { auth: b64(`bob:${WRONG_PW}`) });

/** The users the token server granted tokens to since `from`. */
const grantedUsers = (from: number): (string | undefined)[] => token.tokenServer!.requests.slice(from).filter((r) => r.status === 200).map((r) => r.user);

function expectOk(run: CliRun): void {
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  expect(run.stdout.trim()).toMatch(new RegExp(`/private/app:1\\.0@${image.manifest.digest}$`));
}

describe('each credential source pulls from a token-auth registry', () => {
  it('--creds user:password', async () => {
    const from = token.tokenServer!.requests.length;
    expectOk(await pull(token, ['--creds', `alice:${ALICE_PW}`]));
    expect(grantedUsers(from)).toContain('alice');
  });

  it('--creds user with --password-stdin (one trailing newline dropped)', async () => {
    expectOk(await pull(token, ['--creds', 'alice', '--password-stdin'], `${ALICE_PW}\n`));
  });

  it('--creds user alone is a usage error, never a prompt', async () => {
    const run = await pull(token, ['--creds', 'alice']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/error\[ERR_USAGE\].*no password/);
  });

  it('--authfile', async () => {
    const path = await authFile('elsewhere/auth.json', aliceAuth());
    expectOk(await pull(token, ['--authfile', path]));
  });

  it('REGISTRY_AUTH_FILE', async () => {
    env.REGISTRY_AUTH_FILE = await authFile('env-auth.json', aliceAuth());
    expectOk(await pull(token));
  });

  it('$XDG_RUNTIME_DIR/containers/auth.json', async () => {
    await authFile('run/containers/auth.json', aliceAuth());
    expectOk(await pull(token));
  });

  it('~/.config/containers/auth.json, with a namespace key', async () => {
    await authFile('.config/containers/auth.json', authsFor(`${token.host}/private`, { auth: b64(`alice:${ALICE_PW}`) }));
    expectOk(await pull(token));
  });

  it('DOCKER_CONFIG config.json auths with "auth"', async () => {
    env.DOCKER_CONFIG = join(home, 'dc');
    await authFile('dc/config.json', aliceAuth());
    expectOk(await pull(token));
  });

  it('~/.docker/config.json auths with username/password', async () => {
    await authFile('.docker/config.json', authsFor(token.host, { username: 'alice', password: ALICE_PW }));
    expectOk(await pull(token));
  });

  it('identitytoken through the OAuth2 POST refresh_token flow', async () => {
    const from = token.tokenServer!.requests.length;
    await authFile('.docker/config.json', authsFor(token.host, { identitytoken: REFRESH }));
    expectOk(await pull(token));
    const posts = token.tokenServer!.requests.slice(from).filter((r) => r.method === 'POST');
    expect(posts.length).toBeGreaterThan(0);
    expect(posts.every((r) => r.grant === 'refresh_token' && r.status === 200 && r.user === 'alice')).toBe(true);
  });

  it('credHelpers runs docker-credential-NAME get with the registry host on stdin', async () => {
    const helper = await writeTestHelper(join(home, 'bin'), 'test', { [token.host]: { Username: 'alice', Secret: ALICE_PW } });
    env.PATH = `${helper.dir}:${process.env.PATH ?? ''}`;
    await authFile('.docker/config.json', { auths: { [token.host]: {} }, credHelpers: { [token.host]: 'test' } });
    expectOk(await pull(token));
    expect(await helper.calls()).toEqual([`get ${token.host}`]);
  });

  it('a helper sees the environment dray was started with, not what bin/dray.js set up for node', async () => {
    const names = ['NODE_EXTRA_CA_CERTS', 'GLIBC_TUNABLES', 'DRAY_NODE_EXTRA_CA_CERTS', 'DRAY_GLIBC_TUNABLES'];
    const helper = await writeTestHelper(join(home, 'bin'), 'envlog', { [token.host]: { Username: 'alice', Secret: ALICE_PW } }, { logEnv: names });
    await authFile('.docker/config.json', { auths: { [token.host]: {} }, credHelpers: { [token.host]: 'envlog' } });
    const ca = join(home, 'extra-ca.pem');
    await writeFile(ca, '');
    const run = await runDray(['pull', `${token.host}/private/app:1.0`, '--cache', join(home, 'cache-env'), '--progress', 'none'], {
      env: { ...env, PATH: `${helper.dir}:${process.env.PATH ?? ''}`, NODE_EXTRA_CA_CERTS: ca, GLIBC_TUNABLES: undefined },
      direct: true,
    });
    expectOk(run);
    expect(await helper.calls()).toEqual([`get ${token.host}`, `env NODE_EXTRA_CA_CERTS=${ca}`, 'env GLIBC_TUNABLES unset', 'env DRAY_NODE_EXTRA_CA_CERTS unset', 'env DRAY_GLIBC_TUNABLES unset']);
  });

  it('credsStore answers known hosts; "credentials not found" means anonymous', async () => {
    const helper = await writeTestHelper(join(home, 'bin'), 'test', { [token.host]: { Username: 'alice', Secret: ALICE_PW } });
    env.PATH = `${helper.dir}:${process.env.PATH ?? ''}`;
    await authFile('.docker/config.json', { credsStore: 'test' });
    expectOk(await pull(token));
    const from = anon.tokenServer!.requests.length;
    const run = await pull(anon, [], undefined, 'public/app');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(await helper.calls()).toEqual([`get ${token.host}`, `get ${anon.host}`]);
    expect(anon.tokenServer!.requests.slice(from).every((r) => !r.authorization)).toBe(true);
  });
});

describe('precedence', () => {
  it('--creds beats --authfile, which beats REGISTRY_AUTH_FILE and the default files', async () => {
    const from = token.tokenServer!.requests.length;
    const file = await authFile('a.json', bobWrong());
    env.REGISTRY_AUTH_FILE = await authFile('r.json', bobWrong());
    expectOk(await pull(token, ['--creds', `alice:${ALICE_PW}`, '--authfile', file]));
    expect(grantedUsers(from)).toEqual(expect.arrayContaining(['alice']));
    expectOk(await pull(token, ['--authfile', await authFile('good.json', aliceAuth())]));
  });

  it('XDG_RUNTIME_DIR auth.json beats ~/.config auth.json, which beats docker config.json', async () => {
    await authFile('run/containers/auth.json', aliceAuth());
    await authFile('.config/containers/auth.json', bobWrong());
    await authFile('.docker/config.json', bobWrong());
    expectOk(await pull(token));
  });

  it('a higher source with wrong credentials is used, not skipped: exit 4 naming it', async () => {
    const wrong = await authFile('.config/containers/auth.json', bobWrong());
    await authFile('.docker/config.json', aliceAuth());
    const run = await pull(token);
    expect(run.code).toBe(4);
    expect(run.stderr).toContain(wrong);
  });
});

describe('refused and missing credentials', () => {
  it('exit 4 names the source and no channel shows the secret (stderr, stdout, json events, --debug)', async () => {
    const dockerConfig = await authFile('.docker/config.json', authsFor(token.host, { username: 'bob', password: WRONG_PW }));
    const runs = [
      await pull(token, ['--creds', `bob:${WRONG_PW}`, '--debug']),
      await pull(token, ['--creds', 'bob', '--password-stdin', '--progress', 'json'], WRONG_PW),
      await pull(token, ['--debug', '--progress', 'json']),
    ];
    for (const run of runs) {
      expect(run.code).toBe(4);
      expect(run.stderr).toMatch(/error\[ERR_AUTH\]/);
      expect(run.stdout + run.stderr).not.toContain(WRONG_PW);
      expect(run.stdout + run.stderr).not.toContain(b64(`bob:${WRONG_PW}`));
    }
    expect(runs[0]!.stderr).toContain('credentials from --creds were refused');
    expect(runs[1]!.stderr).toContain('--creds with --password-stdin');
    expect(runs[1]!.stderr).toMatch(/"type":"run\.done"/);
    expect(runs[2]!.stderr).toContain(`credentials from ${dockerConfig} were refused`);
  });

  it('a wrong identitytoken exits 4 without printing it', async () => {
    await authFile('.docker/config.json', authsFor(token.host, { identitytoken: 'refresh-wrong-5e5e' }));
    const run = await pull(token, ['--debug', '--progress', 'json']);
    expect(run.code).toBe(4);
    expect(run.stdout + run.stderr).not.toContain('refresh-wrong-5e5e');
  });

  it('no credentials anywhere: exit 4 listing where it looked', async () => {
    const run = await pull(token);
    expect(run.code).toBe(4);
    expect(run.stderr).toContain('no credentials were found');
    expect(run.stderr).toContain(join(home, '.docker', 'config.json'));
    expect(run.stderr).toContain(join(home, 'run', 'containers', 'auth.json'));
  });

  it('a failing credential helper exits 4 without repeating its output', async () => {
    const helper = await writeTestHelper(join(home, 'bin'), 'leaky', {}, { fail: { code: 2, output: `secret=${ALICE_PW}` } });
    env.PATH = `${helper.dir}:${process.env.PATH ?? ''}`;
    await authFile('.docker/config.json', { credsStore: 'leaky' });
    const run = await pull(token, ['--debug']);
    expect(run.code).toBe(4);
    expect(run.stderr).toMatch(/error\[ERR_CREDENTIALS\].*docker-credential-leaky/);
    expect(run.stdout + run.stderr).not.toContain(ALICE_PW);
  });
});

describe('basic-auth registry', () => {
  it('--creds pulls; wrong --creds exits 4 without the password', async () => {
    const ok = await pull(basic, ['--creds', `alice:${BASIC_PW}`]);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    const bad = await pull(basic, ['--creds', `alice:${WRONG_PW}`, '--debug']);
    expect(bad.code).toBe(4);
    expect(bad.stderr).toContain('--creds');
    expect(bad.stdout + bad.stderr).not.toContain(WRONG_PW);
  });

  it('--authfile works for Basic challenges too', async () => {
    const path = await authFile('basic.json', authsFor(basic.host, { auth: b64(`alice:${BASIC_PW}`) }));
    const run = await pull(basic, ['--authfile', path]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
  });
});
