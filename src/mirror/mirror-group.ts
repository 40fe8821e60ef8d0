/**
 * The `mirrors:` section of Ferry's file, run by `ferry run`: several sources into one destination,
 * each with its own prefix mapping. Merge mirrors may share destination ranges (that is how
 * clusters are merged); an exclusive or exact-prefix mirror overlapping any other is refused before
 * anything starts. Each mirror then runs, retries and reports on its own, and one mirror's fatal
 * error stops only that mirror. A reload (SIGHUP) starts added mirrors, stops removed ones, restarts
 * changed ones, and leaves the rest running untouched.
 */

import { readFileSync } from 'node:fs';
import type { RawConfig } from '../config/schema.js';
import { MirrorOptionsError, MirrorOverlapError } from './errors.js';
import { prefixRange, rangesOverlap } from './key-range.js';
import { Mirror } from './mirror.js';
import type { MirrorLogger } from './mirror-logger.js';
import { type EtcdClusterOptions, type MirrorOptions, mirrorIdentity, resolveMirrorOptions } from './mirror-options.js';
import type { MirrorStats } from './mirror-stats.js';
import { StatusReporter } from './status-reporter.js';

export type MirrorsSection = NonNullable<RawConfig['mirrors']>;
export type ClusterSection = MirrorsSection['destination'];

function passwordFrom(file: string | undefined, path: string): string | undefined {
  if (file === undefined) return undefined;
  try {
    return readFileSync(file, 'utf8').split('\n')[0]!.replace(/\r$/, '');
  } catch (err) {
    throw new MirrorOptionsError(`${path}.password-file: cannot read ${file}: ${(err as Error).message}`);
  }
}

/** How to reach one etcd cluster of the YAML file (`path` names its section in messages); reads the password file. */
export function clusterOptions(c: ClusterSection, path: string, commandTimeoutMs: number): EtcdClusterOptions {
  return {
    endpoints: c.endpoints,
    cacert: c.cacert,
    cert: c.cert,
    key: c.key,
    insecureTransport: c['insecure-transport'],
    user: c.user,
    password: passwordFrom(c['password-file'], path),
    commandTimeoutMs,
  };
}

/** Resolve every source's options; refuse duplicates, and overlap where a mirror is exclusive or exact. */
export function resolveMirrorsSection(section: MirrorsSection): MirrorOptions[] {
  const timeout = section['command-timeout'];
  const destination = clusterOptions(section.destination, 'mirrors.destination', timeout);
  const out = section.sources.map((src, i) =>
    resolveMirrorOptions(
      src,
      { source: clusterOptions(src, `mirrors.sources.${i}`, timeout), destination },
      (k) => (k === 'destination' ? 'mirrors.destination.endpoints' : k.startsWith('dest-') && k !== 'dest-prefix' ? `mirrors.destination.${k.slice(5)}` : `mirrors.sources.${i}.${k}`),
    ),
  );
  const seen = new Map<string, number>();
  out.forEach((m, i) => {
    const id = mirrorIdentity(m);
    const j = seen.get(id);
    if (j !== undefined) {
      throw new MirrorOptionsError(
        m.name !== null
          ? `mirrors.sources.${i}: mirrors ${j} and ${i} share the name '${m.name}': give each its own name`
          : `mirrors.sources.${i}: mirrors ${j} and ${i} mirror the same source prefix into the same destination prefix: remove one`,
      );
    }
    seen.set(id, i);
  });
  for (let i = 0; i < out.length; i++) {
    for (let j = i + 1; j < out.length; j++) {
      const [a, b] = [out[i]!, out[j]!];
      if (a.mode === 'merge' && b.mode === 'merge') continue;
      if (rangesOverlap(prefixRange(Buffer.from(a.destPrefix)), prefixRange(Buffer.from(b.destPrefix)))) {
        throw new MirrorOverlapError(
          `mirrors.sources.${i} and mirrors.sources.${j} write overlapping destination keys (prefixes '${a.destPrefix}' and '${b.destPrefix}'), and ${a.mode !== 'merge' ? i : j} is ${(a.mode !== 'merge' ? a : b).mode === 'exact' ? 'exact-prefix' : 'exclusive'}: ` +
            'give them disjoint dest-prefix values, or let both merge (no exclusive or exact-prefix)',
        );
      }
    }
  }
  return out;
}

