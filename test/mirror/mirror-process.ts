/** Runs `ferry mirror` as a child process (from source, through tsx), collecting its stderr. */

import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const FERRY_TS = fileURLToPath(new URL('../../src/cli/ferry.ts', import.meta.url));

export class MirrorProcess {
  readonly child: ChildProcess;
  stderr = '';
  stdout = '';
  private readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private listeners: Array<() => void> = [];

  constructor(args: string[]) {
    this.child = spawn(process.execPath, ['--import', 'tsx', FERRY_TS, 'mirror', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stderr!.on('data', (c: Buffer) => {
      this.stderr += c.toString('utf8');
      for (const l of this.listeners) l();
    });
    this.child.stdout!.on('data', (c: Buffer) => {
      this.stdout += c.toString('utf8');
    });
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  /** Resolve when stderr matches `re`; reject if the process exits first. */
  waitFor(re: RegExp, timeoutMs = 60_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        if (!re.test(this.stderr)) return false;
        clearTimeout(timer);
        this.listeners = this.listeners.filter((l) => l !== listener);
        resolve();
        return true;
      };
      const listener = (): void => void check();
      const timer = setTimeout(() => reject(new Error(`no ${re} on stderr within ${timeoutMs} ms:\n${this.stderr}`)), timeoutMs);
      if (check()) return;
      this.listeners.push(listener);
      void this.exited.then(({ code }) => {
        if (!re.test(this.stderr)) {
          clearTimeout(timer);
          reject(new Error(`ferry mirror exited with ${code} before ${re}:\n${this.stderr}`));
        }
      });
    });
  }

  kill(signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    this.child.kill(signal);
    return this.exited;
  }

  exit(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return this.exited;
  }
}
