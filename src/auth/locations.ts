/**
 * Where credential files live, in dray's order of precedence (docs/registries.md "Credentials"):
 * `--authfile`, `$REGISTRY_AUTH_FILE`, the containers auth.json files podman and skopeo write
 * (containers-auth.json(5)), then docker's config.json. Pure: the CLI passes the environment in.
 */
import { join } from 'node:path';

/** The environment variables that move credential files. */
export interface CredentialEnv {
  readonly REGISTRY_AUTH_FILE?: string | undefined;
  readonly XDG_RUNTIME_DIR?: string | undefined;
  readonly XDG_CONFIG_HOME?: string | undefined;
  readonly DOCKER_CONFIG?: string | undefined;
}

/** Returns the credential files to consult, highest precedence first, without duplicates. */
export function defaultCredentialFiles(env: CredentialEnv, home: string, options: { authfile?: string; uid?: number } = {}): string[] {
  const files: string[] = [];
  if (options.authfile !== undefined && options.authfile !== '') files.push(options.authfile);
  if (env.REGISTRY_AUTH_FILE) files.push(env.REGISTRY_AUTH_FILE);
  // c/image: ${XDG_RUNTIME_DIR}/containers/auth.json, or /run/containers/<uid>/auth.json when it is unset.
  if (env.XDG_RUNTIME_DIR) files.push(join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json'));
  else if (options.uid !== undefined) files.push(join('/run/containers', String(options.uid), 'auth.json'));
  files.push(join(env.XDG_CONFIG_HOME || join(home, '.config'), 'containers', 'auth.json'));
  // docker cli/config/config.go: $DOCKER_CONFIG/config.json, else ~/.docker/config.json.
  files.push(join(env.DOCKER_CONFIG || join(home, '.docker'), 'config.json'));
  return [...new Set(files)];
}
