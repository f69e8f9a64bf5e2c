/**
 * Debian's docker-registry (CNCF distribution 2.8) as a child process for integration tests: a free
 * loopback port, a temp storage dir (filesystem driver), optional htpasswd auth, logs kept in memory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { hashSync } from 'bcryptjs';
import { afterAll, beforeAll } from 'vitest';
import { startTokenServer, TOKEN_ISSUER, TOKEN_SERVICE, type TokenServer } from './token-server.js';

/** Debian's package installs the registry binary here. */
const REGISTRY_BIN = '/usr/bin/docker-registry';
/** How long the registry may take to answer /v2/ after spawning; it usually takes well under a second. */
const DEFAULT_START_TIMEOUT_MS = 20_000;
/** bcrypt cost for htpasswd: distribution accepts only bcrypt; the minimum cost keeps tests fast. */
const BCRYPT_COST = 4;

export interface RegistryServerOptions {
  /**
   * basic: htpasswd. token: distribution's `auth.token` with a test token server issuing JWTs
   * (users get pull+push; anonymous gets pull when `anonymousPull`).
   */
  readonly auth?:
    | { kind: 'basic'; users: Record<string, string> }
    | { kind: 'token'; users: Record<string, string>; anonymousPull?: boolean; refreshTokens?: Record<string, string> };
  readonly startTimeoutMs?: number;
  /** Serve HTTPS with this PEM certificate and key (files); `url` is then https://, and readiness skips verification. */
  readonly tls?: { readonly certificate: string; readonly key: string; readonly clientCas?: readonly string[] };
  /** Serve another registry's storage (read it; it is not removed on stop): a second registry holding the same images. */
  readonly storageDir?: string;
}

export interface RegistryServer {
  /** "127.0.0.1:PORT", as an image reference host. */
  readonly host: string;
  /** "http://127.0.0.1:PORT". */
  readonly url: string;
  readonly storageDir: string;
  stop(): Promise<void>;
  /** Everything the registry wrote to stdout and stderr so far. */
  logs(): string;
  /** With token auth: the token server (its realm and the requests it saw). */
  readonly tokenServer?: TokenServer;
}

/** Returns a free TCP port on 127.0.0.1 (bound, read, released). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port from net server');
  return address.port;
}

type AuthConfig = { htpasswd: string } | { token: TokenServer } | undefined;

function registryConfig(port: number, storageDir: string, auth: AuthConfig, tls?: RegistryServerOptions['tls']): string {
  const lines = [
    'version: 0.1',
    'log:',
    '  level: info',
    '  formatter: text',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${storageDir}`,
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    // a fixed secret silences the "No HTTP secret provided" warning; it only signs upload state
    '  secret: dray-test-secret',
    ...(tls ? ['  tls:', `    certificate: ${tls.certificate}`, `    key: ${tls.key}`] : []),
    ...(tls?.clientCas ? ['    clientcas:', ...tls.clientCas.map((ca) => `      - ${ca}`)] : []),
  ];
  if (auth && 'htpasswd' in auth) lines.push('auth:', '  htpasswd:', '    realm: dray-test', `    path: ${auth.htpasswd}`);
  if (auth && 'token' in auth) {
    lines.push('auth:', '  token:', `    realm: ${auth.token.realm}`, `    service: ${TOKEN_SERVICE}`, `    issuer: ${TOKEN_ISSUER}`, `    rootcertbundle: ${auth.token.certPath}`);
  }
  return lines.join('\n') + '\n';
}

/** Starts a registry and resolves once /v2/ answers (200, or 401 with auth). */
export async function startRegistry(options: RegistryServerOptions = {}): Promise<RegistryServer> {
  const dir = await mkdtemp(join(tmpdir(), 'dray-registry-'));
  const storageDir = options.storageDir ?? join(dir, 'storage');
  const auth = await prepareAuth(dir, options.auth);
  const port = await freePort();
  const configPath = join(dir, 'config.yml');
  await writeFile(configPath, registryConfig(port, storageDir, auth, options.tls));
  const output: string[] = [];
  const child = spawn(REGISTRY_BIN, ['serve', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (b: Buffer) => output.push(b.toString()));
  child.stderr.on('data', (b: Buffer) => output.push(b.toString()));
  const url = `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  const tokenServer = auth && 'token' in auth ? auth.token : undefined;
  const stop = async (): Promise<void> => {
    await killChild(child);
    await tokenServer?.close();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await (options.tls ? waitTlsReady(port, child, options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS) : waitReady(url, child, options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS));
  } catch (err) {
    await stop();
    throw new Error(`docker-registry did not start: ${(err as Error).message}\n${output.join('')}`, { cause: err });
  }
  return { host: `127.0.0.1:${port}`, url, storageDir, stop, logs: () => output.join(''), ...(tokenServer ? { tokenServer } : {}) };
}

async function prepareAuth(dir: string, auth: RegistryServerOptions['auth']): Promise<AuthConfig> {
  if (!auth) return undefined;
  if (auth.kind === 'token') {
    return { token: await startTokenServer(dir, auth.users, { anonymousPull: auth.anonymousPull ?? false, ...(auth.refreshTokens ? { refreshTokens: auth.refreshTokens } : {}) }) };
  }
  const htpasswd = join(dir, 'htpasswd');
  const entries = Object.entries(auth.users).map(([user, pass]) => `${user}:${hashSync(pass, BCRYPT_COST)}`);
  await writeFile(htpasswd, entries.join('\n') + '\n');
  return { htpasswd };
}

async function waitReady(url: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`exited with code ${child.exitCode}`);
    try {
      const res = await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.status === 200 || res.status === 401) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`/v2/ did not answer within ${timeoutMs} ms`);
}

/** HTTPS readiness without trusting the test CA globally: a TLS handshake that completes. */
async function waitTlsReady(port: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`exited with code ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`TLS on port ${port} did not answer within ${timeoutMs} ms`);
}

async function killChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/**
 * Starts a registry in beforeAll and stops it in afterAll; returns a getter, since the handle only
 * exists once beforeAll has run.
 */
export function useRegistry(options: RegistryServerOptions = {}): () => RegistryServer {
  let server: RegistryServer | undefined;
  beforeAll(async () => {
    server = await startRegistry(options);
  });
  afterAll(async () => {
    await server?.stop();
  });
  return () => {
    if (!server) throw new Error('useRegistry(): the registry is not started yet (use it inside a test or hook)');
    return server;
  };
}
