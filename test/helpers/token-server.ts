/**
 * A token server for the real registry's `auth.token` mode (distribution spec/auth/jwt.md): a
 * self-signed EC certificate made with the openssl CLI (Node cannot issue certificates), and ES256
 * JWTs carrying that certificate in `x5c`, which distribution 2.8 verifies against rootcertbundle.
 */
import { execFile } from 'node:child_process';
import { createPrivateKey, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';

/** Issuer and service names the registry config and the tokens must agree on. */
export const TOKEN_ISSUER = 'dray-test-issuer';
export const TOKEN_SERVICE = 'dray-test-registry';
/** Token lifetime in seconds; distribution's own token server defaults to 5 minutes. */
const TOKEN_TTL_S = 300;

export interface TokenServer {
  /** The realm to put in the registry config: "http://127.0.0.1:PORT/token". */
  readonly realm: string;
  /** PEM file of the signing certificate (the registry's rootcertbundle). */
  readonly certPath: string;
  /** Every token request: whether it carried credentials and the scopes it asked for. */
  readonly requests: { authorization: boolean; scopes: string[]; status: number; method?: string; grant?: string; user?: string }[];
  close(): Promise<void>;
}

/** Starts a token server granting pull/push on every repository to `users` (and pull to anonymous when allowed). */
export async function startTokenServer(
  dir: string,
  users: Record<string, string>,
  options: { anonymousPull?: boolean; refreshTokens?: Record<string, string> } = {},
): Promise<TokenServer> {
  const keyPath = join(dir, 'token-key.pem');
  const certPath = join(dir, 'token-cert.pem');
  await promisify(execFile)('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', keyPath, '-out', certPath, '-days', '2', '-subj', '/CN=dray-test-token',
  ]);
  const key = createPrivateKey(await readFile(keyPath));
  const certDer = new X509Certificate(await readFile(certPath)).raw.toString('base64');
  const requests: TokenServer['requests'] = [];
  const signer: Signer = { key, certDer, users, anonymousPull: options.anonymousPull ?? false, requests, refreshTokens: options.refreshTokens ?? {} };
  const server = createServer((req, res) => (req.method === 'POST' ? handlePost(req, res, signer) : handle(req, res, signer)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('token server has no port');
  return {
    realm: `http://127.0.0.1:${address.port}/token`,
    certPath,
    requests,
    close: () => closeServer(server),
  };
}

interface Signer {
  readonly key: KeyObject;
  readonly certDer: string;
  readonly users: Record<string, string>;
  readonly anonymousPull: boolean;
  readonly requests: TokenServer['requests'];
  /** OAuth2 refresh tokens (docker's "identitytoken") → the user they stand for. */
  readonly refreshTokens: Record<string, string>;
}

/**
 * The OAuth2 token flow (distribution spec/auth/oauth.md): a form POST with grant_type=refresh_token,
 * refresh_token, client_id, service and one space-separated `scope`. Unknown refresh tokens get 401.
 */
function handlePost(req: IncomingMessage, res: ServerResponse, s: Signer): void {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
    const scopes = (form.get('scope') ?? '').split(' ').filter(Boolean);
    const grant = form.get('grant_type') ?? '';
    const record = { authorization: req.headers.authorization !== undefined, scopes, status: 200, method: 'POST', grant };
    s.requests.push(record);
    const refresh = form.get('refresh_token') ?? '';
    const user = grant === 'refresh_token' && form.get('client_id') && Object.hasOwn(s.refreshTokens, refresh) ? s.refreshTokens[refresh] : undefined;
    if (new URL(req.url ?? '/', 'http://token').pathname !== '/token' || user === undefined) {
      record.status = 401;
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"invalid_grant"}');
      return;
    }
    Object.assign(record, { user });
    const token = issue(s, user, scopes, form.get('service'));
    // oauth.md: the response carries access_token (not `token`), and scope and expires_in.
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ access_token: token, scope: scopes.join(' '), expires_in: TOKEN_TTL_S, issued_at: new Date().toISOString() }));
  });
}

function handle(req: IncomingMessage, res: ServerResponse, s: Signer): void {
  const url = new URL(req.url ?? '/', 'http://token');
  const scopes = url.searchParams.getAll('scope').flatMap((v) => v.split(' ')).filter(Boolean);
  const user = basicUser(req.headers.authorization, s.users);
  const record = { authorization: req.headers.authorization !== undefined, scopes, status: 200 };
  s.requests.push(record);
  if (url.pathname !== '/token' || user === null || (user === undefined && !s.anonymousPull)) {
    record.status = url.pathname === '/token' ? 401 : 404;
    res.writeHead(record.status, { 'content-type': 'application/json' }).end('{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}');
    return;
  }
  if (user !== undefined) Object.assign(record, { user });
  const token = issue(s, user, scopes, url.searchParams.get('service'));
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ token, access_token: token, expires_in: TOKEN_TTL_S, issued_at: new Date().toISOString() }));
}

/** Signs a token granting `user` (anonymous when undefined: pull only) the actions `scopes` ask for. */
function issue(s: Signer, user: string | undefined, scopes: readonly string[], service: string | null): string {
  const access = scopes.flatMap((scope) => {
    // repository:<name>:<actions>; the name may contain ':' (host:port), so split on the last one
    const m = /^repository:(.+):([a-z,*]+)$/.exec(scope);
    if (!m) return [];
    const wanted = m[2]!.split(',');
    const actions = user === undefined ? wanted.filter((a) => a === 'pull') : wanted;
    return [{ type: 'repository', name: m[1]!, actions }];
  });
  const now = Math.floor(Date.now() / 1000);
  return jwt(s, {
    iss: TOKEN_ISSUER,
    sub: user ?? '',
    aud: service ?? TOKEN_SERVICE,
    exp: now + TOKEN_TTL_S,
    nbf: now - 10,
    iat: now,
    jti: randomBytes(8).toString('hex'),
    access,
  });
}

function jwt(s: Signer, claims: Record<string, unknown>): string {
  const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
  const input = `${b64({ typ: 'JWT', alg: 'ES256', x5c: [s.certDer] })}.${b64(claims)}`;
  // JOSE wants the raw r||s signature, not DER (RFC 7518 §3.4)
  const signature = sign('sha256', Buffer.from(input), { key: s.key, dsaEncoding: 'ieee-p1363' });
  return `${input}.${signature.toString('base64url')}`;
}

/** Returns the user name for valid Basic credentials, undefined without any, null for wrong ones. */
function basicUser(header: string | undefined, users: Record<string, string>): string | undefined | null {
  if (header === undefined) return undefined;
  const m = /^Basic (.+)$/i.exec(header);
  if (!m) return null;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  const user = decoded.slice(0, i);
  return i > 0 && Object.hasOwn(users, user) && users[user] === decoded.slice(i + 1) ? user : null;
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}
