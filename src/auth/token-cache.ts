/**
 * Bearer tokens from a registry's token server (distribution spec/auth/token.md, oauth.md; ecosystem.md
 * §3.2-3.4), cached per realm/service/scope/credential until `expires_in` minus a margin. Single-flight:
 * N concurrent requests needing the same token cause one token request.
 */
import type { RunContext } from '../context.js';
import { AuthError } from '../errors.js';
import { toRegistryError } from '../registry/errors.js';
import { destroyBody, readCapped } from '../registry/read-body.js';
import type { Credentials, HttpRequest, HttpResponse, Send } from '../registry/types.js';
import { splitScopes } from './challenge.js';

/** token.md: "If not present, clients should assume 60 seconds"; c/image also clamps shorter lifetimes to 60 s. */
const DEFAULT_EXPIRES_IN_S = 60;
/** Refresh this long before expiry so a token does not lapse between cache hit and the registry's check. */
const DEFAULT_EXPIRY_MARGIN_MS = 10_000;
/** c/image reads token responses up to 1 MiB. */
const DEFAULT_TOKEN_BODY_LIMIT = 1024 * 1024;
/** OAuth2 client_id sent with identity-token POSTs (oauth.md requires one; c/image sends "containers/image"). */
const DEFAULT_CLIENT_ID = 'dray';

export interface TokenRequest {
  /** Token server URL from the challenge; its own query parameters are kept. */
  readonly realm: string;
  readonly service?: string;
  /** One or more scopes joined by spaces. */
  readonly scope: string;
  readonly credentials?: Credentials;
  readonly signal?: AbortSignal;
  /** The registry the token is for, named in error hints (the realm's host otherwise). */
  readonly registry?: string;
  /** Where credentials were looked for, named in the hint when there were none. */
  readonly searched?: readonly string[];
}

export interface TokenCache {
  /** Returns a valid token for the request: cached, joined in flight, or fetched. */
  get(req: TokenRequest): Promise<string>;
  /** Forgets `token` (a registry refused it) unless a newer token has replaced it already. */
  invalidate(req: TokenRequest, token: string): void;
}

/** Returns a token cache fetching through `send` (which should retry: tokens are small requests). */
export function createTokenCache(deps: { send: Send; ctx: RunContext }, options: { marginMs?: number } = {}): TokenCache {
  const margin = options.marginMs ?? DEFAULT_EXPIRY_MARGIN_MS;
  const cached = new Map<string, { token: string; expiresAt: number }>();
  const inflight = new Map<string, Promise<string>>();
  const fetchAndStore = async (key: string, req: TokenRequest): Promise<string> => {
    try {
      const { token, expiresInS } = await fetchToken(deps.send, req);
      cached.set(key, { token, expiresAt: deps.ctx.now() + expiresInS * 1000 - margin });
      return token;
    } finally {
      inflight.delete(key);
    }
  };
  return {
    get(req) {
      const key = cacheKey(req);
      const hit = cached.get(key);
      if (hit !== undefined && deps.ctx.now() < hit.expiresAt) return Promise.resolve(hit.token);
      let pending = inflight.get(key);
      if (pending === undefined) {
        pending = fetchAndStore(key, req);
        inflight.set(key, pending);
      }
      return pending;
    },
    invalidate(req, token) {
      const key = cacheKey(req);
      if (cached.get(key)?.token === token) cached.delete(key);
    },
  };
}

function cacheKey(req: TokenRequest): string {
  const who = req.credentials === undefined ? '' : `${req.credentials.source}\0${req.credentials.username ?? ''}`;
  return [req.realm, req.service ?? '', req.scope, who].join('\n');
}

async function fetchToken(send: Send, req: TokenRequest): Promise<{ token: string; expiresInS: number }> {
  const creds = req.credentials;
  if (creds?.identityToken !== undefined) {
    const res = await send(oauthRequest(req, creds.identityToken));
    // oauth.md: "If POST returns 404, fall back to GET"; GCR answers 404, Artifactory 401, ACR 400 (containerd authorizer.go).
    if (![400, 401, 404, 405].includes(res.status)) return readToken(req, res, creds);
    destroyBody(res.body);
    return readToken(req, await send(getRequest(req, undefined)), undefined);
  }
  return readToken(req, await send(getRequest(req, creds)), creds);
}

function getRequest(req: TokenRequest, creds: Credentials | undefined): HttpRequest {
  const url = new URL(req.realm);
  if (req.service) url.searchParams.set('service', req.service);
  for (const scope of splitScopes(req.scope)) url.searchParams.append('scope', scope);
  const headers: Record<string, string> = {};
  if (creds?.username !== undefined && creds.password !== undefined) {
    url.searchParams.set('account', creds.username); // docker and c/image send it when a username is known
    headers.authorization = basicAuthorization(creds.username, creds.password);
  }
  return { method: 'GET', url, headers, ...(req.signal ? { signal: req.signal } : {}) };
}

function oauthRequest(req: TokenRequest, refreshToken: string): HttpRequest {
  const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: DEFAULT_CLIENT_ID, scope: req.scope });
  if (req.service) form.set('service', req.service);
  return {
    method: 'POST',
    url: new URL(req.realm),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: form.toString(),
    ...(req.signal ? { signal: req.signal } : {}),
  };
}

async function readToken(req: TokenRequest, res: HttpResponse, creds: Credentials | undefined): Promise<{ token: string; expiresInS: number }> {
  const where = new URL(req.realm);
  const host = req.registry ?? where.host;
  if (res.status !== 200) {
    const hint = res.status === 401 || res.status === 403 ? credentialHint(host, creds, req.searched) : undefined;
    throw await toRegistryError({ method: 'GET', url: where }, res, hint === undefined ? {} : { hint });
  }
  const refused = (why: string, cause?: unknown): AuthError =>
    new AuthError({ method: 'GET', url: where.toString() }, res.status, [], { message: `token response from ${where.host} ${why}`, cause });
  const bytes = await readCapped(res.body, DEFAULT_TOKEN_BODY_LIMIT, () => refused('is larger than 1 MiB'));
  let body: { token?: unknown; access_token?: unknown; expires_in?: unknown };
  try {
    body = JSON.parse(bytes.toString('utf8')) as typeof body;
  } catch (err) {
    throw refused('is not JSON', err);
  }
  // token.md: `token` and `access_token` may both be present and should match; prefer `token` like docker.
  const token = typeof body.token === 'string' && body.token !== '' ? body.token : body.access_token;
  if (typeof token !== 'string' || token === '') throw refused('holds no token');
  const expiresIn = typeof body.expires_in === 'number' && body.expires_in > DEFAULT_EXPIRES_IN_S ? body.expires_in : DEFAULT_EXPIRES_IN_S;
  return { token, expiresInS: expiresIn };
}

/** Returns `Basic base64(user:pass)`. */
export function basicAuthorization(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`;
}

/** Hint for a refused request: names the credential source tried (or the places searched), never the secret. */
export function credentialHint(host: string, creds: Credentials | undefined, searched?: readonly string[]): string {
  if (creds === undefined) {
    const where = searched !== undefined && searched.length > 0 ? ` (looked in ${searched.join(', ')})` : '';
    return `no credentials were found for ${host}${where}; pass --creds user:password, or log in with docker login or podman login ${host}`;
  }
  return `credentials from ${creds.source} were refused by ${host}; check them, or log in again with docker login or podman login ${host}`;
}
