import { describe, expect, it } from 'vitest';
import { parseContentRange } from '../../../src/registry/blob-response.js';
import { candidateOrigins, isLoopbackRegistry } from '../../../src/registry/scheme.js';

describe('parseContentRange', () => {
  it.each([
    { value: 'bytes 0-99/1000', want: { range: { start: 0, end: 99 }, total: 1000 } },
    { value: 'bytes 100-199/*', want: { range: { start: 100, end: 199 } } },
    { value: 'BYTES 5-5/6', want: { range: { start: 5, end: 5 }, total: 6 } },
    { value: 'bytes 9-3/10', want: undefined },
    { value: 'bytes */1000', want: undefined },
    { value: 'items 0-1/2', want: undefined },
    { value: undefined, want: undefined },
  ])('$value', ({ value, want }) => {
    expect(parseContentRange(value)).toEqual(want);
  });
});

describe('isLoopbackRegistry', () => {
  it.each([
    ['localhost:5000', true],
    ['localhost', true],
    ['127.0.0.1:5000', true],
    ['127.1.2.3', true],
    ['[::1]:5000', true],
    ['registry.localhost:80', true],
    ['LOCALHOST:5000', true],
    ['127.255.3.4:80', true],
    ['[::1]', true],
    ['::1', true],
    ['[0:0:0:0:0:0:0:1]:5000', true],
    ['ghcr.io', false],
    ['127.0.0.1.example.com', false],
    ['127.0.0.1.nip.io:5000', false],
    ['localhost.example.com', false],
    ['10.0.0.1:5000', false],
    ['128.0.0.1:5000', false],
    ['[::2]:5000', false],
    ['docker.io', false],
  ])('%s → %s', (registry, want) => {
    expect(isLoopbackRegistry(registry)).toBe(want);
  });
});

describe('candidateOrigins', () => {
  it('uses http first for loopback, https for others, https then http when insecure', () => {
    // loopback: plain HTTP with no probe (crane, containerd); HTTPS only after a TLS port answers 400
    expect(candidateOrigins('127.0.0.1:5000', false)).toEqual(['http://127.0.0.1:5000', 'https://127.0.0.1:5000']);
    expect(candidateOrigins('[::1]:5000', true)).toEqual(['http://[::1]:5000', 'https://[::1]:5000']);
    expect(candidateOrigins('127.0.0.1:5000', false, 'http')).toEqual(['http://127.0.0.1:5000']);
    expect(candidateOrigins('mirror.lan', true, 'https')).toEqual(['https://mirror.lan']);
    expect(candidateOrigins('ghcr.io', false)).toEqual(['https://ghcr.io']);
    expect(candidateOrigins('r.lan:5000', true)).toEqual(['https://r.lan:5000', 'http://r.lan:5000']);
  });
});
