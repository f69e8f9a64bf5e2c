/**
 * Where the cache lives by default (DESIGN.md §3): $DRAY_CACHE, else $XDG_CACHE_HOME/dray, else
 * ~/.cache/dray. The environment and home directory are passed in: only src/cli/ reads process.env.
 */
import { isAbsolute, join } from 'node:path';

/** Returns the default cache directory for the given environment and home directory. */
export function defaultCacheDir(env: Readonly<Record<string, string | undefined>>, home: string): string {
  const explicit = env.DRAY_CACHE;
  if (explicit) return explicit;
  const xdg = env.XDG_CACHE_HOME;
  // XDG Base Directory spec: a relative $XDG_CACHE_HOME is invalid and must be ignored.
  if (xdg && isAbsolute(xdg)) return join(xdg, 'dray');
  return join(home, '.cache', 'dray');
}
