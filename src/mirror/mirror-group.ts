/**
 * The `mirrors:` section of Ferry's file, run by `ferry run`: several sources into one destination,
 * each with its own prefix mapping. Overlapping destination ranges are refused before anything
 * starts (unless `allow-overlap`); each mirror then runs, retries and reports on its own, and one
 * mirror's fatal error stops only that mirror.
 */

import { readFileSync } from 'node:fs';
import type { RawConfig } from '../config/schema.js';
import { MirrorOptionsError, MirrorOverlapError } from './errors.js';
import { prefixRange, rangesOverlap } from './key-range.js';
import { Mirror } from './mirror.js';
import type { MirrorLogger } from './mirror-logger.js';
import { type EtcdClusterOptions, type MirrorOptions, resolveMirrorOptions } from './mirror-options.js';
import type { MirrorStats } from './mirror-stats.js';
import { StatusReporter } from './status-reporter.js';

export type MirrorsSection = NonNullable<RawConfig['mirrors']>;
type ClusterSection = MirrorsSection['destination'];

function passwordFrom(file: string | undefined, path: string): string | undefined {
  if (file === undefined) return undefined;
  try {
    return readFileSync(file, 'utf8').split('\n')[0]!.replace(/\r$/, '');
  } catch (err) {
    throw new MirrorOptionsError(`${path}.password-file: cannot read ${file}: ${(err as Error).message}`);
  }
}

function clusterOptions(c: ClusterSection, path: string, commandTimeoutMs: number): EtcdClusterOptions {
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

/** Resolve every source's options; refuse overlapping destination ranges unless allowed. */
export function resolveMirrorsSection(section: MirrorsSection): MirrorOptions[] {
  const timeout = section['command-timeout'];
  const destination = clusterOptions(section.destination, 'mirrors.destination', timeout);
  const out = section.sources.map((src, i) =>
    resolveMirrorOptions(
      { ...src, 'allow-overlap': section['allow-overlap'] },
      { source: clusterOptions(src, `mirrors.sources.${i}`, timeout), destination },
      (k) => (k === 'destination' ? 'mirrors.destination.endpoints' : k.startsWith('dest-') && k !== 'dest-prefix' ? `mirrors.destination.${k.slice(5)}` : `mirrors.sources.${i}.${k}`),
    ),
  );
  const names = new Map<string, number>();
  out.forEach((m, i) => {
    const j = names.get(m.name);
    if (j !== undefined) throw new MirrorOptionsError(`mirrors.sources.${i}: mirrors ${j} and ${i} share the name '${m.name}': give each its own name`);
    names.set(m.name, i);
  });
  if (!section['allow-overlap']) {
    for (let i = 0; i < out.length; i++) {
      for (let j = i + 1; j < out.length; j++) {
        if (rangesOverlap(prefixRange(Buffer.from(out[i]!.destPrefix)), prefixRange(Buffer.from(out[j]!.destPrefix)))) {
          throw new MirrorOverlapError(
            `mirrors.sources.${i} and mirrors.sources.${j} write overlapping destination keys (prefixes '${out[i]!.destPrefix}' and '${out[j]!.destPrefix}'): ` +
              'give them disjoint dest-prefix values, or set mirrors.allow-overlap: true to merge them (conflicts are then counted)',
          );
        }
      }
    }
  }
  return out;
}

export class MirrorGroup {
  readonly mirrors: Mirror[];
  private readonly reporters: StatusReporter[] = [];
  private runs: Array<Promise<void>> = [];

  constructor(
    options: MirrorOptions[],
    private readonly log: MirrorLogger,
    private readonly statusIntervalMs: number,
  ) {
    this.mirrors = options.map((o) => new Mirror(o, log));
  }

  /** Start every mirror; a mirror that fails for good is logged and stays stopped. */
  start(): void {
    for (const m of this.mirrors) {
      const reporter = new StatusReporter(m.options.name, m.stats, (line) => this.log.info({ mirror: m.options.name }, line), {
        progressMs: Math.min(5000, this.statusIntervalMs),
        statusMs: this.statusIntervalMs,
      });
      reporter.start();
      this.reporters.push(reporter);
      this.runs.push(
        m.run().catch((err: unknown) => {
          const e = err as { code?: string; message?: string };
          this.log.error({ mirror: m.options.name, code: e.code, err: e.message }, 'mirror stopped on a fatal error');
        }),
      );
    }
  }

  /** Counters per mirror name, for metrics to read at scrape time. */
  stats(): Map<string, MirrorStats> {
    return new Map(this.mirrors.map((m) => [m.options.name, m.stats]));
  }

  /** true while no mirror has failed for good */
  healthy(): boolean {
    return this.mirrors.every((m) => m.stats.phase !== 'failed');
  }

  async stop(): Promise<void> {
    for (const m of this.mirrors) m.stop();
    await Promise.all(this.runs);
    for (const r of this.reporters) r.stop();
  }
}
