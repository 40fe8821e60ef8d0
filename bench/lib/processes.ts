/**
 * Child processes for the benchmarks: started, read line by line, measured from /proc, and never
 * left behind.
 *
 *   Tracked ── spawn(node …) ── stdout lines ─▶ waitForJson(predicate) / summary
 *      │                        stderr       ─▶ kept (last 8 KiB) for error messages
 *      └── every child is in `children`: an error, an exit or SIGINT/SIGTERM of the bench kills
 *          whatever is still running (SIGKILL: the bench is over, nothing is left to drain).
 */

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

const children = new Set<ChildProcess>();
let hooked = false;

function killAll(): void {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  children.clear();
}

/** Kill every child on the bench's exit, on Ctrl-C and on SIGTERM. Installed once. */
function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      process.stderr.write(`bench: ${sig}, stopping child processes\n`);
      killAll();
      process.exit(130);
    });
  }
}

/** The end of a stream kept for error messages. */
class Tail {
  private text = '';
  constructor(private readonly max = 8192) {}
  push(s: string): void {
    this.text = (this.text + s).slice(-this.max);
  }
  toString(): string {
    return this.text.trim();
  }
}

export class Tracked {
  readonly child: ChildProcess;
  readonly stderr = new Tail();
  readonly stdoutTail = new Tail();
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly lineListeners = new Set<(line: string) => void>();

  constructor(
    readonly name: string,
    args: string[],
    opts: { passStderr?: boolean } = {},
  ) {
    hookExit();
    this.child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(this.child);
    this.exited = new Promise((resolve) => {
      // 'close', not 'exit': it comes after stdout has been read to the end, so a last line
      // written just before exiting has been seen by then.
      this.child.once('close', (code, signal) => {
        children.delete(this.child);
        resolve({ code, signal });
      });
    });
    // A spawn failure: keep its message for the error that waiting on the process will raise.
    this.child.once('error', (err) => {
      this.stderr.push(`spawn failed: ${err.message}\n`);
      children.delete(this.child);
    });
    let partial = '';
    // Decoded as a stream, so a character split across two reads stays whole.
    this.child.stdout!.setEncoding('utf8');
    this.child.stderr!.setEncoding('utf8');
    this.child.stdout!.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop()!;
      for (const line of lines) this.emitLine(line);
    });
    this.child.stdout!.on('end', () => {
      if (partial !== '') this.emitLine(partial);
      partial = '';
    });
    this.child.stderr!.on('data', (chunk: string) => {
      this.stderr.push(chunk);
      if (opts.passStderr === true) process.stderr.write(chunk);
    });
  }

  private emitLine(line: string): void {
    this.stdoutTail.push(`${line}\n`);
    for (const l of this.lineListeners) l(line);
  }

  get pid(): number {
    const pid = this.child.pid;
    if (pid === undefined) throw new BenchError(`${this.name} did not start: ${this.stderr.toString()}`);
    return pid;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Call `fn` for every stdout line from now on; returns the unsubscribe function. */
  onLine(fn: (line: string) => void): () => void {
    this.lineListeners.add(fn);
    return () => this.lineListeners.delete(fn);
  }

  /** The first stdout line from now on that is JSON and satisfies `match`. */
  waitForJson<T>(what: string, match: (value: Record<string, unknown>) => boolean, timeoutMs: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const cleanup = (): void => {
        clearTimeout(timer);
        off();
        this.child.off('close', onExit);
      };
      const off = this.onLine((line) => {
        if (!line.startsWith('{')) return;
        let value: Record<string, unknown>;
        try {
          value = JSON.parse(line) as Record<string, unknown>;
        } catch {
          return;
        }
        if (!match(value)) return;
        cleanup();
        resolve(value as T);
      });
      const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
        cleanup();
        reject(new BenchError(`${this.name} exited (${signal ?? `code ${code}`}) before ${what}${this.describeOutput()}`));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new BenchError(`${this.name}: no ${what} within ${timeoutMs / 1000} s${this.describeOutput()}`));
      }, timeoutMs);
      this.child.once('close', onExit);
    });
  }

  /** Wait for the process to end on its own; a timeout kills it and fails. */
  async finish(timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.child.kill('SIGKILL');
        reject(new BenchError(`${this.name} still running after ${timeoutMs / 1000} s: killed${this.describeOutput()}`));
      }, timeoutMs);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.child.kill('SIGKILL');
        resolve();
      }, graceMs);
    });
    await Promise.race([this.exited.then(() => undefined), grace]);
    clearTimeout(timer);
    await this.exited;
  }

  describeOutput(): string {
    const err = this.stderr.toString();
    const out = this.stdoutTail.toString().split('\n').slice(-5).join('\n');
    return `${err !== '' ? `\n--- ${this.name} stderr ---\n${err}` : ''}${out !== '' ? `\n--- ${this.name} stdout (last lines) ---\n${out}` : ''}`;
  }
}

