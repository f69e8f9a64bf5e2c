/**
 * An in-process fake registry for component tests: a real node:http server on 127.0.0.1:0 serving
 * the distribution API subset pullers use (ping, manifests HEAD/GET, blobs HEAD/GET with Range, tags
 * list, a /token endpoint), with fault switches changeable at runtime and a log of every request.
 * A second server plays blob storage for cross-origin redirects and records whether Authorization
 * ever reached it.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { computeDigest, type Digest } from '../../src/oci/digest.js';
import { FakeAuthority, type FakeAuth } from './fake-registry-auth.js';
import { serveBlob, writeHead, type FakeRequest } from './fake-registry-body.js';
import { corruptBytes, FaultCounter, matchStatusFault, retryAfterValue, type FakeRegistryFaults } from './fake-registry-faults.js';
import type { BuiltImage, BuiltIndex } from './image-builder.js';

export type { FakeRequest } from './fake-registry-body.js';
export type { BodyFault, FakeRegistryFaults, StatusFault } from './fake-registry-faults.js';
export type { FakeAuth } from './fake-registry-auth.js';

export interface FakeRegistryOptions {
  readonly auth?: FakeAuth;
  readonly faults?: FakeRegistryFaults;
}

interface Repo {
  readonly blobs: Map<string, Uint8Array>;
  readonly manifests: Map<string, { bytes: Uint8Array; mediaType: string }>;
  readonly tags: Map<string, string>;
}

const ROUTE = /^\/v2\/(.+)\/(manifests|blobs|tags)\/([^/]+)$/;
const STORAGE_ROUTE = /^\/storage\/(.+)\/(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;

/** A running fake registry; see startFakeRegistry. */
export class FakeRegistry {
  /** Current fault switches; assign a new object to change them (counters restart with it). */
  faults: FakeRegistryFaults;
  /** Every request to the registry and to its storage server, in arrival order. */
  readonly requests: FakeRequest[] = [];
  readonly url: string;
  /** "127.0.0.1:PORT", as an image reference host. */
  readonly host: string;
  /** Origin of the second (storage) server used for cross-origin redirects. */
  readonly storageUrl: string;
  private readonly repos = new Map<string, Repo>();
  private readonly counter = new FaultCounter();
  private readonly sockets = new Set<Socket>();
  private readonly authority: FakeAuthority;

