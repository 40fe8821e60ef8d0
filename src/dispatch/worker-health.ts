/**
 * What the workers report about themselves (threads/diagnostics.ts), as the main thread keeps it:
 * logged once per change with the worker id and reason, counted by code, and the problems that
 * stop a worker's traffic listed for readiness (the others beside it, as warnings).
 */

import type { Logger } from 'pino';
import type { WorkerDiagnostic } from '../threads/index.js';

interface ActiveProblem {
  code: string;
  message: string;
  blocksTraffic: boolean;
}

export class WorkerHealth {
  /** per worker: key → the problem now active */
  private readonly active: Array<Map<string, ActiveProblem>>;
  /** per worker: code → problems and errors reported */
  readonly counts: Array<Map<string, number>>;

  constructor(
    workers: number,
    private readonly log: Logger,
  ) {
    this.active = Array.from({ length: workers }, () => new Map());
    this.counts = Array.from({ length: workers }, () => new Map());
  }

  readonly record = (worker: number, e: WorkerDiagnostic): void => {
    const active = this.active[worker]!;
    const fields = { worker, key: e.key, ...(e.suppressed > 0 ? { suppressed: e.suppressed } : {}) };
    switch (e.kind) {
      case 'problem':
        active.set(e.key, { code: e.code, message: e.message, blocksTraffic: e.blocksTraffic });
        this.count(worker, e.code);
        this.log.warn({ ...fields, code: e.code, reason: e.message, retriable: e.retriable }, 'worker problem');
        break;
      case 'cleared': {
        const was = active.get(e.key);
        active.delete(e.key);
        if (was !== undefined) this.log.info({ ...fields, code: was.code }, 'worker problem cleared');
        break;
      }
      case 'error':
        this.count(worker, e.code);
        this.log.error({ ...fields, code: e.code, reason: e.message, retriable: e.retriable }, 'worker error');
        break;
    }
  };

  private count(worker: number, code: string): void {
    const counts = this.counts[worker]!;
    counts.set(code, (counts.get(code) ?? 0) + 1);
  }

  /** A thread that died and was replaced starts with a clean slate. */
  reset(worker: number): void {
    this.active[worker]!.clear();
  }

  activeCount(worker: number): number {
    return this.active[worker]!.size;
  }

  /** Readiness reasons: each problem that stops a worker's traffic. */
  blocking(): string[] {
    const out: string[] = [];
    this.active.forEach((problems, w) => {
      for (const p of problems.values()) if (p.blocksTraffic) out.push(`worker ${w}: ${p.message} (${p.code})`);
    });
    return out;
  }

  /** The other active problems (a node down, a full dead-letter store): shown beside readiness. */
  warnings(): string[] {
    const out: string[] = [];
    this.active.forEach((problems, w) => {
      for (const p of problems.values()) if (!p.blocksTraffic) out.push(`worker ${w}: ${p.message} (${p.code})`);
    });
    return out;
  }
}
