import { describe, expect, it } from 'vitest';
import { configKey, createCredentialLookup, parseDockerConfig } from '../../../src/auth/docker-config.js';
import { UsageError } from '../../../src/errors.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const PATH = '/home/u/.docker/config.json';

describe('configKey', () => {
  it.each([
    ['ghcr.io', 'ghcr.io'],
    ['https://ghcr.io', 'ghcr.io'],
    ['http://localhost:5000/v2/', 'localhost:5000'],
    ['REGISTRY.Example.com:443', 'registry.example.com:443'],
    ['docker.io', 'https://index.docker.io/v1/'],
    ['registry-1.docker.io', 'https://index.docker.io/v1/'],
    ['https://index.docker.io/v1/', 'https://index.docker.io/v1/'],
  ])('%s → %s', (input, want) => {
    expect(configKey(input)).toBe(want);
  });
});

describe('parseDockerConfig', () => {
  it('decodes auth, splitting at the first colon and trimming trailing NULs', () => {
    const map = parseDockerConfig(JSON.stringify({ auths: { 'ghcr.io': { auth: b64('alice:pa:ss\0\0') } } }), PATH);
    expect(map.get('ghcr.io')).toEqual({ username: 'alice', password: 'pa:ss', source: PATH });
  });
  it('lets auth override username/password', () => {
    const map = parseDockerConfig(JSON.stringify({ auths: { 'r.io': { auth: b64('a:b'), username: 'x', password: 'y' } } }), PATH);
    expect(map.get('r.io')).toMatchObject({ username: 'a', password: 'b' });
  });
  it('reads username/password and identitytoken', () => {
    const map = parseDockerConfig(JSON.stringify({ auths: { 'https://r.io': { username: 'u', password: 'p' }, 'q.io': { identitytoken: 'refresh' } } }), PATH);
    expect(map.get('r.io')).toEqual({ username: 'u', password: 'p', source: PATH });
    expect(map.get('q.io')).toEqual({ identityToken: 'refresh', source: PATH });
  });
  it('keys URL forms and the Docker Hub index by host', () => {
    const map = parseDockerConfig(
      JSON.stringify({ auths: { 'http://localhost:5000/v2/': { auth: b64('l:1') }, 'https://index.docker.io/v1/': { auth: b64('d:2') } } }),
      PATH,
    );
    expect(map.get(configKey('localhost:5000'))?.username).toBe('l');
    expect(map.get(configKey('registry-1.docker.io'))?.username).toBe('d');
  });
  it('skips empty placeholders left by credential helpers', () => {
    const map = parseDockerConfig(JSON.stringify({ auths: { 'ghcr.io': {} }, credsStore: 'desktop' }), PATH);
    expect(map.size).toBe(0);
  });
  it('returns nothing when there is no auths section', () => {
    expect(parseDockerConfig('{}', PATH).size).toBe(0);
  });
  it('refuses invalid JSON and a malformed auth without echoing secrets', () => {
    expect(() => parseDockerConfig('{', PATH)).toThrow(UsageError);
    const bad = () => parseDockerConfig(JSON.stringify({ auths: { 'r.io': { auth: b64('nocolonsecret') } } }), PATH);
    expect(bad).toThrow(UsageError);
    expect(bad).not.toThrow(/nocolonsecret/);
  });
});

describe('createCredentialLookup with --creds', () => {
  it('answers every registry with the flag, naming --creds as the source', async () => {
    const lookup = createCredentialLookup({ creds: 'bob:p:w' });
    expect(await lookup('ghcr.io')).toEqual({ username: 'bob', password: 'p:w', source: '--creds' });
  });
  it('refuses a value without user:password', () => {
    expect(() => createCredentialLookup({ creds: 'bob' })).toThrow(UsageError);
    expect(() => createCredentialLookup({ creds: ':pw' })).toThrow(UsageError);
  });
  it('returns undefined with no sources', async () => {
    expect(await createCredentialLookup({})('ghcr.io')).toBeUndefined();
  });
});