  private constructor(
    private readonly server: Server,
    private readonly storage: Server,
    options: FakeRegistryOptions,
  ) {
    this.faults = options.faults ?? {};
    this.url = originOf(server);
    this.host = this.url.slice('http://'.length);
    this.storageUrl = originOf(storage);
    this.authority = new FakeAuthority(options.auth, () => `${this.url}/token`);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => void this.handle('registry', req, res));
    storage.on('request', (req: IncomingMessage, res: ServerResponse) => void this.handle('storage', req, res));
    for (const s of [server, storage]) {
      s.on('connection', (socket: Socket) => {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
      });
    }
  }

  /** Starts both servers on free loopback ports. */
  static async start(options: FakeRegistryOptions = {}): Promise<FakeRegistry> {
    const [server, storage] = await Promise.all([listen(), listen()]);
    return new FakeRegistry(server, storage, options);
  }

  /** Whether any request to a storage URL (either origin) carried Authorization. */
  get storageSawAuthorization(): boolean {
    return this.storageRequests.some((r) => r.authorization);
  }

  /** Requests that reached a storage URL (redirect targets), on either server. */
  get storageRequests(): FakeRequest[] {
    return this.requests.filter((r) => r.server === 'storage' || r.path.startsWith('/storage/'));
  }

  /** How many tokens the /token endpoint issued. */
  get tokensIssued(): number {
    return this.authority.tokensIssued;
  }

  /** Forgets every issued token: the next request bearing one gets 401. */
  revokeTokens(): void {
    this.authority.revokeTokens();
  }

  /** Seeds an image (blobs + manifest) or an index (every image, then the index) into `repo`. */
  seed(repo: string, built: BuiltImage | BuiltIndex, tag?: string): Digest {
    if ('images' in built) for (const image of built.images) this.seed(repo, image);
    else for (const [digest, bytes] of built.blobs) this.seedBlob(repo, bytes, digest);
    return this.seedManifest(repo, built.manifest.bytes, built.manifest.mediaType, tag);
  }

  /** Stores a blob (under its digest unless told otherwise — a wrong one serves mismatched bytes). */
  seedBlob(repo: string, bytes: Uint8Array, digest: string = computeDigest(bytes)): Digest {
    this.repo(repo).blobs.set(digest, bytes);
    return digest as Digest;
  }

  /** Stores a manifest by its digest and, when given, under a tag. */
  seedManifest(repo: string, bytes: Uint8Array, mediaType: string, tag?: string): Digest {
    const digest = computeDigest(bytes);
    const r = this.repo(repo);
    r.manifests.set(digest, { bytes, mediaType });
    if (tag !== undefined) r.tags.set(tag, digest);
    return digest;
  }

  /** Registry-side blob GETs, optionally of one digest (redirected storage fetches are not counted). */
  blobGets(digest?: string): FakeRequest[] {
    return this.requests.filter((r) => r.server === 'registry' && r.method === 'GET' && r.path.includes(`/blobs/${digest ?? ''}`));
  }

  /** Body bytes written across all requests, both servers. */
  bytesServed(): number {
    return this.requests.reduce((sum, r) => sum + r.bytesSent, 0);
  }

  /** Stops both servers, destroying open (stalled, slow, keep-alive) connections. */
  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await Promise.all([this.server, this.storage].map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }

  private repo(name: string): Repo {
    let r = this.repos.get(name);
    if (!r) this.repos.set(name, (r = { blobs: new Map(), manifests: new Map(), tags: new Map() }));
    return r;
  }

  private async handle(server: 'registry' | 'storage', req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = req.url ?? '/';
    const method = req.method ?? 'GET';
    const entry: FakeRequest = {
      server,
      method,
      path,
      ...(req.headers.range ? { range: req.headers.range } : {}),
      authorization: req.headers.authorization !== undefined,
      status: 0,
      bytesSent: 0,
      time: Date.now(),
    };
    this.requests.push(entry);
    try {
      await this.route(req, res, entry);
    } catch (err) {
      if (!res.headersSent) sendJson(res, entry, 500, { errors: [{ code: 'UNKNOWN', message: String(err) }] });
      else res.destroy();
    }
  }

  private async route(req: IncomingMessage, res: ServerResponse, entry: FakeRequest): Promise<void> {
    const url = new URL(entry.path, 'http://fake');
    const storage = STORAGE_ROUTE.exec(url.pathname);
    if (storage) return this.serveStorage(req, res, entry, storage[1]!, storage[2]!);
    if (entry.server === 'storage') return sendJson(res, entry, 404, { errors: [{ code: 'NOT_FOUND', message: 'storage path' }] });
    if (url.pathname === '/token') {
      if (this.sendStatusFault(res, entry)) return;
      const { status, body } = this.authority.issue(req, url.searchParams);
      return sendJson(res, entry, status, body);
    }
    const m = ROUTE.exec(url.pathname);
    if (url.pathname !== '/v2/' && !m) return sendJson(res, entry, 404, { errors: [{ code: 'NOT_FOUND', message: 'no such endpoint' }] });
    const repoName = m?.[1];
    if (!this.authority.allows(req, repoName)) {
      res.setHeader('www-authenticate', this.authority.challenge(repoName));
      return sendJson(res, entry, 401, { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] });
    }
    if (this.sendStatusFault(res, entry)) return;
    if (!m) return sendJson(res, entry, 200, {});
    // read-only: pullers never write, and a PUT answered like a GET would hide a test's mistake
    if (entry.method !== 'GET' && entry.method !== 'HEAD') return sendJson(res, entry, 405, notFound('UNSUPPORTED'));
    const repo = this.repos.get(repoName!);
    const [, , kind, ref] = m as unknown as [string, string, string, string];
    if (kind === 'manifests') return this.serveManifest(req, res, entry, repo, ref);
    if (kind === 'tags') return sendJson(res, entry, repo ? 200 : 404, repo ? { name: repoName, tags: [...repo.tags.keys()].sort() } : notFound('NAME_UNKNOWN'));
    const blob = repo?.blobs.get(ref);
    if (!blob) return sendJson(res, entry, 404, notFound('BLOB_UNKNOWN'));
    if (this.faults.redirectBlobs && req.method === 'GET') {
      const origin = this.faults.redirectBlobs === 'cross-origin' ? this.storageUrl : this.url;
      // presigned-URL look: the query carries the "signature", so the target needs no Authorization
      writeHead(res, entry, 307, { location: `${origin}/storage/${repoName}/${ref}?X-Amz-Signature=fake`, 'content-length': 0 });
      return void res.end();
    }
    return serveBlob(req, res, { faults: this.faults, counter: this.counter, entry }, ref, blob);
  }

  private async serveStorage(req: IncomingMessage, res: ServerResponse, entry: FakeRequest, repoName: string, digest: string): Promise<void> {
    if (this.faults.storageRejectsAuthorization && entry.authorization) {
      writeHead(res, entry, 400, { 'content-type': 'application/xml' });
      return void res.end('<Error><Code>InvalidArgument</Code><Message>Only one auth mechanism allowed</Message></Error>');
    }
    if (this.sendStatusFault(res, entry)) return;
    const blob = this.repos.get(repoName)?.blobs.get(digest);
    if (!blob) return sendJson(res, entry, 404, notFound('BLOB_UNKNOWN'));
    return serveBlob(req, res, { faults: this.faults, counter: this.counter, entry }, digest, blob);
  }

  private serveManifest(req: IncomingMessage, res: ServerResponse, entry: FakeRequest, repo: Repo | undefined, ref: string): void {
    const digest = ref.includes(':') ? ref : repo?.tags.get(ref);
    const manifest = digest ? repo?.manifests.get(digest) : undefined;
    if (!digest || !manifest) return sendJson(res, entry, 404, notFound('MANIFEST_UNKNOWN'));
    const bytes = this.faults.corrupt?.includes(digest) ? corruptBytes(manifest.bytes) : manifest.bytes;
    const headers: Record<string, string | number> = { 'content-type': manifest.mediaType, 'content-length': bytes.byteLength };
    if (!this.faults.omitDigestHeader) headers['docker-content-digest'] = digest;
    writeHead(res, entry, 200, headers);
    if (req.method === 'HEAD') return void res.end();
    entry.bytesSent = bytes.byteLength;
    res.end(bytes);
  }

  private sendStatusFault(res: ServerResponse, entry: FakeRequest): boolean {
    const fault = matchStatusFault(this.faults, this.counter, entry.method, entry.path);
    if (!fault) return false;
    if (fault.retryAfter !== undefined) res.setHeader('retry-after', retryAfterValue(fault.retryAfter));
    for (const [name, value] of Object.entries(fault.headers ?? {})) res.setHeader(name, value);
    const code = fault.status === 429 ? 'TOOMANYREQUESTS' : 'UNAVAILABLE';
    if (fault.body !== undefined) {
      writeHead(res, entry, fault.status, { 'content-type': 'text/plain' });
      res.end(fault.body);
    } else sendJson(res, entry, fault.status, { errors: [{ code, message: `fault: ${fault.status}` }] });
    return true;
  }
}

/** Starts a fake registry (and its storage server) on free loopback ports. */
export function startFakeRegistry(options: FakeRegistryOptions = {}): Promise<FakeRegistry> {
  return FakeRegistry.start(options);
}

function notFound(code: string): unknown {
  return { errors: [{ code, message: code.toLowerCase().replace('_', ' ') }] };
}

function sendJson(res: ServerResponse, entry: FakeRequest, status: number, body: unknown): void {
  const bytes = Buffer.from(JSON.stringify(body));
  writeHead(res, entry, status, { 'content-type': 'application/json', 'content-length': bytes.byteLength });
  // HEAD responses carry no body (the Content-Length says what a GET would get)
  if (entry.method === 'HEAD') return void res.end();
  entry.bytesSent = bytes.byteLength;
  res.end(bytes);
}

async function listen(): Promise<Server> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return server;
}

function originOf(server: Server): string {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('server has no TCP address');
  return `http://127.0.0.1:${address.port}`;
}
