/**
 * Which scheme to speak to a registry: loopback hosts use plain HTTP, as docker and crane do for
 * localhost (ggcr pkg/name/registry.go Scheme); other hosts use HTTPS, with HTTP as a fallback only when
 * the host is marked insecure (c/image pings https first, http only when TLS verification is off).
 */

/** Returns whether host[:port] names the loopback interface: localhost, 127.0.0.0/8 or [::1]. */
export function isLoopbackRegistry(registry: string): boolean {
  let hostname: string;
  try {
    hostname = new URL(`http://${registry}`).hostname.toLowerCase();
  } catch {
    return false;
  }
  if (hostname === 'localhost' || hostname.endsWith('.localhost') || hostname === '[::1]') return true;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

/** Returns the origins to try for the registry, in order. */
export function candidateOrigins(registry: string, insecure: boolean): string[] {
  if (isLoopbackRegistry(registry)) return [`http://${registry}`];
  return insecure ? [`https://${registry}`, `http://${registry}`] : [`https://${registry}`];
}
