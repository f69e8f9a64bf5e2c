/** Debian's tinyproxy as a forward proxy for tests: its own config on a free loopback port, its log read back. */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { freePort } from '../../helpers/registry-server.js';

/** Debian's tinyproxy package installs it here (.ci/run installs the package). */
const TINYPROXY_BIN = '/usr/bin/tinyproxy';

export interface Tinyproxy {
  /** "http://127.0.0.1:PORT". */
  readonly url: string;
  /** The proxy's log so far: "CONNECT 127.0.0.1:PORT", "GET http://…" lines. */
  log(): Promise<string>;
  stop(): Promise<void>;
}

/** Starts tinyproxy in the foreground with a config in `dir` (no ConnectPort line: CONNECT to any port). */
export async function startTinyproxy(dir: string): Promise<Tinyproxy> {
  const port = await freePort();
  const logFile = join(dir, 'tinyproxy.log');
  const conf = join(dir, 'tinyproxy.conf');
  await writeFile(logFile, '');
  await writeFile(
    conf,
    [`Port ${port}`, 'Listen 127.0.0.1', 'Timeout 60', `LogFile "${logFile}"`, 'LogLevel Connect', 'MaxClients 50', 'Allow 127.0.0.1', 'DisableViaHeader Yes', ''].join('\n'),
  );
  const child: ChildProcess = spawn(TINYPROXY_BIN, ['-d', '-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  child.stdout?.on('data', (b: Buffer) => output.push(b.toString()));
  child.stderr?.on('data', (b: Buffer) => output.push(b.toString()));
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    await exited;
  };
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`tinyproxy exited with ${child.exitCode}: ${output.join('')}`);
    const up = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (up) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`tinyproxy did not listen: ${output.join('')}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { url: `http://127.0.0.1:${port}`, log: () => readFile(logFile, 'utf8'), stop };
}
