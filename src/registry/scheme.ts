/**
 * Which scheme to speak to a registry. Loopback hosts speak plain HTTP first, as crane and containerd
 * do (issue 2), with no HTTPS probe; a Go TLS server answers plain HTTP with 400, and only then does the
 * client move to HTTPS (client.ts), so a TLS registry on localhost still works at the cost of one round
 * trip. Other hosts use HTTPS, with HTTP as a fallback only when the host is marked insecure (c/image
 * pings https first, http only when TLS verification is off). A scheme given explicitly (a mirror's
 * `https://…`) is used as given.
 */

/** Returns whether host[:port] names the loopback interface: localhost, 127.0.0.0/8 or [::1]. */
export function isLoopbackRegistry(registry: string): boolean {
  let hostname: string;
  try {
    // URL parsing strips the port, lower-cases, and canonicalises IPv4 (127.1) and IPv6 ([0:0::1]).
    hostname = new URL(`http://${registry}`).hostname.toLowerCase();
  } catch {
    // An unbracketed IPv6 literal such as "::1" is not a URL authority.
    try {
      hostname = new URL(`http://[${registry}]`).hostname;
    } catch {
      return false;
    }
  }
  if (hostname === 'localhost' || hostname.endsWith('.localhost') || hostname === '[::1]') return true;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

/** Returns the origins to try for the registry, in order; `scheme`: the one the configuration names. */
export function candidateOrigins(registry: string, insecure: boolean, scheme?: 'http' | 'https'): string[] {
  if (scheme !== undefined) return [`${scheme}://${registry}`];
  if (isLoopbackRegistry(registry)) return [`http://${registry}`, `https://${registry}`];
  return insecure ? [`https://${registry}`, `http://${registry}`] : [`https://${registry}`];
}
