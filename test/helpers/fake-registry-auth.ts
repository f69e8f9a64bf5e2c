/**
 * Auth of the fake registry: Basic against a user table, or Bearer with its own /token endpoint
 * issuing opaque tokens scoped to repositories (distribution spec/auth/token.md, GET flavour).
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export type FakeAuth =
  | { readonly kind: 'basic'; readonly users: Record<string, string> }
  | {
      readonly kind: 'bearer';
      /** Credentials the token endpoint accepts; absent means anyone gets a token. */
      readonly users?: Record<string, string>;
      /** Whether the token endpoint serves requests without credentials (default: true without users). */
      readonly anonymous?: boolean;
      readonly service?: string;
      /** Seconds, as the token response's expires_in. */
      readonly expiresIn?: number;
    };

/** The service name in challenges unless one is given. */
const DEFAULT_SERVICE = 'fake-registry';
/** Token lifetime distribution's token server defaults to (5 minutes). */
const DEFAULT_EXPIRES_IN = 300;

/** Issues and checks credentials for one fake registry. */
export class FakeAuthority {
  private readonly tokens = new Map<string, Set<string>>();
  /** How many tokens /token handed out. */
  tokensIssued = 0;

  constructor(
    private readonly auth: FakeAuth | undefined,
    private readonly tokenUrl: () => string,
  ) {}

  /** Returns whether the request may access `repo` (or the /v2/ ping when undefined). */
  allows(req: IncomingMessage, repo: string | undefined): boolean {
    const auth = this.auth;
    if (!auth) return true;
    const header = req.headers.authorization ?? '';
    if (auth.kind === 'basic') return checkBasic(header, auth.users);
    const m = /^Bearer (.+)$/i.exec(header);
    const grants = m ? this.tokens.get(m[1]!) : undefined;
    if (!grants) return false;
    return repo === undefined || grants.has(repo);
  }

  /** Returns the WWW-Authenticate value for a 401 on `repo`. */
  challenge(repo: string | undefined): string {
    if (!this.auth || this.auth.kind === 'basic') return 'Basic realm="fake-registry"';
    const service = this.auth.service ?? DEFAULT_SERVICE;
    const scope = repo ? `,scope="repository:${repo}:pull"` : '';
    return `Bearer realm="${this.tokenUrl()}",service="${service}"${scope}`;
  }

  /** Answers GET /token: 200 with a token for the requested repository scopes, or 401. */
  issue(req: IncomingMessage, query: URLSearchParams): { status: number; body: unknown } {
    const auth = this.auth;
    if (!auth || auth.kind !== 'bearer') return { status: 404, body: { errors: [{ code: 'UNSUPPORTED', message: 'no token server' }] } };
    const header = req.headers.authorization;
    const anonymous = auth.anonymous ?? auth.users === undefined;
    if (header ? !checkBasic(header, auth.users ?? {}) : !anonymous) {
      return { status: 401, body: { errors: [{ code: 'UNAUTHORIZED', message: 'bad credentials' }] } };
    }
    const grants = new Set<string>();
    for (const scope of query.getAll('scope').flatMap((s) => s.split(' '))) {
      // repository:<name>:<actions>; the name may contain ':' (host:port), so split on the last one
      const m = /^repository:(.+):([a-z,*]+)$/.exec(scope);
      if (m && m[2]!.split(',').some((a) => a === 'pull' || a === '*')) grants.add(m[1]!);
    }
    const token = randomBytes(16).toString('hex');
    this.tokens.set(token, grants);
    this.tokensIssued++;
    const expiresIn = auth.expiresIn ?? DEFAULT_EXPIRES_IN;
    return { status: 200, body: { token, access_token: token, expires_in: expiresIn, issued_at: new Date().toISOString() } };
  }

  /** Forgets every token, so the next request with one gets 401 (an expired or revoked token). */
  revokeTokens(): void {
    this.tokens.clear();
  }
}

function checkBasic(header: string, users: Record<string, string>): boolean {
  const m = /^Basic (.+)$/i.exec(header);
  if (!m) return false;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  if (i < 0) return false;
  const user = decoded.slice(0, i);
  return Object.hasOwn(users, user) && users[user] === decoded.slice(i + 1);
}
