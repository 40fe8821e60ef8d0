/**
 * Metrics of the etcd mirrors run by `ferry run`, read at scrape time from each mirror's
 * MirrorStats (plain numbers the mirror keeps).
 */

import type { Registry } from 'prom-client';
import type { MirrorStats } from '../mirror/index.js';
import { type Sample, ScrapeMetric } from './scrape-metric.js';

const PHASES = ['starting', 'syncing', 'watching', 'reconnecting', 'stopped', 'failed'] as const;

export function registerMirrorMetrics(registry: Registry, mirrors: () => ReadonlyMap<string, MirrorStats>): void {
  const each = (read: (s: MirrorStats) => number) => (): Sample[] => [...mirrors()].map(([mirror, s]) => ({ labels: { mirror }, value: read(s) }));
  const metrics = [
    new ScrapeMetric('ferry_mirror_phase', 'The phase each mirror is in (1 for the current one).', 'gauge', () =>
      [...mirrors()].flatMap(([mirror, s]) => PHASES.map((phase) => ({ labels: { mirror, phase }, value: s.phase === phase ? 1 : 0 }))),
    ),
    new ScrapeMetric('ferry_mirror_applied_revision', 'The last source revision whose events are all in the destination (the checkpoint).', 'gauge', each((s) => s.appliedRevision)),
    new ScrapeMetric('ferry_mirror_head_revision', 'The source’s latest revision as last seen.', 'gauge', each((s) => s.headRevision)),
    new ScrapeMetric('ferry_mirror_lag_revisions', 'Source revisions not yet applied to the destination.', 'gauge', each((s) => s.lagRevisions)),
    new ScrapeMetric('ferry_mirror_lag_seconds', 'How long ago the oldest revision not yet applied was seen at the source.', 'gauge', each((s) => s.lagSeconds(performance.now()))),
    new ScrapeMetric('ferry_mirror_sync_keys', 'Initial sync: keys at the sync revision, and keys covered so far.', 'gauge', () =>
      [...mirrors()].flatMap(([mirror, s]) => [
        { labels: { mirror, state: 'total' }, value: s.syncKeysTotal },
        { labels: { mirror, state: 'done' }, value: s.syncKeysDone },
      ]),
    ),
    new ScrapeMetric('ferry_mirror_keys_total', 'Keys written to the destination, by operation.', 'counter', () =>
      [...mirrors()].flatMap(([mirror, s]) => [
        { labels: { mirror, op: 'put' }, value: s.keysPut },
        { labels: { mirror, op: 'delete' }, value: s.keysDeleted },
        { labels: { mirror, op: 'unchanged' }, value: s.keysUnchanged },
        { labels: { mirror, op: 'kept' }, value: s.keysKept },
      ]),
    ),
    new ScrapeMetric('ferry_mirror_events_total', 'Source events applied.', 'counter', each((s) => s.eventsApplied)),
    new ScrapeMetric('ferry_mirror_txns_total', 'Destination transactions committed.', 'counter', each((s) => s.txns)),
    new ScrapeMetric('ferry_mirror_resyncs_total', 'Converging resyncs (the source compacted past the checkpoint).', 'counter', each((s) => s.resyncs)),
    new ScrapeMetric('ferry_mirror_reconnects_total', 'Reconnections after transient errors.', 'counter', each((s) => s.reconnects)),
    new ScrapeMetric('ferry_mirror_conflicts_total', 'Writes into an overlapping range that found a value another source put there.', 'counter', each((s) => s.conflicts)),
  ];
  for (const m of metrics) registry.registerMetric(m as unknown as Parameters<Registry['registerMetric']>[0]);
}
