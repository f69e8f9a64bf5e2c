/**
 * The ordered credential sources of a run (docs/registries.md "Credentials"): `--creds` first, then
 * each credentials file in turn (see defaultCredentialFiles); the first source with an answer wins.
 * Within a file: `credHelpers` for the registry, else `credsStore`, else `auths` — a helper's "not
 * found" falls through to `auths`. Files are read once, lazily; each helper is asked once per server.
 */
import type { CredentialLookup, Credentials } from '../registry/types.js';
import { firstMatch, helperServerUrl, lookupKeys, readAuthFile, type AuthFile } from './auth-file.js';
import { runCredentialHelper } from './cred-helper.js';

export interface CredentialChainOptions {
  /** `--creds` (with the password from stdin when `--password-stdin`): used for every registry of the run. */
  readonly flag?: { readonly username: string; readonly password: string; readonly source: string };
  /** Credential files, highest precedence first (missing files are skipped). */
  readonly files?: readonly string[];
  /** Environment for credential helpers (PATH finds them); undefined inherits this process's. */
  readonly helperEnv?: Readonly<Record<string, string | undefined>>;
  readonly helperTimeoutMs?: number;
  readonly signal?: AbortSignal;
}

/** Returns the lookup; its `searched` lists every source (and any missing helper), for the "no credentials" hint. */
export function createCredentialChain(options: CredentialChainOptions): CredentialLookup {
  const files = [...new Set(options.files ?? [])];
  const loaded = new Map<string, Promise<AuthFile | undefined>>();
  const helperAnswers = new Map<string, Promise<Credentials | undefined>>();
  /** Helpers that were configured but not found: skipped, and named in the "no credentials" hint. */
  const notes: string[] = [];
  const load = (path: string): Promise<AuthFile | undefined> => {
    let pending = loaded.get(path);
    if (pending === undefined) {
      pending = readAuthFile(path, options.signal);
      loaded.set(path, pending);
    }
    return pending;
  };
  const askHelper = (name: string, serverUrl: string, configuredIn: string): Promise<Credentials | undefined> => {
    const key = `${name}\n${serverUrl}`;
    let pending = helperAnswers.get(key);
    if (pending === undefined) {
      pending = runCredentialHelper(name, serverUrl, {
        configuredIn,
        onMissing: (label) => notes.push(`${label} is not on PATH`),
        ...(options.helperEnv ? { env: options.helperEnv } : {}),
        ...(options.helperTimeoutMs !== undefined ? { timeoutMs: options.helperTimeoutMs } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      });
      helperAnswers.set(key, pending);
    }
    return pending;
  };

  const fromFile = async (file: AuthFile, registry: string, repository: string | undefined): Promise<Credentials | undefined> => {
    const keys = lookupKeys(registry, repository);
    const perRegistry = firstMatch(file.credHelpers, keys);
    const helper = perRegistry ?? file.credsStore;
    if (helper !== undefined) {
      const configuredIn = `${perRegistry !== undefined ? 'credHelpers' : 'credsStore'} in ${file.path}`;
      const answer = await askHelper(helper, helperServerUrl(registry), configuredIn);
      if (answer !== undefined) return answer;
    }
    return firstMatch(file.auths, keys);
  };

  const lookup = async (registry: string, repository?: string): Promise<Credentials | undefined> => {
    if (options.flag !== undefined) return { username: options.flag.username, password: options.flag.password, source: options.flag.source };
    for (const path of files) {
      const file = await load(path);
      if (file === undefined) continue;
      const found = await fromFile(file, registry, repository);
      if (found !== undefined) return found;
    }
    return undefined;
  };
  const searched = options.flag !== undefined ? [options.flag.source] : files;
  return Object.defineProperty(lookup, 'searched', { get: () => [...searched, ...notes], enumerable: true }) as CredentialLookup;
}
