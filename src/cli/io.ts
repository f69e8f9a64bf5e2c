/** What a command may touch of the process, gathered so commands stay testable and process.* stays in cli/. */
import type { Writable } from 'node:stream';
import type { TextSink } from '../report/types.js';
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
  readStdin(): Promise<string>;
  setExitCode(code: number): void;
}
