/** The process environment, read in one place: cache dir, docker config path, CI detection. */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { defaultCacheDir } from '../cache/location.js';

export interface CliEnv {
  readonly env: NodeJS.ProcessEnv;
  readonly home: string;
}

/** Returns the process's environment view. */
export function processEnv(): CliEnv {
  return { env: process.env, home: homedir() };
}

/** --cache, else $DRAY_CACHE, else $XDG_CACHE_HOME/dray, else ~/.cache/dray. */
export function cacheDirFrom(flag: string | undefined, e: CliEnv): string {
  return flag ?? defaultCacheDir(e.env, e.home);
}

/** $DOCKER_CONFIG/config.json, else ~/.docker/config.json (docker cli/config/config.go). */
export function dockerConfigPath(e: CliEnv): string {
  const dir = e.env.DOCKER_CONFIG || join(e.home, '.docker');
  return join(dir, 'config.json');
}