interface Running {
  mirror: Mirror;
  reporter: StatusReporter;
  run: Promise<void>;
}

/** What a reload did, by mirror name. */
export interface MirrorsReloadReport {
  added: string[];
  removed: string[];
  changed: string[];
}

export class MirrorGroup {
  /** by mirrorIdentity(options): what a reload matches old and new mirrors on */
  private readonly running = new Map<string, Running>();
  private applying: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly log: MirrorLogger,
    private statusIntervalMs: number,
  ) {}

  get mirrors(): Mirror[] {
    return [...this.running.values()].map((r) => r.mirror);
  }

  /** Start mirrors; one that fails for good is logged and stays stopped. */
  start(options: readonly MirrorOptions[]): void {
    for (const o of options) this.startOne(o);
  }

  /**
   * Make the running set match `next`: stop removed and changed mirrors (each after its transaction
   * in flight), then start added and changed ones. Mirrors whose options are unchanged keep running.
   */
  apply(next: readonly MirrorOptions[], statusIntervalMs: number): Promise<MirrorsReloadReport> {
    // Reloads in a row (two SIGHUPs) apply one after the other, never interleaved.
    const done = this.applying.then(() => this.applyNow(next, statusIntervalMs));
    this.applying = done.catch(() => undefined);
    return done;
  }

  private async applyNow(next: readonly MirrorOptions[], statusIntervalMs: number): Promise<MirrorsReloadReport> {
    const wanted = new Map(next.map((o) => [mirrorIdentity(o), o]));
    const report: MirrorsReloadReport = { added: [], removed: [], changed: [] };
    const changed = new Set<string>();
    const stopping: Array<Promise<void>> = [];
    for (const [id, r] of this.running) {
      const o = wanted.get(id);
      if (o !== undefined && sameOptions(o, r.mirror.options)) continue;
      if (o === undefined) report.removed.push(r.mirror.name);
      else {
        report.changed.push(r.mirror.name);
        changed.add(id);
      }
      this.running.delete(id);
      stopping.push(this.stopOne(r));
    }
    await Promise.all(stopping);
    const intervalChanged = statusIntervalMs !== this.statusIntervalMs;
    this.statusIntervalMs = statusIntervalMs;
    for (const [id, o] of wanted) {
      const r = this.running.get(id);
      if (r === undefined) {
        if (!changed.has(id)) report.added.push(o.name ?? id);
        this.startOne(o);
      } else if (intervalChanged) {
        // Only the status lines' pace changed: the mirror itself keeps running.
        r.reporter.stop();
        r.reporter = this.reporter(r.mirror);
      }
    }
    return report;
  }

  /** Counters per mirror name, for metrics to read at scrape time. */
  stats(): Map<string, MirrorStats> {
    return new Map(this.mirrors.map((m) => [m.name, m.stats]));
  }

  /** true while no mirror has failed for good */
  healthy(): boolean {
    return this.mirrors.every((m) => m.stats.phase !== 'failed');
  }

  async stop(): Promise<void> {
    const all = [...this.running.values()];
    this.running.clear();
    await Promise.all(all.map((r) => this.stopOne(r)));
  }

  private startOne(o: MirrorOptions): void {
    const mirror = new Mirror(o, this.log);
    const run = mirror.run().then(
      () => this.log.info({ mirror: mirror.name }, 'mirror stopped'),
      (err: unknown) => {
        const e = err as { code?: string; message?: string };
        this.log.error({ mirror: mirror.name, code: e.code, err: e.message }, 'mirror stopped on a fatal error');
      },
    );
    this.running.set(mirrorIdentity(o), { mirror, reporter: this.reporter(mirror), run });
  }

  private reporter(m: Mirror): StatusReporter {
    const reporter = new StatusReporter(() => m.name, m.stats, (line) => this.log.info({ mirror: m.name }, line), {
      progressMs: Math.min(5000, this.statusIntervalMs),
      statusMs: this.statusIntervalMs,
    });
    reporter.start();
    return reporter;
  }

  private async stopOne(r: Running): Promise<void> {
    r.mirror.stop();
    await r.run;
    r.reporter.stop();
  }
}

/** Options compared by value (passwords included: a new password is a change). */
function sameOptions(a: MirrorOptions, b: MirrorOptions): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
