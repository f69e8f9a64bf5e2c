/**
 * The WAN emulator: a loopback TCP proxy in front of the registry that adds one-way latency to each
 * direction, caps each connection's rate and the whole link's rate, and can drop every connection
 * after it has served N bytes. It works per socket read (≤ 64 KiB), never per byte, and never copies
 * payload (Buffer.subarray), so 330 MB through it costs well under a second of CPU.
 *
 * Invariants: bytes of one direction leave in the order they arrived (one FIFO per direction); a
 * chunk leaves no earlier than its arrival + the one-way delay; the first client bytes of a
 * connection also wait one extra RTT, the TCP handshake a real WAN would charge.
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { createTokenBucket, UNLIMITED, type TokenBucket } from './token-bucket.js';

/** How the emulated link behaves. Rates are bytes per second, per direction. */
export interface WanProfile {
  /** Round-trip time; each direction is delayed by half. */
  readonly rttMs: number;
  /** Cap for each connection (like a per-flow limit on a long fat pipe), or undefined for none. */
  readonly connectionRate?: number | undefined;
  /** Cap shared by all connections (the access link), or undefined for none. */
  readonly linkRate?: number | undefined;
  /** Cut a connection (FIN, registry side destroyed) once it has served this many bytes to its client. */
  readonly dropAfterBytes?: number | undefined;
}

/** One HTTP request line seen from a client (the registry speaks plain HTTP on loopback). */
export interface SeenRequest {
  readonly connection: number;
  readonly method: string;
  readonly path: string;
}

/** Counters since start or the last reset. */
export interface WanProxyStats {
  /** Bytes sent to clients (the registry's responses). */
  readonly bytesServed: number;
  /** Bytes forwarded from clients to the registry. */
  readonly bytesReceived: number;
  readonly connectionsOpened: number;
  readonly connectionsDropped: number;
  /** Bytes served per connection, in order of opening. */
  readonly servedPerConnection: readonly number[];
  readonly requests: readonly SeenRequest[];
}

/** A running proxy. */
export interface WanProxy {
  readonly port: number;
  /** A copy of the counters. */
  stats(): WanProxyStats;
  /** Zeroes the counters (between runs); open connections keep working. */
  reset(): void;
  close(): Promise<void>;
}

/** Bytes a direction may hold before its source is paused: the in-flight data of the emulated path
 *  (rate × one-way delay) plus 1 MiB of receive buffer; 8 MiB when the connection is uncapped, about
 *  what Linux's TCP autotuning lets one flow keep in flight. */
function highWaterMark(profile: WanProfile): number {
  if (profile.connectionRate === undefined) return 8 * 1024 * 1024;
  return 1024 * 1024 + Math.ceil((profile.connectionRate * profile.rttMs) / 2000);
}

/** Read size on the registry side; see the onread comment in startWanProxy. */
const READ_BUFFER = 1024 * 1024;

/** Request lines are parsed only from a connection's first bytes; pulls send small requests. */
const MAX_PARSED_REQUEST_BYTES = 1024 * 1024;

/** Mutable counters; a reset swaps in a fresh object, so connections opened earlier update the old one. */
interface Counters {
  bytesServed: number;
  bytesReceived: number;
  connectionsOpened: number;
  connectionsDropped: number;
  servedPerConnection: number[];
  requests: SeenRequest[];
}

