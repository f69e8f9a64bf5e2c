/**
 * The docker-credential-helpers protocol, `get` only (ecosystem.md §4.2): run `docker-credential-NAME
 * get` (no shell), the server URL on stdin, `{"ServerURL","Username","Secret"}` on stdout; exit status 1
 * with "credentials not found in native keychain" on stdout means "none". A helper's stderr (and any
 * unknown stdout) is never repeated: helpers print tokens and keychain dumps when they fail, so failures
 * are summarised by exit status and the user is told how to see the message themselves.
 */
import { spawn } from 'node:child_process';
import { AbortedError, CredentialsError, errorCode } from '../errors.js';
import type { Credentials } from '../registry/types.js';

/** A helper that has not answered by then is stuck (a keychain prompt with no one to answer it): docker waits forever; we give up. */
export const DEFAULT_HELPER_TIMEOUT_MS = 30_000;
/** Credential JSON is a few hundred bytes; cap what we keep so a runaway helper cannot fill memory. */
const DEFAULT_HELPER_OUTPUT_LIMIT = 1024 * 1024;
/** docker-credential-helpers credentials/error.go errCredentialsNotFoundMessage. */
const NOT_FOUND_MESSAGE = 'credentials not found in native keychain';
/** cli native_store.go tokenUsername: the Secret is an identity (refresh) token. */
const TOKEN_USERNAME = '<token>';

export interface HelperOptions {
  /** Where the helper was configured, for messages: "credHelpers in /home/u/.docker/config.json". */
  readonly configuredIn: string;
  /** The helper's environment (PATH finds it); undefined inherits this process's. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  /**
   * Called instead of failing when the helper is not on PATH; the answer is then "none". A credsStore
   * copied from another machine ("desktop") must not break anonymous pulls, docker's best-known
   * credential complaint; the chain names the missing helper in its hint instead.
   */
  readonly onMissing?: (label: string) => void;
}

/** Asks `docker-credential-<name>` for `serverUrl`'s credentials; undefined when it has none. */
export async function runCredentialHelper(name: string, serverUrl: string, options: HelperOptions): Promise<Credentials | undefined> {
  const program = `docker-credential-${name}`;
  const label = `${program} (${options.configuredIn})`;
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) {
    throw new CredentialsError(`credential helper name "${name}" in ${options.configuredIn} is not a plain name`, { hint: 'helper names are suffixes such as "desktop" or "ecr-login", run as docker-credential-<name> from PATH' });
  }
  const result = await run(program, serverUrl, options);
  if (result.kind === 'missing' && options.onMissing !== undefined) {
    options.onMissing(label);
    return undefined;
  }
  if (result.kind === 'missing') {
    throw new CredentialsError(`${label} is not on PATH`, { hint: `install ${program}, or remove it from ${options.configuredIn}` });
  }
  if (result.kind === 'timeout') {
    throw new CredentialsError(`${label} did not answer within ${Math.round((options.timeoutMs ?? DEFAULT_HELPER_TIMEOUT_MS) / 1000)} s`, { hint: 'a helper waiting for a keychain prompt cannot be answered here; unlock the keychain or pass --creds' });
  }
  if (result.code !== 0) {
    if (result.stdout.trim() === NOT_FOUND_MESSAGE) return undefined;
    throw new CredentialsError(`${label} failed for ${serverUrl} (exit status ${result.code})`, {
      hint: `its output is not shown because it may hold secrets; run: echo ${serverUrl} | ${program} get`,
    });
  }
  return parseHelperAnswer(result.stdout, label);
}

/** Parses a `get` answer; an empty Username and Secret means "none". */
export function parseHelperAnswer(stdout: string, label: string): Credentials | undefined {
  let body: { Username?: unknown; Secret?: unknown };
  try {
    body = JSON.parse(stdout) as typeof body;
  } catch {
    throw new CredentialsError(`${label} answered something other than credentials JSON`, { hint: 'check that the helper implements the docker-credential-helpers "get" action' });
  }
  const username = typeof body?.Username === 'string' ? body.Username : '';
  const secret = typeof body?.Secret === 'string' ? body.Secret : '';
  if (username === '' && secret === '') return undefined;
  if (username === TOKEN_USERNAME) return { identityToken: secret, source: label };
  return { username, password: secret, source: label };
}

type RunResult = { kind: 'exited'; code: number; stdout: string } | { kind: 'missing' } | { kind: 'timeout' };

function run(program: string, serverUrl: string, options: HelperOptions): Promise<RunResult> {
  if (options.signal?.aborted) return Promise.reject(new AbortedError('interrupted'));
  return new Promise((resolve, reject) => {
    const child = spawn(program, ['get'], {
      stdio: ['pipe', 'pipe', 'ignore'], // stderr is dropped: it is never shown, see the module comment
      ...(options.env === undefined ? {} : { env: definedOnly(options.env) }),
      windowsHide: true,
    });
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const finish = (value: RunResult | Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      if (value instanceof Error) reject(value);
      else resolve(value);
    };
    const onAbort = (): void => {
      child.kill('SIGKILL');
      finish(new AbortedError('interrupted'));
    };
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish({ kind: 'timeout' });
    }, options.timeoutMs ?? DEFAULT_HELPER_TIMEOUT_MS);
    timer.unref();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= DEFAULT_HELPER_OUTPUT_LIMIT) chunks.push(chunk);
    });
    child.on('error', (err) => {
      if (errorCode(err) === 'ENOENT') finish({ kind: 'missing' });
      else finish(new CredentialsError(`${program} could not be started (${errorCode(err) ?? 'error'})`, { cause: err }));
    });
    child.on('close', (code) => finish({ kind: 'exited', code: code ?? -1, stdout: Buffer.concat(chunks).toString('utf8') }));
    child.stdin.on('error', () => {}); // a helper that exits without reading stdin is judged by its exit status
    child.stdin.end(serverUrl); // as docker's client sends it: no newline
  });
}

function definedOnly(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  return out;
}
