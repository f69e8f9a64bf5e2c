/** Flags shared by commands, and the renderer they select. */
import { Option, type Command } from 'commander';
import { pickRenderer, PROGRESS_MODES, type ProgressMode } from '../report/pick.js';
import type { Renderer } from '../report/types.js';
import type { CliIo } from './io.js';
import { parseIntegerFlag } from './parse-values.js';

export interface CommonFlags {
  cache?: string;
  progress?: ProgressMode;
  quiet?: boolean;
  json?: boolean;
  debug?: boolean;
  heartbeat?: string;
}

/** Adds --cache, --progress, -q, --json, --debug. */
export function addCommonOptions(cmd: Command): Command {
  return cmd
    .option('--cache <dir>', 'cache directory (default: $DRAY_CACHE, else $XDG_CACHE_HOME/dray, else ~/.cache/dray)')
    .addOption(new Option('--progress <mode>', 'progress output on stderr').choices([...PROGRESS_MODES]).default('auto'))
    .option('-q, --quiet', 'no progress output (same as --progress none)')
    .option('--heartbeat <seconds>', 'plain progress: print a status line this often, even when nothing changes (0: never)', '10')
    .option('--json', 'print results on stdout as one JSON document')
    .option('--debug', 'print stack traces and debug events');
}

/** Returns the renderer the flags ask for. */
export function startRenderer(flags: CommonFlags, io: CliIo): Renderer {
  const mode: ProgressMode = flags.quiet ? 'none' : (flags.progress ?? 'auto');
  const heartbeatMs = parseIntegerFlag('--heartbeat', flags.heartbeat ?? '10', 0, 86_400) * 1000;
  return pickRenderer(mode, { stderr: io.stderr, isTTY: io.stderrIsTTY, ci: Boolean(io.env.env.CI), tty: io.stderrStream, heartbeatMs });
}
