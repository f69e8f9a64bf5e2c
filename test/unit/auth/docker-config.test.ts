import { describe, expect, it } from 'vitest';
import { configKey, parseCredsFlag } from '../../../src/auth/docker-config.js';
import { UsageError } from '../../../src/errors.js';

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

describe('parseCredsFlag', () => {
  it('splits at the first colon, keeping colons in the password', () => {
    expect(parseCredsFlag('bob:p:w')).toEqual({ username: 'bob', password: 'p:w' });
  });
  it('keeps an empty password when the colon is there', () => {
    expect(parseCredsFlag('bob:')).toEqual({ username: 'bob', password: '' });
  });
  it('returns a user alone, for --password-stdin', () => {
    expect(parseCredsFlag('bob')).toEqual({ username: 'bob' });
  });
  it('refuses an empty user without echoing the password', () => {
    const bad = () => parseCredsFlag(':hunter2');
    expect(bad).toThrow(UsageError);
    expect(bad).not.toThrow(/hunter2/);
  });
});
