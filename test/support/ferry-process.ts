/**
 * Spawns the built daemon (`dist/cli/ferry.js run`) with a real YAML file, waits for it to listen,
 * and collects its log lines. Tests stop it with a signal and check the exit code.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { NODE_FLAGS } from '../../src/cli/node-flags.js';

export const FERRY_BIN = fileURLToPath(new URL('../../dist/cli/ferry.js', import.meta.url));

export interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

export class FerryProcess {
  readonly logs: LogLine[] = [];
  /** the management port, when it is enabled */
  managePort = 0;
  readonly stderr: string[] = [];
  private exited: Promise<number | null>;

  private constructor(
    readonly child: ChildProcess,
    readonly configFile: string,
    public port = 0,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  /** Start Ferry with `config` (an object written as YAML) and wait until it listens. */
  static async start(config: Record<string, unknown>, timeoutMs = 20_000, nodeFlags: readonly string[] = NODE_FLAGS): Promise<FerryProcess> {
    const p = FerryProcess.launch(config, nodeFlags);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        // Not left running behind the failed test.
        p.child.kill('SIGKILL');
        reject(new Error(`ferry did not start within ${timeoutMs} ms: ${p.stderr.join('')}`));
      }, timeoutMs);
      p.child.stdout!.on('data', () => {
        const started = p.logs.find((l) => l.msg === 'ferry started');
        if (started === undefined) return;
        const listening = started['listening'] as string[];
        p.port = Number(listening[0]!.split(':').pop());
        const management = started['management'] as string | null;
        if (management !== null) p.managePort = Number(management.split(':').pop());
        clearTimeout(timer);
        resolve();
      });
      // 'close', not 'exit': by then its last output has been read.
      p.child.once('close', (code) => {
        clearTimeout(timer);
        // A failed start-up is logged (one fatal line, pino level 60, on stdout), not written to stderr.
        const fatal = p.logs.find((l) => l.level >= 60);
        reject(new Error(`ferry exited with ${code} before listening: ${fatal === undefined ? '' : `${JSON.stringify(fatal)} `}${p.stderr.join('')}`));
      });
    });
    return p;
  }

  /**
   * Start one Ferry per config, side by side. If any fails to start, the others are killed before
   * the error is thrown: the caller has no handle on them to stop.
   */
  static async startAll(configs: readonly Record<string, unknown>[]): Promise<FerryProcess[]> {
    const settled = await Promise.allSettled(configs.map((c) => FerryProcess.start(c)));
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    const started = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    if (failed === undefined) return started;
    await Promise.all(started.map((p) => p.stop('SIGKILL')));
    throw failed.reason;
  }

  /** Spawn Ferry with `config` and collect its log lines, without waiting for anything. */
  static launch(config: Record<string, unknown>, nodeFlags: readonly string[] = NODE_FLAGS): FerryProcess {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-test-'));
    const file = join(dir, 'ferry.yml');
    writeFileSync(file, stringify(config));
    // The state directory systemd would give: dead letters go to its dead-letters/ unless a test names a path.
    const child = spawn(process.execPath, [...nodeFlags, FERRY_BIN, 'run', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, STATE_DIRECTORY: dir } });
    child.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    const p = new FerryProcess(child, file);
    let buffered = '';
    // Registered first, so every other 'data' listener sees the lines of its chunk in `logs`.
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (line.trim() !== '') p.logs.push(JSON.parse(line) as LogLine);
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => p.stderr.push(chunk.toString('utf8')));
    return p;
  }

  /** Send `signal` and wait for the exit code. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    this.child.kill(signal);
    return this.exited;
  }

  /** One series of the Prometheus text at /metrics, e.g. `ferry_worker_wakeups_total{worker="0"}`; 0 when absent. */
  async metric(series: string): Promise<number> {
    const text = await (await fetch(`http://127.0.0.1:${this.managePort}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${series} `));
    return line === undefined ? 0 : Number(line.slice(series.length + 1));
  }

  exitCode(): Promise<number | null> {
    return this.exited;
  }
}

/** A Ferry configuration for tests: loopback, port 0, the given destination. */
export function testConfig(
  destination: { host: string; port: number },
  extra: { service?: Record<string, unknown>; aerospike?: Record<string, unknown> } = {},
): Record<string, unknown> {
  return {
    service: { port: 0, address: '127.0.0.1', 'worker-threads': 2, manage: { address: '127.0.0.1', port: 0 }, ...extra.service },
    aerospike: { seeds: [{ [destination.host]: { port: destination.port } }], ...extra.aerospike },
    logging: { 'enable-console-logging': true, levels: { root: 'info' } },
  };
}
