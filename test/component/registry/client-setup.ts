/** Builds a real RegistryClient over a real undici Agent, with time injected (test helper). */
import type { RunContext } from '../../../src/context.js';
import { createRegistryClient } from '../../../src/registry/client.js';
import type { CredentialLookup, RegistryClient } from '../../../src/registry/types.js';
import { createUndiciSend } from '../../../src/registry/undici-send.js';

export interface TestClient {
  readonly client: RegistryClient;
  /** Every sleep the retry middleware asked for, in ms; nothing really sleeps. */
  readonly slept: number[];
  close(): Promise<void>;
}

/** Returns a client for `registry` whose sleeps are recorded instead of waited. */
export function newClient(registry: string, credentials?: CredentialLookup): TestClient {
  const slept: number[] = [];
  const ctx: RunContext = {
    emit: () => {},
    signal: new AbortController().signal,
    now: () => performance.now(),
    sleep: async (ms) => void slept.push(ms),
    random: () => 0.5,
  };
  const { send, close } = createUndiciSend({ connections: 8 });
  const client = createRegistryClient(registry, { send, ctx }, { userAgent: 'dray-test', ...(credentials ? { credentials } : {}) });
  return { client, slept, close };
}
