/** Shared by the systemd tests: where the addon is, a notify-socket receiver, and the probe. */

import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { accessSync, constants as fsConstants, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import { ADDON_PATH } from '../../src/native-addon.js';

export { ADDON_PATH };
export const PROBE = fileURLToPath(new URL('./fixtures/addon-probe.mjs', import.meta.url));
const RECEIVER = fileURLToPath(new URL('./fixtures/notify-receiver.py', import.meta.url));

export interface Datagram {
  /** The sender's process id, from SCM_CREDENTIALS (what systemd checks for NotifyAccess=main). */
  pid: number | null;
  data: string;
}

/**
 * A stand-in for systemd's notify socket: a python3 child bound to an AF_UNIX datagram socket
 * ("/path" or "@abstract"), since Node cannot bind one. Datagrams queue until next() takes them.
 */
export class NotifyReceiver {
  private readonly queue: Datagram[] = [];
  private waiter: ((datagram: Datagram) => void) | undefined;
  private readonly exited: Promise<void>;

  private constructor(private readonly child: ChildProcessWithoutNullStreams, onListening: () => void) {
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    createInterface({ input: child.stdout }).on('line', (line) => {
      const message = JSON.parse(line) as { listening?: boolean } & Partial<Datagram>;
      if (message.listening === true) return onListening();
      const datagram: Datagram = { pid: message.pid ?? null, data: message.data ?? '' };
      const waiter = this.waiter;
      this.waiter = undefined;
      if (waiter !== undefined) waiter(datagram);
      else this.queue.push(datagram);
    });
  }

  static start(name: string): Promise<NotifyReceiver> {
    return new Promise((resolve, reject) => {
      const child = spawn('python3', [RECEIVER, name], { stdio: ['pipe', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`notify receiver exited ${code}: ${stderr}`)));
      const receiver: NotifyReceiver = new NotifyReceiver(child, () => resolve(receiver));
    });
  }

  /** The next datagram, in arrival order. */
  next(timeoutMs = 5_000): Promise<Datagram> {
    const queued = this.queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        reject(new Error(`no datagram on the notify socket within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiter = (datagram) => {
        clearTimeout(timer);
        resolve(datagram);
      };
    });
  }

  /** Datagrams that arrived and were not taken. */
  get pending(): number {
    return this.queue.length;
  }

  async close(): Promise<void> {
    this.child.stdin.end();
    await this.exited;
  }
}

export type ProbeResult = { ok: true; value: unknown } | { ok: false; name: string; code?: string; message: string };

export interface ProbeOutput {
  pid: number;
  results: ProbeResult[];
}

/**
 * Runs calls on the addon in a fresh process (its main thread, or a worker thread in it), with
 * `env` as the whole environment: the addon reads the C environment, which a child gets exactly.
 */
export function probe(where: 'main' | 'worker', calls: unknown[][], env: Record<string, string> = {}): Promise<ProbeOutput> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [PROBE, ADDON_PATH, where, JSON.stringify(calls)], {
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', reject);
    child.once('close', (code) => {
      if (code !== 0) return reject(new Error(`addon probe exited ${code}: ${stderr}`));
      resolve(JSON.parse(stdout) as ProbeOutput);
    });
  });
}

export function findOnPath(command: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (dir === '') continue;
    try {
      accessSync(join(dir, command), fsConstants.X_OK);
      return join(dir, command);
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Cpus_allowed_list ("0-3,6") of one thread of this process. */
export function cpusAllowedOf(tid: number): string {
  const match = /^Cpus_allowed_list:\s*(\S+)$/m.exec(readFileSync(`/proc/self/task/${tid}/status`, 'utf8'));
  if (match?.[1] === undefined) throw new Error(`no Cpus_allowed_list for thread ${tid}`);
  return match[1];
}

/** "0-3,6" → [0, 1, 2, 3, 6] */
export function parseCpuList(list: string): number[] {
  return list.split(',').flatMap((range) => {
    const [first, last] = range.split('-').map(Number);
    if (first === undefined) return [];
    return Array.from({ length: (last ?? first) - first + 1 }, (_, i) => first + i);
  });
}
