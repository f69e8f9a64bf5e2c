/**
 * TCP connections opened before dray's code has loaded (bin/dray.js → cli/preconnect.ts) and handed to
 * the first requests to the same origin. A new connection costs a round trip before its first request
 * can leave; opened ahead, that round trip overlaps the ~0.1 s Node spends loading the bundle. Only TCP
 * is opened early: TLS is negotiated over the socket when it is taken, with the settings the run
 * resolves for the host, so verification is exactly that of a connection opened later.
 */
import { lookup, type LookupAddress } from 'node:dns';
import net from 'node:net';

/** Where to connect early: the origin of the run's first request. */
export interface EarlyTarget {
  readonly protocol: 'http:' | 'https:';
  /** Without IPv6 brackets. */
  readonly hostname: string;
  readonly port: number;
}

export interface EarlyConnections {
  /** A socket (connected or still connecting) to this origin, each handed out once; undefined when none is left. */
  take(protocol: string, hostname: string, port: number): net.Socket | undefined;
  /** Destroys the sockets nobody took (the run went to a mirror, or needed fewer connections). */
  close(): void;
}

/** Starts `count` connections to `target`; they keep no process alive until taken. */
export function openEarlyConnections(target: EarlyTarget, count: number): EarlyConnections {
  const sharedLookup = onceLookup();
  const idle = Array.from({ length: count }, () => {
    const options: net.TcpNetConnectOpts & { highWaterMark: number } = {
      host: target.hostname,
      port: target.port,
      highWaterMark: 64 * 1024, // undici's own
      lookup: sharedLookup,
    };
    const socket = net.connect(options);
    // A connection that fails early is simply not handed out: the request then connects on its own
    // and reports its own error.
    socket.on('error', () => {});
    socket.unref();
    return socket;
  });
  return {
    take(protocol, hostname, port) {
      if (protocol !== target.protocol || unbracket(hostname) !== target.hostname || port !== target.port) return undefined;
      for (let socket = idle.shift(); socket; socket = idle.shift()) {
        if (socket.destroyed) continue;
        socket.ref();
        return socket;
      }
      return undefined;
    },
    close() {
      for (const socket of idle.splice(0)) socket.destroy();
    },
  };
}

/**
 * One DNS lookup for all the sockets: getaddrinfo blocks a libuv pool thread (4 in all, shared with
 * the cache's file I/O) for as long as the resolver takes, which on a network without DNS can be
 * seconds, and the guess may even be a host the run never contacts.
 */
function onceLookup(): net.LookupFunction {
  let pending: Promise<LookupAddress[]> | undefined;
  return (hostname, options, callback) => {
    pending ??= new Promise((resolve, reject) => lookup(hostname, { all: true }, (err, addresses) => (err ? reject(err) : resolve(addresses))));
    pending.then(
      (addresses) => {
        const first = addresses[0];
        if (options.all) callback(null, addresses);
        else if (first) callback(null, first.address, first.family);
        else callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), '', 0);
      },
      (err: NodeJS.ErrnoException) => callback(err, '', 0),
    );
  };
}

/** Returns the port of an origin given as URL parts: `port` is '' when it is the scheme's default. */
export function originPort(protocol: string, port: string): number {
  if (port !== '') return Number(port);
  return protocol === 'https:' ? 443 : 80;
}

/** Returns an IPv6 literal without its URL brackets. */
export function unbracket(hostname: string): string {
  return hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
}
