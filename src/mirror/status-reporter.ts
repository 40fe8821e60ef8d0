/**
 * What an operator sees: a progress bar while a sync runs (keys done of total, rate, time left) and a
 * status line every interval while the mirror follows the source (revision applied, lag in
 * revisions and seconds, counts). It only reads MirrorStats; where the lines go is the caller's.
 */

import type { MirrorStats } from './mirror-stats.js';

const BAR = 24;

function n(v: number): string {
  return Math.round(v).toLocaleString('en-US');
}

export function renderProgress(name: string, s: MirrorStats, ratePerS: number): string {
  const total = Math.max(s.syncKeysTotal, s.syncKeysDone);
  const frac = total === 0 ? 1 : s.syncKeysDone / total;
  const filled = Math.round(frac * BAR);
  const left = ratePerS > 0 ? Math.ceil((total - s.syncKeysDone) / ratePerS) : 0;
  return `mirror ${name}: sync @${s.syncRevision} [${'#'.repeat(filled)}${'.'.repeat(BAR - filled)}] ${n(s.syncKeysDone)}/${n(total)} keys ${Math.floor(frac * 100)}% ${n(ratePerS)} keys/s${ratePerS > 0 ? ` ~${left}s left` : ''}`;
}

export function renderStatus(name: string, s: MirrorStats, nowMs: number, eventsPerS: number): string {
  // Nothing is heard from a cluster that does not answer: the last head seen says nothing of the lag.
  const lag =
    s.unreachable === null
      ? `lag=${s.lagRevisions} rev ${s.lagSeconds(nowMs).toFixed(1)}s`
      : `lag=unknown, ${s.unreachable.side} unreachable for ${(Math.max(0, nowMs - s.unreachable.sinceMs) / 1000).toFixed(1)}s`;
  return (
    `mirror ${name}: ${s.phase} applied=${s.appliedRevision} head=${s.headRevision} ${lag} ` +
    `events=${s.eventsApplied} (${n(eventsPerS)}/s) put=${s.keysPut} deleted=${s.keysDeleted} txns=${s.txns} conflicts=${s.conflicts} reconnects=${s.reconnects}`
  );
}

/**
 * Calls `emit` with a progress line every `progressMs` during a sync and a status line every
 * `statusMs` otherwise. `tty` redraws the progress bar in place.
 */
export class StatusReporter {
  private timer: NodeJS.Timeout | null = null;
  private lastStatusAt = 0;
  private last = { at: 0, keys: 0, events: 0 };

  /** `name` is read at every line: a mirror's default name is known only once it reached its source. */
  constructor(
    private readonly name: () => string,
    private readonly stats: MirrorStats,
    private readonly emit: (line: string, kind: 'progress' | 'status') => void,
    private readonly intervals: { progressMs: number; statusMs: number },
  ) {}

  start(): void {
    this.last = { at: performance.now(), keys: this.stats.syncKeysDone, events: this.stats.eventsApplied };
    this.lastStatusAt = this.last.at;
    this.timer = setInterval(() => this.tick(), this.intervals.progressMs);
    this.timer.unref();
  }

  private tick(): void {
    const now = performance.now();
    const s = this.stats;
    const dt = Math.max(1, now - this.last.at) / 1000;
    if (s.phase === 'syncing') {
      const rate = Math.max(0, s.syncKeysDone - this.last.keys) / dt;
      this.last = { at: now, keys: s.syncKeysDone, events: s.eventsApplied };
      this.emit(renderProgress(this.name(), s, rate), 'progress');
      return;
    }
    if (now - this.lastStatusAt < this.intervals.statusMs) return;
    const rate = (s.eventsApplied - this.last.events) / dt;
    this.last = { at: now, keys: s.syncKeysDone, events: s.eventsApplied };
    this.lastStatusAt = now;
    this.emit(renderStatus(this.name(), s, now, rate), 'status');
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }
}
