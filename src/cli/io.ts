/** What a command may touch of the process, gathered so commands stay testable and process.* stays in cli/. */
import type { Writable } from 'node:stream';
import type { TextSink } from '../report/types.js';
import type { EarlyConnections } from '../registry/early-connect.js';
import type { CliEnv } from './env.js';

export interface CliIo {
  readonly stdout: TextSink;
  /** The raw stdout stream, for `-o -` archives. */
  readonly stdoutStream: Writable;
  readonly stderr: TextSink;
  readonly stderrIsTTY: boolean;
  /** The terminal stream itself (width, height) for the live bars. */
  readonly stderrStream: NodeJS.WriteStream;
  readonly env: CliEnv;
  readonly signal: AbortSignal;
  readonly isRoot: boolean;
  /** Connections bin/dray.js opened before loading dray (cli/preconnect.ts), for the run's first requests. */
  readonly early?: EarlyConnections | undefined;
  readStdin(): Promise<string>;
  setExitCode(code: number): void;
}
