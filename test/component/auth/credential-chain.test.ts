// The credential chain over real files and real helper processes (shell scripts on a temp PATH).
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createCredentialChain } from '../../../src/auth/credential-chain.js';
import { runCredentialHelper } from '../../../src/auth/cred-helper.js';
import { CredentialsError, ExitCode } from '../../../src/errors.js';
import { writeTestHelper } from './helper-script.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');
let dir: string;
let bin: string;
let env: Record<string, string | undefined>;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dray-creds-'));
  bin = join(dir, 'bin');
  await mkdir(bin);
  env = { PATH: `${bin}:/usr/bin:/bin` };
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function file(name: string, json: unknown): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, JSON.stringify(json));
  return path;
}

describe('createCredentialChain', () => {
  it('gives --creds to every registry, before any file', async () => {
    const f = await file('a.json', { auths: { 'r.io': { auth: b64('file:pw') } } });
    const lookup = createCredentialChain({ flag: { username: 'flag', password: 'pw', source: '--creds' }, files: [f] });
    expect(await lookup('r.io', 'x/y')).toEqual({ username: 'flag', password: 'pw', source: '--creds' });
  });

  it('takes the first file with an answer and skips missing files and files without the registry', async () => {
    const missing = join(dir, 'missing.json');
    const other = await file('other.json', { auths: { 'other.io': { auth: b64('o:1') } } });
    const lower = await file('lower.json', { auths: { 'r.io': { auth: b64('lower:2') } } });
    const lowest = await file('lowest.json', { auths: { 'r.io': { auth: b64('lowest:3') } } });
    const lookup = createCredentialChain({ files: [missing, other, lower, lowest] });
    expect(await lookup('r.io', 'x/y')).toEqual({ username: 'lower', password: '2', source: lower });
    expect(lookup.searched).toEqual([missing, other, lower, lowest]);
  });

  it('matches auth.json namespace keys most specific first', async () => {
    const f = await file('auth.json', { auths: { 'reg.local:5000/team': { auth: b64('team:1') }, 'reg.local:5000': { auth: b64('host:2') } } });
    const lookup = createCredentialChain({ files: [f] });
    expect((await lookup('reg.local:5000', 'team/app'))?.username).toBe('team');
    expect((await lookup('reg.local:5000', 'solo/app'))?.username).toBe('host');
  });

  it('asks credHelpers before auths, once per server, with the host on stdin', async () => {
    const helper = await writeTestHelper(bin, 'test', { 'r.io': { Username: 'helped', Secret: 'hs' } });
    const f = await file('config.json', { auths: { 'r.io': { auth: b64('plain:pw') } }, credHelpers: { 'r.io': 'test' } });
    const lookup = createCredentialChain({ files: [f], helperEnv: env });
    expect(await lookup('r.io', 'a/b')).toEqual({ username: 'helped', password: 'hs', source: `docker-credential-test (credHelpers in ${f})` });
    await lookup('r.io', 'c/d');
    expect(await helper.calls()).toEqual(['get r.io']);
  });

  it('falls through to auths when the helper says "credentials not found"', async () => {
    const helper = await writeTestHelper(bin, 'test', {});
    const f = await file('config.json', { auths: { 'r.io': { auth: b64('plain:pw') } }, credsStore: 'test' });
    const lookup = createCredentialChain({ files: [f], helperEnv: env });
    expect((await lookup('r.io'))?.username).toBe('plain');
    expect(await lookup('none.io')).toBeUndefined();
    expect(await helper.calls()).toEqual(['get r.io', 'get none.io']);
  });

  it('asks credsStore about Docker Hub by docker\'s index key, and reads "<token>" as an identity token', async () => {
    const helper = await writeTestHelper(bin, 'test', { 'https://index.docker.io/v1/': { Username: '<token>', Secret: 'refresh-1' } });
    const f = await file('config.json', { credsStore: 'test' });
    const lookup = createCredentialChain({ files: [f], helperEnv: env });
    expect(await lookup('registry-1.docker.io', 'library/alpine')).toEqual({ identityToken: 'refresh-1', source: `docker-credential-test (credsStore in ${f})` });
    expect(await helper.calls()).toEqual(['get https://index.docker.io/v1/']);
  });

  it('skips a helper that is not on PATH and names it in `searched`', async () => {
    const f = await file('config.json', { credsStore: 'absent' });
    const lookup = createCredentialChain({ files: [f], helperEnv: env });
    expect(await lookup('r.io')).toBeUndefined();
    expect(lookup.searched).toEqual([f, `docker-credential-absent (credsStore in ${f}) is not on PATH`]);
  });
});

describe('runCredentialHelper', () => {
  it('fails with exit code 4 and never repeats what a failing helper printed', async () => {
    await writeTestHelper(bin, 'leaky', {}, { fail: { code: 3, output: 'token=SUPERSECRET-123' } });
    const run = runCredentialHelper('leaky', 'r.io', { configuredIn: 'credsStore in x', env });
    await expect(run).rejects.toThrow(CredentialsError);
    const err = (await run.catch((e: unknown) => e)) as CredentialsError;
    expect(err.exitCode).toBe(ExitCode.Auth);
    expect(err.message).toContain('docker-credential-leaky');
    expect(err.message).toContain('exit status 3');
    expect(`${err.message} ${err.hint} ${String(err.cause)}`).not.toContain('SUPERSECRET');
  });

  it('gives up on a helper that does not answer within the timeout', async () => {
    await writeTestHelper(bin, 'slow', { 'r.io': { Username: 'u', Secret: 's' } }, { sleepS: 3 });
    const started = performance.now();
    await expect(runCredentialHelper('slow', 'r.io', { configuredIn: 'x', env, timeoutMs: 300 })).rejects.toThrow(/did not answer within/);
    expect(performance.now() - started).toBeLessThan(5000);
  });

  it('passes the environment through (the helper is found only on the given PATH)', async () => {
    await writeTestHelper(bin, 'onpath', { 'r.io': { Username: 'u', Secret: 's' } });
    expect(await runCredentialHelper('onpath', 'r.io', { configuredIn: 'x', env })).toMatchObject({ username: 'u' });
    await expect(runCredentialHelper('onpath', 'r.io', { configuredIn: 'x', env: { PATH: '/usr/bin:/bin' } })).rejects.toThrow(/not on PATH/);
  });

  it('refuses a helper name that is a path', async () => {
    await expect(runCredentialHelper('../../bin/sh', 'r.io', { configuredIn: 'x', env })).rejects.toThrow(/not a plain name/);
  });
});
