/**
 * A run's shared resources: one cache, one HTTP agent, one registry client per host, one transfer
 * manager (DESIGN.md §1: one run, one scheduler), so every image of a run shares the connection budget
 * and a blob common to several images is fetched once.
 */
import { openBlobStore } from './cache/fs-store.js';
import type { BlobStore } from './cache/types.js';
import type { RunContext } from './context.js';
import { createCredentialLookup } from './auth/docker-config.js';
import type { Descriptor } from './oci/descriptor.js';
import type { CredentialLookup, RegistryClient } from './registry/types.js';
import { openNetwork, type NetworkOptions } from './config/network.js';
import { createTransferManager } from './transfer/manager.js';
import type { BlobSource, TransferManager } from './transfer/types.js';
import type { ImageRef } from './reference/types.js';
import type { TransferOptions } from './transfer/options.js';
import { withCachedManifests, type PullPolicy } from './image/cached-manifests.js';
import { NotFoundError } from './errors.js';

export interface SessionOptions {
  readonly cacheDir: string;
  /** Cache lock stale time (default 10 s); every process sharing the cache must use the same. Tests lower it. */
  readonly lockStaleMs?: number;
  /** "user:pass" from --creds. */
  readonly creds?: string;
  /** Path of docker's config.json (the CLI resolves DOCKER_CONFIG / ~/.docker). */
  readonly dockerConfigPath?: string;
  /** The run's credential lookup (auth/credential-chain.ts); when given, `creds` and `dockerConfigPath` are not used. */
  readonly credentials?: CredentialLookup;
  /** true: every host; a list: those hosts (host[:port]). */
  readonly insecure?: boolean | readonly string[];
  /** TLS material, mirrors, proxies, --max-wait (config/network.ts); nothing under /etc is read unless named here. */
  readonly network?: NetworkOptions;
  readonly transfer?: Partial<TransferOptions>;
  readonly userAgent?: string;
  /** always (default): one HEAD per tag; missing: tags already in refs/ stay offline; never: no network. */
  readonly pullPolicy?: PullPolicy;
}

export interface Session {
  readonly store: BlobStore;
  readonly transfer: TransferManager;
  client(registry: string): RegistryClient;
  blobSource(ref: ImageRef): BlobSource;
  close(): Promise<void>;
}

/** Opens the cache and sets up the shared HTTP and transfer machinery of one run. */
export async function openSession(ctx: RunContext, options: SessionOptions): Promise<Session> {
  // Side by side: both read and write small files, and a small pull waits for them before its first request.
  const opening = [
    openBlobStore(options.cacheDir, options.lockStaleMs !== undefined ? { lockStaleMs: options.lockStaleMs } : {}),
    openNetwork(ctx, options.network ?? {}, options.insecure ?? false),
  ] as const;
  const [storeResult, networkResult] = await Promise.allSettled(opening);
  if (storeResult.status === 'rejected') {
    if (networkResult.status === 'fulfilled') await networkResult.value.close();
    throw storeResult.reason;
  }
  if (networkResult.status === 'rejected') throw networkResult.reason;
  const store = storeResult.value;
  const network = networkResult.value;
  const credentials = options.credentials ?? createCredentialLookup({
    ...(options.creds !== undefined ? { creds: options.creds } : {}),
    ...(options.dockerConfigPath !== undefined ? { dockerConfigPath: options.dockerConfigPath } : {}),
  });
  const clients = new Map<string, RegistryClient>();
  const policy = options.pullPolicy ?? 'always';
  const client = (registry: string): RegistryClient => {
    const existing = clients.get(registry);
    if (existing) return existing;
    const remote = network.client(registry, {
      credentials,
      ...(options.userAgent !== undefined ? { userAgent: options.userAgent } : {}),
    });
    const created = withCachedManifests(remote, store, policy);
    clients.set(registry, created);
    return created;
  };
  const maxWait = options.network?.maxWaitMs;
  // --max-wait also caps the Retry-After the transfer engine sleeps through for blobs
  const transfer = createTransferManager({ store, ctx }, { ...(maxWait !== undefined ? { maxRetryAfterMs: maxWait } : {}), ...options.transfer });
  return {
    store,
    transfer,
    client,
    blobSource: (ref) => {
      const c = client(ref.registry);
      return {
        key: ref.registry,
        open: async (desc: Descriptor, openOptions) => {
          if (policy === 'never') {
            throw new NotFoundError({ method: 'GET', url: `cache:${desc.digest}` }, 404, [], {
              message: `blob ${desc.digest} of ${ref.toString()} is not in the cache and --pull never forbids the network`,
              hint: 'pull it once with network access, or use --pull missing',
            });
          }
          return c.openBlob(ref.repository, desc.digest, openOptions);
        },
      };
    },
    close: () => network.close(),
  };
}
