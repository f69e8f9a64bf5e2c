import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { RunContext } from '../../../src/context.js';
import { NetworkError, UsageError } from '../../../src/errors.js';
import { compose } from '../../../src/registry/compose.js';
import type { HttpRequest, HttpResponse, Middleware, Send } from '../../../src/registry/types.js';
import { withRedirects } from '../../../src/registry/with-redirects.js';
import { withRetry } from '../../../src/registry/with-retry.js';

function reply(req: HttpRequest, status: number, headers: Record<string, string> = {}): HttpResponse {
  return { status, headers, url: req.url, body: Readable.from([]) };
}

function fakeContext(): RunContext & { slept: number[] } {
  const slept: number[] = [];
  return { emit: () => {}, signal: new AbortController().signal, now: () => 0, random: () => 0.5, sleep: async (ms) => void slept.push(ms), slept };
}

const get = (url: string, headers: Record<string, string> = {}): HttpRequest => ({ method: 'GET', url: new URL(url), headers });

describe('compose', () => {
  it('makes the first middleware the outermost', async () => {
    const order: string[] = [];
    const tag = (name: string): Middleware => (next) => async (req) => {
      order.push(`${name}>`);
      const res = await next(req);
      order.push(`<${name}`);
      return res;
    };
    await compose(async (req) => (order.push('base'), reply(req, 200)), tag('a'), tag('b'))(get('http://x/'));
    expect(order).toEqual(['a>', 'b>', 'base', '<b', '<a']);
  });
});

describe('withRedirects', () => {
  it('drops credentials when leaving the origin and never restores them on a later hop back', async () => {
    const seen: { url: string; auth: string | undefined; cookie: string | undefined }[] = [];
    const base: Send = async (req) => {
      seen.push({ url: req.url.href, auth: req.headers.authorization, cookie: req.headers.cookie });
      if (req.url.pathname === '/done') return reply(req, 200);
      if (req.url.host === 'reg:1') return reply(req, 307, { location: req.url.pathname === '/back' ? '/done' : 'http://cdn:2/blob' });
      if (req.url.host === 'cdn:2') return reply(req, 302, { location: 'http://reg:1/back' });
      return reply(req, 200);
    };
    const res = await compose(base, withRedirects())(get('http://reg:1/v2/a/blobs/x', { authorization: 'Bearer t', cookie: 'c', range: 'bytes=0-9' }));
    expect(seen).toEqual([
      { url: 'http://reg:1/v2/a/blobs/x', auth: 'Bearer t', cookie: 'c' },
      { url: 'http://cdn:2/blob', auth: undefined, cookie: undefined },
      { url: 'http://reg:1/back', auth: undefined, cookie: undefined },
      { url: 'http://reg:1/done', auth: undefined, cookie: undefined },
    ]);
    expect(res.url.href).toBe('http://reg:1/done');
  });
  it('keeps Authorization and Range on a same-origin redirect', async () => {
    const seen: HttpRequest[] = [];
    const base: Send = async (req) => (seen.push(req), req.url.pathname === '/a' ? reply(req, 301, { location: '/b' }) : reply(req, 200));
    await compose(base, withRedirects())(get('http://reg/a', { authorization: 'Basic x', range: 'bytes=1-2' }));
    expect(seen[1]?.headers).toEqual({ authorization: 'Basic x', range: 'bytes=1-2' });
  });
  it('stops after the maximum number of hops', async () => {
    let calls = 0;
    const base: Send = async (req) => (calls++, reply(req, 302, { location: `/r${calls}` }));
    await expect(compose(base, withRedirects({ max: 3 }))(get('http://reg/'))).rejects.toThrow(/more than 3 times/);
    expect(calls).toBe(4);
  });
});

describe('withRetry', () => {
  it('retries 503 with jittered exponential backoff and returns the success', async () => {
    const ctx = fakeContext();
    const statuses = [503, 502, 200];
    const send = compose(async (req) => reply(req, statuses.shift()!), withRetry(ctx, { baseDelayMs: 100 }));
    expect((await send(get('http://r/'))).status).toBe(200);
    expect(ctx.slept).toEqual([100, 200]); // random 0.5 → factor 1
  });
  it('honours Retry-After seconds', async () => {
    const ctx = fakeContext();
    const statuses = [429, 200];
    const send = compose(async (req) => reply(req, statuses.shift()!, { 'retry-after': '7' }), withRetry(ctx));
    expect((await send(get('http://r/'))).status).toBe(200);
    expect(ctx.slept).toEqual([7_000]);
  });
  it('returns the 429 at once when Retry-After exceeds the maximum wait', async () => {
    const ctx = fakeContext();
    let calls = 0;
    const send = compose(async (req) => (calls++, reply(req, 429, { 'retry-after': '3600' })), withRetry(ctx));
    expect((await send(get('http://r/'))).status).toBe(429);
    expect(calls).toBe(1);
    expect(ctx.slept).toEqual([]);
  });
  it('gives up after three attempts and returns the last response', async () => {
    const ctx = fakeContext();
    let calls = 0;
    const send = compose(async (req) => (calls++, reply(req, 500)), withRetry(ctx));
    expect((await send(get('http://r/'))).status).toBe(500);
    expect(calls).toBe(3);
  });
  it('retries network errors but not other failures, nor 404', async () => {
    const ctx = fakeContext();
    let calls = 0;
    const flaky = compose(async (req) => (++calls < 3 ? Promise.reject(new NetworkError('reset')) : reply(req, 200)), withRetry(ctx));
    expect((await flaky(get('http://r/'))).status).toBe(200);
    let usage = 0;
    const broken = compose(async () => (usage++, Promise.reject(new UsageError('bad'))), withRetry(ctx));
    await expect(broken(get('http://r/'))).rejects.toThrow(UsageError);
    expect(usage).toBe(1);
    let missing = 0;
    const notFound = compose(async (req) => (missing++, reply(req, 404)), withRetry(ctx));
    expect((await notFound(get('http://r/'))).status).toBe(404);
    expect(missing).toBe(1);
  });
});
