/**
 * The process boundary: argv in, exit code out. Builds the commander program, wires SIGINT to an
 * AbortController (first Ctrl-C: stop and keep partials, exit 130; second: exit at once), and renders
 * every failure through the one error renderer.
 */
import { getuid } from 'node:process';
import { Command, CommanderError } from 'commander';
import { ExitCode, toExitCode, UsageError } from '../errors.js';
import { VERSION } from '../version.js';
import { registerCache } from './commands/cache.js';
import { registerInspect } from './commands/inspect.js';
import { registerPull } from './commands/pull.js';
import { processEnv } from './env.js';
import type { CliIo } from './io.js';
import { renderError } from './render-error.js';
import type { EarlyConnections } from '../registry/early-connect.js';

/** What the launcher (bin/dray.js) started before dray loaded. */
export interface LaunchOptions {
  /** From cli/preconnect.ts: connections to the first registry, already on their way. */
  readonly early?: EarlyConnections | undefined;
}

/** Runs dray with `argv` (process.argv shape) and sets process.exitCode. */
export async function main(argv: readonly string[], launch: LaunchOptions = {}): Promise<void> {
  const controller = new AbortController();
  const onSignal = () => {
    if (controller.signal.aborted) process.exit(ExitCode.Interrupted);
    controller.abort(new Error('interrupted'));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const io = createIo(controller.signal, launch.early);
  const debug = argv.includes('--debug');
  let finished = false;
  // If the event loop ever empties while a command is still pending, that is a bug, never a success.
  const onBeforeExit = () => {
    if (finished) return;
    finished = true;
    io.stderr.write('error[ERR_UNEXPECTED]: dray stopped with work unfinished\nhint: this is a bug in dray; rerun with --debug and report it\n');
    process.exitCode = ExitCode.Failure;
  };
  process.on('beforeExit', onBeforeExit);
  try {
    await buildProgram(io).parseAsync([...argv]);
  } catch (err) {
    const exitCode = handleFailure(err, io, debug, controller.signal.aborted);
    process.exitCode = exitCode;
  } finally {
    finished = true;
    process.off('beforeExit', onBeforeExit);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  if (controller.signal.aborted && (process.exitCode === undefined || process.exitCode === 0)) process.exitCode = ExitCode.Interrupted;
}

/** Returns the program with every command registered; exported for the generated CLI docs. */
export function buildProgram(io: CliIo): Command {
  const program = new Command('dray')
    .description('pull container images fast and dependably: registry → verified shared cache → OCI layout, docker archive or root filesystem')
    .version(VERSION, '--version')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) });
  registerPull(program, io);
  registerInspect(program, io);
  registerCache(program, io);
  for (const cmd of program.commands) cmd.exitOverride().configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) });
  return program;
}

function handleFailure(err: unknown, io: CliIo, debug: boolean, interrupted: boolean): number {
  if (err instanceof CommanderError) {
    // help and --version exit 0; commander already printed its own message for usage errors
    return err.exitCode === 0 ? ExitCode.Ok : ExitCode.Usage;
  }
  if (interrupted) {
    io.stderr.write('interrupted: partial downloads are kept in the cache; run the same command again to resume\n');
    return ExitCode.Interrupted;
  }
  io.stderr.write(renderError(err, { debug }));
  return toExitCode(err);
}

function createIo(signal: AbortSignal, early: EarlyConnections | undefined): CliIo {
  return {
    early,
    stdout: { write: (s) => void process.stdout.write(s) },
    stdoutStream: process.stdout,
    stderr: { write: (s) => void process.stderr.write(s) },
    // TERM=dumb terminals cannot move the cursor: treat them like a pipe
    stderrIsTTY: Boolean(process.stderr.isTTY) && process.env.TERM !== 'dumb',
    stderrStream: process.stderr,
    env: processEnv(),
    signal,
    isRoot: getuid?.() === 0,
    readStdin: async () => {
      if (process.stdin.isTTY) throw new UsageError('-f - reads references from stdin, but stdin is a terminal');
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    },
    setExitCode: (code) => {
      process.exitCode = code;
    },
  };
}
