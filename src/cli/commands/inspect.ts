/** `dray inspect IMAGE`: print the platform's manifest, the config, or the raw root manifest. */
import type { Command } from 'commander';
import { resolve } from '../../resolve.js';
import type { CliIo } from '../io.js';
import { cacheDirFrom } from '../env.js';
import { addCredentialOptions, credentialOptionsFrom, type CredentialFlags } from '../credential-options.js';
import { addNetworkOptions, networkOptionsFrom, type NetworkFlags } from '../network-options.js';

interface InspectFlags extends NetworkFlags, CredentialFlags {
  platform?: string;
  config?: boolean;
  raw?: boolean;
  cache?: string;
}

/** Registers `inspect` on the program. */
export function registerInspect(program: Command, io: CliIo): void {
  const cmd = program
    .command('inspect')
    .description("print an image's manifest (resolved for the platform), its config, or the raw bytes the tag points to")
    .argument('<image>', 'image reference')
    .option('--platform <os/arch[/variant]>', "platform to pick from a multi-platform image (default: this machine's)")
    .option('--config', 'print the image config instead of the manifest')
    .option('--raw', 'print the manifest or index exactly as the registry served it')
    .option('--cache <dir>', 'cache directory for the config blob');
  addCredentialOptions(cmd);
  addNetworkOptions(cmd);
  cmd.action(async (image: string, flags: InspectFlags) => {
    const result = await resolve(image, {
      cacheDir: cacheDirFrom(flags.cache, io.env),
      credentials: await credentialOptionsFrom(flags, io),
      ...networkOptionsFrom(flags, io),
      ...(flags.platform !== undefined ? { platform: flags.platform } : {}),
      signal: io.signal,
      withConfig: Boolean(flags.config),
    });
    if (flags.raw) io.stdout.write(Buffer.from(result.image.root.bytes).toString('utf8'));
    else if (flags.config && result.config) io.stdout.write(`${JSON.stringify(JSON.parse(Buffer.from(result.config).toString('utf8')), null, 2)}\n`);
    else io.stdout.write(`${JSON.stringify(JSON.parse(Buffer.from(result.image.manifest.bytes).toString('utf8')), null, 2)}\n`);
  });
}
