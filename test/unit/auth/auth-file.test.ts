import { describe, expect, it } from 'vitest';
import { firstMatch, helperServerUrl, lookupKeys, normaliseAuthKey, parseAuthFile } from '../../../src/auth/auth-file.js';
import { UsageError } from '../../../src/errors.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const PATH = '/home/u/.docker/config.json';
const parse = (json: unknown) => parseAuthFile(JSON.stringify(json), PATH);

describe('normaliseAuthKey', () => {
  it.each([
    ['ghcr.io', 'ghcr.io'],
    ['https://ghcr.io', 'ghcr.io'],
    ['http://localhost:5000/v2/', 'localhost:5000'],
    ['REGISTRY.Example.com:443', 'registry.example.com:443'],
    ['https://index.docker.io/v1/', 'docker.io'],
    ['registry-1.docker.io', 'docker.io'],
    ['docker.io/library/alpine', 'docker.io/library/alpine'],
    ['Reg.local/NS/App/', 'reg.local/NS/App'],
  ])('%s → %s', (input, want) => {
    expect(normaliseAuthKey(input)).toBe(want);
  });
});

describe('lookupKeys', () => {
  it('tries host/ns/repo, then host/ns, then host (containers-auth.json(5))', () => {
    expect(lookupKeys('reg.local:5000', 'ns/user/image')).toEqual(['reg.local:5000/ns/user/image', 'reg.local:5000/ns/user', 'reg.local:5000/ns', 'reg.local:5000']);
  });
  it('maps Docker Hub hosts to one key', () => {
    expect(lookupKeys('registry-1.docker.io', 'library/alpine').at(-1)).toBe('docker.io');
  });
  it('tries only the host without a repository', () => {
    expect(lookupKeys('ghcr.io')).toEqual(['ghcr.io']);
  });
});

describe('helperServerUrl', () => {
  it('asks helpers about Docker Hub by docker\'s index key and other registries by host', () => {
    expect(helperServerUrl('docker.io')).toBe('https://index.docker.io/v1/');
    expect(helperServerUrl('127.0.0.1:5000')).toBe('127.0.0.1:5000');
  });
});

describe('parseAuthFile', () => {
  it('decodes auth, splitting at the first colon and trimming trailing NULs', () => {
    expect(parse({ auths: { 'ghcr.io': { auth: b64('alice:pa:ss\0\0') } } }).auths.get('ghcr.io')).toEqual({ username: 'alice', password: 'pa:ss', source: PATH });
  });
  it('lets auth override username/password', () => {
    expect(parse({ auths: { 'r.io': { auth: b64('a:b'), username: 'x', password: 'y' } } }).auths.get('r.io')).toMatchObject({ username: 'a', password: 'b' });
  });
  it('reads username/password and identitytoken', () => {
    const file = parse({ auths: { 'https://r.io': { username: 'u', password: 'p' }, 'q.io': { identitytoken: 'refresh' } } });
    expect(file.auths.get('r.io')).toEqual({ username: 'u', password: 'p', source: PATH });
    expect(file.auths.get('q.io')).toEqual({ identityToken: 'refresh', source: PATH });
  });
  it('keys namespaces so the most specific entry wins', () => {
    const file = parse({ auths: { 'reg.local': { auth: b64('host:1') }, 'reg.local/team': { auth: b64('team:2') }, 'reg.local/team/app': { auth: b64('app:3') } } });
    expect(firstMatch(file.auths, lookupKeys('reg.local', 'team/app'))?.username).toBe('app');
    expect(firstMatch(file.auths, lookupKeys('reg.local', 'team/other'))?.username).toBe('team');
    expect(firstMatch(file.auths, lookupKeys('reg.local', 'solo/x'))?.username).toBe('host');
  });
  it('reads credHelpers and credsStore, and skips the empty placeholders helpers leave in auths', () => {
    const file = parse({ auths: { 'ghcr.io': {} }, credHelpers: { 'https://ghcr.io': 'gh', 'bad.io': '' }, credsStore: 'desktop' });
    expect(file.auths.size).toBe(0);
    expect([...file.credHelpers]).toEqual([['ghcr.io', 'gh']]);
    expect(file.credsStore).toBe('desktop');
  });
  it('returns nothing from an empty document', () => {
    const file = parseAuthFile('{}', PATH);
    expect(file.auths.size + file.credHelpers.size).toBe(0);
    expect(file.credsStore).toBeUndefined();
  });
  it('refuses invalid JSON and a malformed auth without echoing secrets, even in the cause', () => {
    const invalid = () => parseAuthFile('{"auths":{"r.io":{"auth":"s3cret-value"', PATH);
    expect(invalid).toThrow(UsageError);
    try {
      invalid();
    } catch (err) {
      expect(JSON.stringify({ m: (err as Error).message, c: String((err as Error).cause), h: (err as UsageError).hint })).not.toContain('s3cret');
    }
    const bad = () => parse({ auths: { 'r.io': { auth: b64('nocolonsecret') } } });
    expect(bad).toThrow(UsageError);
    expect(bad).not.toThrow(/nocolonsecret/);
  });
});
