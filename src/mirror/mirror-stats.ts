/**
 * A mirror's counters: plain numbers, updated in place, read by whoever reports them (the status
 * line, the progress bar, metrics at scrape time). Nothing here does I/O.
 */

export type MirrorPhase = 'starting' | 'syncing' | 'watching' | 'reconnecting' | 'stopped' | 'failed';

/** Head revisions seen, oldest first, for lag in seconds; coalesced so it stays small. */
const MAX_OBSERVATIONS = 256;

export class MirrorStats {
  phase: MirrorPhase = 'starting';
  /** keys in the source prefix at the sync revision, and how many of them the sync has covered */
  syncKeysTotal = 0;
  syncKeysDone = 0;
  syncStartedAtMs = 0;
  syncRevision = 0;
  /** last source revision whose events are all in the destination (the checkpoint) */
  appliedRevision = 0;
  /** the source's latest revision as last seen in a response header */
  headRevision = 0;
  /** the source revision through which the watch is known to be complete (progress responses) */
  syncedRevision = 0;
  keysPut = 0;
  keysDeleted = 0;
  /** put skipped because the destination already held the same value (resync) */
  keysUnchanged = 0;
  /** deletes left undone because a mirror sharing the range wrote the key too */
  keysKept = 0;
  eventsApplied = 0;
  revisionsApplied = 0;
  txns = 0;
  syncs = 0;
  resyncs = 0;
  reconnects = 0;
  transientErrors = 0;
  /** writes to an overlapping range that found a value this source did not put there */
  conflicts = 0;
  leasesGranted = 0;
  leasesRevoked = 0;
  /** source keys that would land in the destination's reserved `__ferry/mirror/` namespace */
  skippedReserved = 0;
  /**
   * While failures are being retried: which side failed last and since when (monotonic ms, the
   * first failure in a row). Null once the mirror watches or finishes a sync again.
   */
  unreachable: { side: 'source' | 'destination'; sinceMs: number } | null = null;
  private readonly seen: Array<{ revision: number; atMs: number }> = [];

  /** Record a source head revision seen at `atMs` (monotonic ms). */
  observeHead(revision: number, atMs: number): void {
    if (revision <= this.headRevision) return;
    this.headRevision = revision;
    if (this.seen.length >= MAX_OBSERVATIONS) this.seen.splice(1, 1);
    this.seen.push({ revision, atMs });
  }

  /** Revisions the destination is behind the source, as far as the mirror knows. */
  get lagRevisions(): number {
    return Math.max(0, this.headRevision - Math.max(this.appliedRevision, this.syncedRevision));
  }

  /** Seconds since the mirror first saw a source revision it has not yet applied. */
  lagSeconds(nowMs: number): number {
    const done = Math.max(this.appliedRevision, this.syncedRevision);
    while (this.seen.length > 0 && this.seen[0]!.revision <= done) this.seen.shift();
    const first = this.seen[0];
    return first === undefined ? 0 : Math.max(0, (nowMs - first.atMs) / 1000);
  }
}
