// Proxy selection from the environment, TLS options that add to the roots, and quota headers.
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { RunContext } from '../../../src/context.js';
import { RateLimitStopError, UsageError } from '../../../src/errors.js';
import type { PullEventBody } from '../../../src/events/types.js';
import { proxyConfigFromEnv, proxyFor } from '../../../src/registry/proxy.js';
import { formatWait, parseRateLimit, withRateLimit } from '../../../src/registry/rate-limit.js';
import { tlsConnectOptions, tlsKey } from '../../../src/registry/tls.js';
import type { HttpRequest, HttpResponse } from '../../../src/registry/types.js';

describe('proxy selection', () => {
  const url = (u: string) => new URL(u);
  it.each([
    [{ HTTPS_PROXY: 'http://p:3128' }, 'https://ghcr.io/v2/', 'http://p:3128/'],
    [{ https_proxy: 'http://lower:1', HTTPS_PROXY: 'http://upper:2' }, 'https://ghcr.io/', 'http://lower:1/'],
    [{ HTTP_PROXY: 'http://p:3128' }, 'https://ghcr.io/', undefined], // https never uses HTTP_PROXY
    [{ HTTP_PROXY: 'p:3128' }, 'http://r.lan/', 'http://p:3128/'], // no scheme: http://
    [{ HTTPS_PROXY: 'http://p', NO_PROXY: '*' }, 'https://ghcr.io/', undefined],
    [{ HTTPS_PROXY: 'http://p', NO_PROXY: 'example.com' }, 'https://a.example.com/', undefined],
    [{ HTTPS_PROXY: 'http://p', NO_PROXY: '.example.com' }, 'https://example.com/', undefined],
    [{ HTTPS_PROXY: 'http://p', NO_PROXY: 'example.com' }, 'https://notexample.com/', 'http://p/'],
    [{ HTTPS_PROXY: 'http://p', NO_PROXY: 'r.lan:5000' }, 'https://r.lan:5000/', undefined],
    [{ HTTPS_PROXY: 'http://p', NO_PROXY: 'r.lan:5000' }, 'https://r.lan/', 'http://p/'],
    [{ HTTPS_PROXY: 'http://p', no_proxy: '10.0.0.0/8 ::1' }, 'https://10.1.2.3/', undefined],
    [{ HTTPS_PROXY: 'http://p', no_proxy: '10.0.0.0/8,::1' }, 'https://[::1]:5000/', undefined],
    [{ HTTPS_PROXY: 'http://p', no_proxy: '10.0.0.0/8' }, 'https://11.0.0.1/', 'http://p/'],
    [{ HTTPS_PROXY: 'http://p' }, 'https://127.0.0.1:5000/', 'http://p/'], // loopback proxied unless listed (curl)
  ])('%j → %s goes via %s', (env, target, expected) => {
    expect(proxyFor(proxyConfigFromEnv(env), url(target))?.href).toBe(expected);
  });

  it('refuses a socks proxy with a usage error', () => {
    expect(() => proxyConfigFromEnv({ HTTPS_PROXY: 'socks5://p:1080' })).toThrow(/socks5/);
  });
});

describe('TLS options', () => {
  it('builds one TLS context for extra CAs or a client pair; otherwise keeps Node\'s default context', () => {
    const o = tlsConnectOptions({ ca: ['PEM-A'], verify: true });
    expect(o.secureContext?.context).toBeDefined();
    // a `ca` list here would make every connection parse it again (tls.connect builds a context from it)
    expect(o).not.toHaveProperty('ca');
    expect(o.rejectUnauthorized).toBeUndefined();
    expect(tlsConnectOptions({ ca: [], verify: true })).toEqual({});
    expect(tlsConnectOptions({ ca: [], verify: false })).toEqual({ rejectUnauthorized: false });
  });

  it('refuses TLS material it cannot parse with a usage error', () => {
    expect(() => tlsConnectOptions({ ca: [], cert: 'not a PEM', key: 'not a PEM', verify: true })).toThrow(UsageError);
    expect(() => tlsConnectOptions({ ca: [], cert: 'not a PEM', key: 'not a PEM', verify: true })).toThrow(/cannot use the TLS certificates/);
  });

  it('keys dispatchers by the whole settings', () => {
    expect(tlsKey({ ca: ['a'], verify: true })).toBe(tlsKey({ ca: ['a'], verify: true }));
    expect(tlsKey({ ca: ['a'], verify: true })).not.toBe(tlsKey({ ca: ['a'], verify: false }));
    expect(tlsKey({ ca: [], cert: 'c', key: 'k', verify: true })).not.toBe(tlsKey({ ca: [], verify: true }));
  });
});

describe('quota headers', () => {
  it('parses Docker Hub RateLimit headers', () => {
    expect(parseRateLimit({ 'ratelimit-limit': '100;w=21600', 'ratelimit-remaining': '76;w=21600' })).toEqual({ limit: 100, remaining: 76, windowSeconds: 21600 });
    expect(parseRateLimit({ 'ratelimit-limit': '200' })).toEqual({ limit: 200 });
    expect(parseRateLimit({})).toBeUndefined();
  });

  it.each([
    [45_000, '45s'],
    [90_000, '1m 30s'],
    [21_600_000, '6h'],
    [21_540_000, '5h 59m'],
  ])('formats %d ms as %s', (ms, text) => {
    expect(formatWait(ms)).toBe(text);
  });

  const ctxWith = (events: PullEventBody[]): RunContext =>
    ({ emit: (e: PullEventBody) => events.push(e), signal: new AbortController().signal, now: () => 0, sleep: async () => {}, random: () => 0.5 }) as RunContext;
  const respond = (status: number, headers: Record<string, string>) => async (req: HttpRequest): Promise<HttpResponse> => ({ status, headers, url: req.url, body: Readable.from([]) });
  const req: HttpRequest = { method: 'GET', url: new URL('https://registry-1.docker.io/v2/library/alpine/manifests/3'), headers: {} };

  it('warns once when 10 % or less of the quota is left', async () => {
    const events: PullEventBody[] = [];
    const send = withRateLimit(ctxWith(events), { registry: 'docker.io' })(respond(200, { 'ratelimit-limit': '100;w=21600', 'ratelimit-remaining': '9;w=21600' }));
    await send(req);
    await send(req);
    expect(events).toEqual([{ type: 'warning', code: 'registry.quota-low', message: expect.stringMatching(/^docker\.io: 9 of 100 pulls per 6h left; log in/) }]);
  });

  it('stops on a 429 past maxWait with the reset time from Retry-After', async () => {
    const send = withRateLimit(ctxWith([]), { registry: 'docker.io', maxWaitMs: 60_000, nowMs: () => Date.UTC(2025, 0, 1, 12) })(respond(429, { 'retry-after': '7200' }));
    const err = await send(req).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RateLimitStopError);
    expect((err as RateLimitStopError).message).toBe('docker.io rate limit reached; it resets at 2025-01-01T14:00:00.000Z (in 2h), longer than --max-wait 1m');
    expect((err as RateLimitStopError).resetAtMs).toBe(Date.UTC(2025, 0, 1, 14));
  });

  it('passes a 429 within maxWait, or of unknown length, to the retry layers', async () => {
    const within = await withRateLimit(ctxWith([]), { registry: 'r', maxWaitMs: 60_000 })(respond(429, { 'retry-after': '30' }))(req);
    expect(within.status).toBe(429);
    const unknown = await withRateLimit(ctxWith([]), { registry: 'r', maxWaitMs: 60_000 })(respond(429, {}))(req);
    expect(unknown.status).toBe(429);
  });
});