/** Starts a proxy on 127.0.0.1 (a free port) that forwards to `target`. */
export async function startWanProxy(
  target: { host: string; port: number },
  profile: WanProfile,
  signal?: AbortSignal,
): Promise<WanProxy> {
  let counters = emptyCounters();
  const linkBucket = (): TokenBucket =>
    profile.linkRate ? createTokenBucket(profile.linkRate, performance.now()) : UNLIMITED;
  const link = { down: linkBucket(), up: linkBucket() };
  const connBucket = (): TokenBucket =>
    profile.connectionRate ? createTokenBucket(profile.connectionRate, performance.now()) : UNLIMITED;
  const live = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
    const upstream: net.Socket = net.connect({
      host: target.host,
      port: target.port,
      allowHalfOpen: true,
      noDelay: true,
      // Read the registry's side in up to 1 MiB gulps instead of Node's 64 KiB: a sixteenth of the
      // read and write syscalls, which are nearly all of the proxy's CPU time. The buffer is reused,
      // so each read is copied out (one memcpy, far cheaper than the syscalls it saves).
      onread: {
        buffer: Buffer.allocUnsafe(READ_BUFFER),
        callback: (n: number, buf: Uint8Array): boolean => {
          upstream.emit('data', Buffer.from(buf.subarray(0, n)));
          return true;
        },
      },
    });
    live.add(client).add(upstream);
    const c = counters;
    const id = c.connectionsOpened++;
    c.servedPerConnection.push(0);
    const kill = (): void => {
      client.destroy();
      upstream.destroy();
    };
    // A client gone entirely leaves the registry's bytes nowhere to go; a registry that closed
    // after its last byte still has delayed bytes queued for the client, so only errors kill it.
    client.on('error', kill).on('close', () => (live.delete(client), upstream.destroy()));
    upstream.on('error', kill).on('close', () => live.delete(upstream));
    const parse = requestParser((method, path) => c.requests.push({ connection: id, method, path }));
    delayedPipe(client, upstream, {
      delayMs: profile.rttMs / 2,
      notBefore: performance.now() + profile.rttMs,
      buckets: [connBucket(), link.up],
      highWater: highWaterMark(profile),
      onChunk: (chunk) => {
        c.bytesReceived += chunk.length;
        parse(chunk);
      },
    });
    delayedPipe(upstream, client, {
      delayMs: profile.rttMs / 2,
      notBefore: 0,
      buckets: [connBucket(), link.down],
      highWater: highWaterMark(profile),
      limit: profile.dropAfterBytes,
      onChunk: (chunk) => {
        c.bytesServed += chunk.length;
        c.servedPerConnection[id]! += chunk.length;
      },
      onLimit: () => {
        // FIN right after the last allowed byte, not RST: a reset can make the client's kernel
        // discard bytes already counted as served. The client sees a body cut short either way.
        c.connectionsDropped += 1;
        client.end();
        upstream.destroy();
      },
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const close = async (): Promise<void> => {
    for (const socket of live) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  signal?.addEventListener('abort', () => void close(), { once: true });
  const address = server.address() as net.AddressInfo;
  return {
    port: address.port,
    stats: () => ({ ...counters, servedPerConnection: [...counters.servedPerConnection], requests: [...counters.requests] }),
    reset: () => {
      counters = emptyCounters();
    },
    close,
  };
}

function emptyCounters(): Counters {
  return { bytesServed: 0, bytesReceived: 0, connectionsOpened: 0, connectionsDropped: 0, servedPerConnection: [], requests: [] };
}

interface PipeOptions {
  readonly delayMs: number;
  /** Earliest arrival time a chunk is treated as having (the handshake RTT for client bytes). */
  readonly notBefore: number;
  readonly buckets: readonly TokenBucket[];
  readonly highWater: number;
  readonly limit?: number | undefined;
  readonly onChunk: (chunk: Buffer) => void;
  readonly onLimit?: () => void;
}

/** Forwards `source` to `dest` through a timestamped FIFO, releasing each chunk when its delay has
 *  passed and every bucket has tokens; pauses `source` above the high-water mark. */
function delayedPipe(source: net.Socket, dest: net.Socket, options: PipeOptions): void {
  const queue: { buf: Buffer; due: number }[] = [];
  let queued = 0;
  let written = 0;
  let ended = false;
  let draining = false;
  let timer: NodeJS.Timeout | undefined;
  // Writes are split to a quarter of the smallest burst (whole reads when unlimited): waiting for a
  // full burst would leave the bucket capped on wake-up, and a late timer would then lose link time.
  const maxWrite = Math.min(...options.buckets.map((b) => b.burst / 4));

  const schedule = (ms: number): void => {
    if (timer === undefined) timer = setTimeout(() => ((timer = undefined), pump()), Math.max(1, Math.ceil(ms)));
  };
  const pump = (): void => {
    while (queue.length > 0 && !draining && !dest.destroyed) {
      const head = queue[0]!;
      const now = performance.now();
      if (head.due > now) return schedule(head.due - now);
      let wanted = Math.min(head.buf.length, maxWrite);
      if (options.limit !== undefined) wanted = Math.min(wanted, options.limit - written);
      const allowed = Math.min(...options.buckets.map((b) => b.available(wanted, now)));
      if (allowed < wanted) return schedule(Math.max(...options.buckets.map((b) => b.waitFor(wanted, now))));
      const piece = head.buf.subarray(0, wanted);
      if (wanted === head.buf.length) queue.shift();
      else head.buf = head.buf.subarray(wanted);
      queued -= wanted;
      written += wanted;
      for (const b of options.buckets) b.take(wanted, now);
      options.onChunk(piece);
      // Resume inside the loop: pump usually leaves early to wait for tokens or the delay.
      if (queued < options.highWater / 2 && source.isPaused()) source.resume();
      const ok = dest.write(piece);
      if (options.limit !== undefined && written >= options.limit) return options.onLimit?.();
      if (!ok) {
        draining = true;
        dest.once('drain', () => ((draining = false), pump()));
      }
    }
    if (queued < options.highWater / 2 && source.isPaused()) source.resume();
    if (queue.length === 0 && ended && !dest.destroyed) dest.end();
  };

  source.on('data', (chunk: Buffer) => {
    const arrived = Math.max(performance.now(), options.notBefore);
    queue.push({ buf: chunk, due: arrived + options.delayMs });
    queued += chunk.length;
    if (queued > options.highWater) source.pause();
    pump();
  });
  source.on('end', () => {
    ended = true;
    pump();
  });
  source.on('close', () => {
    if (!ended && timer !== undefined) clearTimeout(timer);
  });
}

/** Collects `METHOD path HTTP/1.x` lines from the first bytes a client sends. */
function requestParser(onRequest: (method: string, path: string) => void): (chunk: Buffer) => void {
  let carry = '';
  let seen = 0;
  return (chunk) => {
    if (seen > MAX_PARSED_REQUEST_BYTES) return;
    seen += chunk.length;
    const lines = (carry + chunk.toString('latin1')).split('\r\n');
    carry = (lines.pop() ?? '').slice(-8192);
    for (const line of lines) {
      const match = /^([A-Z]+) (\S+) HTTP\/1\.[01]$/.exec(line);
      if (match) onRequest(match[1]!, match[2]!);
    }
  };
}