export class BenchError extends Error {
  readonly code = 'ERR_BENCH';
}

export const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** User + system CPU seconds of a process, all its threads, from /proc/<pid>/stat. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name may hold spaces and parentheses: the fields start after the last ") ".
  const fields = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
  // utime and stime are fields 14 and 15 of stat; after "pid (comm) " they are at 11 and 12.
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/** CPU seconds of every thread of `pid`, by thread id (/proc/<pid>/task/<tid>/stat). */
export function threadCpu(pid: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
      out.set(Number(tid), (Number(f[11]) + Number(f[12])) / CLOCK_TICKS);
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return out;
}

export interface ThreadSplit {
  main: number;
  workers: number;
  helpers: number;
}

/**
 * The CPU seconds a Ferry process spent between two threadCpu() readings, by kind of thread:
 * main (the thread whose id is the pid), workers (the `workers` busiest of the others) and
 * helpers (the rest: V8's compiler and garbage-collector threads, libuv's pool). The busiest, not
 * the names: on Node 20 every thread's comm is "node", worker threads included.
 */
export function splitThreads(pid: number, before: Map<number, number>, after: Map<number, number>, workers: number): ThreadSplit {
  const used = [...after].map(([tid, s]) => ({ tid, s: s - (before.get(tid) ?? 0) }));
  const others = used.filter((t) => t.tid !== pid).sort((a, b) => b.s - a.s);
  const sum = (ts: Array<{ s: number }>): number => ts.reduce((a, t) => a + t.s, 0);
  return { main: used.find((t) => t.tid === pid)?.s ?? 0, workers: sum(others.slice(0, workers)), helpers: sum(others.slice(workers)) };
}

export interface SyscallCounts {
  /** read-type system calls (socket reads among them), all threads: syscr of /proc/<pid>/io */
  reads: number;
  /** write-type system calls, all threads: syscw */
  writes: number;
  /** times a thread went to sleep and was woken: voluntary context switches, summed over the threads alive now */
  sleeps: number;
}

/** Counters that show what a record costs besides JavaScript: system calls and sleeps. */
export function syscallCounts(pid: number): SyscallCounts {
  const io = readFileSync(`/proc/${pid}/io`, 'utf8');
  const field = (name: string): number => Number(new RegExp(`^${name}: (\\d+)$`, 'm').exec(io)?.[1] ?? Number.NaN);
  let sleeps = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      sleeps += Number(/^voluntary_ctxt_switches:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'))?.[1] ?? 0);
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return { reads: field('syscr'), writes: field('syscw'), sleeps };
}

/** A field of /proc/<pid>/status in KiB (VmRSS, VmHWM). */
export function statusKiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (m === null) throw new BenchError(`/proc/${pid}/status has no ${field}`);
  return Number(m[1]);
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs `main`, prints a failure plainly, and makes sure no child outlives the bench. */
export function runMain(main: () => Promise<void>): void {
  main().then(
    () => {
      killAll();
    },
    (err: unknown) => {
      process.stderr.write(`bench failed: ${err instanceof BenchError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      killAll();
      process.exit(1);
    },
  );
}
