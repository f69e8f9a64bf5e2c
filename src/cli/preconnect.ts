/**
 * The launcher's head start, run by launch.ts before it loads the main bundle: for
 * `dray pull REF …` where REF names its registry host, two TCP connections
 * to that host start now, one for the manifest and one for the request the client sends beside it
 * (registry/client.ts warmUp), so both handshakes overlap start-up instead of following it.
 *
 * Only what the command line alone decides is guessed: Docker Hub references are left alone (mirrors
 * usually serve them, and the registry's host is not the one named), and nothing is opened when a
 * proxy is set. A guess that turns out wrong (a mirror or an insecure host answers instead) only
 * leaves sockets that carry no byte and are closed with the run.
 */
import { parseReference, DOCKER_HUB_DOMAIN } from '../reference/parse.js';
import { openEarlyConnections, originPort, unbracket, type EarlyConnections, type EarlyTarget } from '../registry/early-connect.js';
import { proxyConfigFromEnv } from '../registry/proxy.js';
import { isLoopbackRegistry } from '../registry/scheme.js';

/** Connections per early target: the manifest request and the warm-up beside it. */
const EARLY_CONNECTIONS = 2;

/** Starts the early connections for `argv` (process.argv shape), or returns undefined when there is no safe guess. */
export function preconnect(argv: readonly string[], env: Record<string, string | undefined>): EarlyConnections | undefined {
  try {
    const target = earlyTarget(argv, env);
    return target ? openEarlyConnections(target, EARLY_CONNECTIONS) : undefined;
  } catch {
    return undefined; // a malformed reference is reported by the command itself, with its exit code
  }
}

/** The origin `dray pull REF` will most likely ask first, when the command line alone says so. */
export function earlyTarget(argv: readonly string[], env: Record<string, string | undefined>): EarlyTarget | undefined {
  const [, , command, first] = argv;
  if (command !== 'pull' || first === undefined || first.startsWith('-')) return undefined;
  const proxy = proxyConfigFromEnv(env);
  if (proxy.httpProxy !== undefined || proxy.httpsProxy !== undefined) return undefined;
  const ref = parseReference(first);
  if (ref.domain === DOCKER_HUB_DOMAIN) return undefined;
  const protocol = isLoopbackRegistry(ref.registry) ? 'http:' : 'https:';
  const url = new URL(`${protocol}//${ref.registry}`);
  return { protocol, hostname: unbracket(url.hostname), port: originPort(protocol, url.port) };
}
