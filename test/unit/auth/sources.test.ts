import { describe, expect, it } from 'vitest';
import { parseHelperAnswer } from '../../../src/auth/cred-helper.js';
import { defaultCredentialFiles } from '../../../src/auth/locations.js';
import { CredentialsError } from '../../../src/errors.js';
import { repositoryOf } from '../../../src/registry/with-auth.js';

describe('defaultCredentialFiles', () => {
  it('orders --authfile, REGISTRY_AUTH_FILE, XDG_RUNTIME_DIR auth.json, ~/.config auth.json, DOCKER_CONFIG', () => {
    const env = { REGISTRY_AUTH_FILE: '/r/auth.json', XDG_RUNTIME_DIR: '/run/user/7', DOCKER_CONFIG: '/d' };
    expect(defaultCredentialFiles(env, '/home/u', { authfile: '/a.json', uid: 7 })).toEqual([
      '/a.json',
      '/r/auth.json',
      '/run/user/7/containers/auth.json',
      '/home/u/.config/containers/auth.json',
      '/d/config.json',
    ]);
  });
  it('falls back to /run/containers/<uid>, ~/.docker, and honours XDG_CONFIG_HOME', () => {
    expect(defaultCredentialFiles({ XDG_CONFIG_HOME: '/cfg' }, '/home/u', { uid: 1000 })).toEqual([
      '/run/containers/1000/auth.json',
      '/cfg/containers/auth.json',
      '/home/u/.docker/config.json',
    ]);
  });
  it('lists a file named twice once', () => {
    expect(defaultCredentialFiles({ REGISTRY_AUTH_FILE: '/same' }, '/h', { authfile: '/same' }).filter((f) => f === '/same')).toHaveLength(1);
  });
});

describe('parseHelperAnswer', () => {
  it('reads Username and Secret', () => {
    expect(parseHelperAnswer('{"ServerURL":"r.io","Username":"u","Secret":"s"}', 'h')).toEqual({ username: 'u', password: 's', source: 'h' });
  });
  it('treats Username "<token>" as an identity token', () => {
    expect(parseHelperAnswer('{"Username":"<token>","Secret":"refresh"}', 'h')).toEqual({ identityToken: 'refresh', source: 'h' });
  });
  it('treats an empty answer as none', () => {
    expect(parseHelperAnswer('{"Username":"","Secret":""}', 'h')).toBeUndefined();
  });
  it('refuses non-JSON without repeating it', () => {
    const bad = () => parseHelperAnswer('password=hunter2', 'h');
    expect(bad).toThrow(CredentialsError);
    expect(bad).not.toThrow(/hunter2/);
  });
});

describe('repositoryOf', () => {
  it.each([
    ['repository:ns/app:pull', 'ns/app'],
    ['repository:a/b:pull,push repository:c/d:pull', 'a/b'],
    ['registry:catalog:*', undefined],
    [undefined, undefined],
  ])('%s → %s', (scope, want) => {
    expect(repositoryOf(scope)).toBe(want);
  });
});
