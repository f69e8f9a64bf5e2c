/**
 * Authentication for one registry origin (ecosystem.md §3): remembers the registry's challenge (from the
 * ping or any 401), attaches Basic credentials or a bearer token to requests for that origin only, and on
 * a 401 fetches a token for the challenge's scope and replays once. A second 401/403 is an AuthError
 * whose hint names the credential source tried, never the secret. Requests to other origins (storage,
 * CDNs) pass through untouched.
 */
import type { Challenge } from '../auth/challenge.js';
import { parseChallenges, selectChallenge } from '../auth/challenge.js';
import type { TokenCache, TokenRequest } from '../auth/token-cache.js';
import { basicAuthorization, credentialHint } from '../auth/token-cache.js';
import { toRegistryError } from './errors.js';
import { destroyBody, discardBody } from './read-body.js';
import type { CredentialLookup, Credentials, HttpRequest, Middleware, Send } from './types.js';

export interface AuthOptions {
  /** The registry's origin ("https://ghcr.io"); only requests to it are authenticated. */
  readonly origin: string;
  readonly credentials?: CredentialLookup;
  readonly tokens: TokenCache;
}

/**
 * Returns the auth middleware. Its state (challenge, credentials) lives outside the returned function,
 * so one instance can wrap several pipelines (with and without retry) of the same registry.
 */
export function withAuth(options: AuthOptions): Middleware {
  const host = new URL(options.origin).host;
  let challenge: Challenge | undefined;
  /** The scope a 401 asked for, per request scope, so later requests ask for the right token first. */
  const scopeFor = new Map<string, string>();
  /** Credentials per repository ("" for scope-less requests): auth.json keys may name a namespace. */
  const creds = new Map<string, Promise<Credentials | undefined>>();
  const lookup = (req: HttpRequest): Promise<Credentials | undefined> => {
    const repository = repositoryOf(req.scope);
    let found = creds.get(repository ?? '');
    if (found === undefined) {
      found = options.credentials?.(host, repository) ?? Promise.resolve(undefined);
      creds.set(repository ?? '', found);
    }
    return found;
  };
  const hint = async (req: HttpRequest): Promise<string> => credentialHint(host, await lookup(req), options.credentials?.searched);

  const tokenRequest = (c: Challenge, scope: string, credentials: Credentials | undefined, req: HttpRequest): TokenRequest | undefined => {
    const realm = c.params.realm;
    if (realm === undefined || realm === '') return undefined;
    return {
      realm,
      scope,
      registry: host,
      ...(options.credentials?.searched ? { searched: options.credentials.searched } : {}),
      ...(c.params.service ? { service: c.params.service } : {}),
      ...(credentials ? { credentials } : {}),
      ...(req.signal ? { signal: req.signal } : {}),
    };
  };

  /** Returns the Authorization value for `req` under challenge `c`, or undefined when there is none to send. */
  const authorize = async (c: Challenge | undefined, scope: string | undefined, req: HttpRequest): Promise<{ header: string; token?: TokenRequest } | undefined> => {
    if (c === undefined) return undefined;
    // A scope-less bearer request (the ping) gets no token: no need to look credentials up (or run a helper) for it.
    if (c.scheme !== 'basic' && scope === undefined) return undefined;
    const credentials = await lookup(req);
    if (c.scheme === 'basic') {
      if (credentials?.username === undefined || credentials.password === undefined) return undefined;
      return { header: basicAuthorization(credentials.username, credentials.password) };
    }
    if (scope === undefined) return undefined;
    const token = tokenRequest(c, scope, credentials, req);
    if (token === undefined) return undefined;
    return { header: `Bearer ${await options.tokens.get(token)}`, token };
  };

  return (next: Send): Send => async (req) => {
    if (req.url.origin !== options.origin || hasAuthorization(req)) return next(req);
    const preScope = req.scope === undefined ? undefined : (scopeFor.get(req.scope) ?? req.scope);
    const pre = await authorize(challenge, preScope, req);
    let res = await next(withAuthorization(req, pre?.header));
    let sent = pre;
    // One replay per request, plus one when the first went out bare: with no /v2/ ping, an anonymous
    // request may learn the challenge, then its token may still prove too narrow (insufficient_scope).
    for (let rounds = pre === undefined ? 2 : 1; ; rounds -= 1) {
      if (res.status !== 401 && res.status !== 403) return res;
      if (res.url.origin !== options.origin) return res; // a storage host's refusal is the caller's to handle
      if (rounds === 0) {
        if (sent?.token !== undefined) options.tokens.invalidate(sent.token, sent.header.slice('Bearer '.length));
        throw await toRegistryError(req, res, { hint: await hint(req) });
      }
      const fresh = res.status === 401 ? selectChallenge(parseChallenges(res.headers['www-authenticate'] ?? '')) : undefined;
      // registry quirk (gcr.io): a resource 401 may lack WWW-Authenticate; the /v2/ challenge still applies
      // (c/image). The client pings lazily or not at all, so ask /v2/ for it now if none is known yet.
      challenge = fresh ?? challenge ?? (res.status === 401 && req.scope !== undefined ? await pingChallenge(next, options.origin, req.signal) : undefined);
      const scope = fresh?.params.scope ?? (req.scope === undefined ? undefined : (scopeFor.get(req.scope) ?? req.scope));
      if (req.scope !== undefined && scope !== undefined && scope !== req.scope) scopeFor.set(req.scope, scope);
      if (sent?.token !== undefined) options.tokens.invalidate(sent.token, sent.header.slice('Bearer '.length));
      let retry: Awaited<ReturnType<typeof authorize>>;
      try {
        retry = res.status === 401 ? await authorize(challenge, scope, req) : undefined;
      } catch (err) {
        destroyBody(res.body); // the token server refused: its error wins, the registry's 401 body is noise
        throw err;
      }
      if (retry === undefined || retry.header === sent?.header) {
        // Nothing new to try: a scope-less request (the ping) hands the 401 back; anything else is refused.
        if (req.scope === undefined && res.status === 401 && pre === undefined) return res;
        throw await toRegistryError(req, res, { hint: await hint(req) });
      }
      await discardBody(res.body);
      res = await next(withAuthorization(req, retry.header));
      sent = retry;
    }
  };
}

/** The repository a bearer scope names ("repository:ns/app:pull" → "ns/app"; the name may hold a host:port, so split at the last ":"). */
export function repositoryOf(scope: string | undefined): string | undefined {
  const first = scope?.split(' ', 1)[0];
  if (first === undefined || !first.startsWith('repository:')) return undefined;
  const rest = first.slice('repository:'.length);
  const i = rest.lastIndexOf(':');
  return i <= 0 ? undefined : rest.slice(0, i);
}

function hasAuthorization(req: HttpRequest): boolean {
  return Object.keys(req.headers).some((name) => name.toLowerCase() === 'authorization');
}

function withAuthorization(req: HttpRequest, header: string | undefined): HttpRequest {
  return header === undefined ? req : { ...req, headers: { ...req.headers, authorization: header } };
}

/** Returns the challenge `/v2/` answers with, if any (for registries whose resource 401s carry none). */
async function pingChallenge(next: Send, origin: string, signal: AbortSignal | undefined): Promise<Challenge | undefined> {
  const res = await next({ method: 'GET', url: new URL(`${origin}/v2/`), headers: {}, ...(signal ? { signal } : {}) });
  await discardBody(res.body);
  return res.status === 401 ? selectChallenge(parseChallenges(res.headers['www-authenticate'] ?? '')) : undefined;
}
