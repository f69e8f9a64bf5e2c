import { describe, expect, it } from 'vitest';
import { earlyTarget, preconnect } from '../../../src/cli/preconnect.js';

const argv = (...args: string[]) => ['node', 'dray', ...args];

describe('earlyTarget: which registry `dray pull REF` will ask first', () => {
  it.each([
    ['a loopback registry with a port: plain HTTP there', ['pull', '127.0.0.1:5000/team/app:1'], { protocol: 'http:', hostname: '127.0.0.1', port: 5000 }],
    ['localhost without a port: HTTP on 80', ['pull', 'localhost/app'], { protocol: 'http:', hostname: 'localhost', port: 80 }],
    ['IPv6 loopback: the address without brackets', ['pull', '[::1]:5000/app'], { protocol: 'http:', hostname: '::1', port: 5000 }],
    ['a named registry: HTTPS on 443', ['pull', 'ghcr.io/org/app@sha256:' + 'a'.repeat(64)], { protocol: 'https:', hostname: 'ghcr.io', port: 443 }],
    ['a named registry with a port', ['pull', 'registry.example.com:8443/app', '-o', 'out'], { protocol: 'https:', hostname: 'registry.example.com', port: 8443 }],
  ] as const)('%s', (_name, args, expected) => {
    expect(earlyTarget(argv(...args), {})).toEqual(expected);
  });

  it.each([
    ['Docker Hub, short form (mirrors usually serve it)', ['pull', 'alpine']],
    ['Docker Hub, spelt out', ['pull', 'docker.io/library/alpine:3']],
    ['a flag before the reference', ['pull', '-o', 'out', 'ghcr.io/org/app']],
    ['another command', ['inspect', 'ghcr.io/org/app']],
    ['no reference', ['pull']],
  ])('none for %s', (_name, args) => {
    expect(earlyTarget(argv(...args), {})).toBeUndefined();
  });

  it.each(['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy'])('none when %s is set: the proxy makes the connections', (name) => {
    expect(earlyTarget(argv('pull', 'ghcr.io/org/app'), { [name]: 'http://proxy.internal:3128' })).toBeUndefined();
  });

  it('leaves a malformed reference to the command, which reports it with its exit code', () => {
    expect(preconnect(argv('pull', 'UPPER/Case::bad'), {})).toBeUndefined();
  });
});
