/**
 * Lease mirroring (`--keep-leases`): a source key attached to a lease is written in the destination
 * attached to a destination lease with the same granted TTL. The mirror keeps each destination lease
 * alive only while its source lease lives, so if the source's lease expires (or the mirror dies),
 * the destination's keys expire too.
 *
 *   source lease 7587…  ──granted TTL──▶  destination lease 2a4f…
 *   __ferry/mirror/<name>/lease/<source id> = <destination id>   (attached to the destination lease,
 *                                                                  so it vanishes with it)
 *
 * The mapping is written in the same transaction as the first key that needs it, and reloaded on
 * restart, so a restarted mirror keeps using (and refreshing) the same destination leases.
 *
 * Each lease is checked and refreshed every third of its TTL, on a timer of its own (a lease of a
 * few seconds cannot wait for the mirror's probe). A destination lease found expired while its
 * source lease lives is reported as lost: the mirror puts its keys back on a new lease.
 */

import type { Etcd3, IDuplexStream, ILeaseKeepAliveRequest, ILeaseKeepAliveResponse, IRequestOp } from 'etcd3';
import { classifyEtcdError } from './etcd-client.js';
import { leaseMapPrefix, prefixRange, rangeRequest } from './key-range.js';
import type { MirrorLogger } from './mirror-logger.js';
import type { MirrorStats } from './mirror-stats.js';

/** The shortest refresh interval, and the delay before a failed check is tried again. */
const RETRY_MS = 500;

interface Mapping {
  destId: string;
  ttlS: number;
  /** next time (monotonic ms) to check the source lease and refresh the destination's */
  dueAtMs: number;
}

export class LeaseMirror {
  private readonly map = new Map<string, Mapping>();
  private readonly prefix: Buffer;
  private keepAlive: IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse> | null = null;
  private ticking = false;
  /** the last tick failed (logged once until one succeeds) */
  private failing = false;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  /** source leases whose destination lease expired while they live: their keys are to be put back */
  private readonly lost = new Set<string>();
  /** called when a lease is added to the lost ones */
  onLost: (() => void) | null = null;

  constructor(
    private readonly source: Etcd3,
    private readonly dest: Etcd3,
    name: string,
    private readonly stats: MirrorStats,
    private readonly log: MirrorLogger,
  ) {
    this.prefix = leaseMapPrefix(name);
  }

  /** Reload the mappings whose destination lease is still alive (the others vanished with it). */
  async load(): Promise<void> {
    const res = await this.dest.kv.range(rangeRequest(prefixRange(this.prefix))).catch((err: unknown) => {
      throw classifyEtcdError('destination', err);
    });
    this.map.clear();
    // A lease lost before is found again by its missing mapping (the mirror then resyncs).
    this.lost.clear();
    const now = performance.now();
    for (const kv of res.kvs) {
      const srcId = kv.key.subarray(this.prefix.length).toString('utf8');
      const ttl = Number((JSON.parse(kv.value.toString('utf8')) as { ttl?: number }).ttl ?? 1);
      this.map.set(srcId, { destId: kv.lease, ttlS: ttl, dueAtMs: now });
    }
    this.schedule();
  }

  has(srcId: string): boolean {
    return this.map.has(srcId);
  }

  /** The destination lease already mapped to `srcId`, if any ('0' for no lease). */
  known(srcId: string): string | undefined {
    return srcId === '0' ? '0' : this.map.get(srcId)?.destId;
  }

  /**
   * The destination lease for `srcId` ('0' = none), granting one when there is none yet; `ops` records
   * a new mapping and belongs in the same transaction as the key. A source lease already gone gets
   * no destination lease: its delete events follow.
   */
  async destinationLease(srcId: string): Promise<{ id: string; ops: IRequestOp[] }> {
    if (srcId === '0') return { id: '0', ops: [] };
    const known = this.map.get(srcId);
    if (known !== undefined) return { id: known.destId, ops: [] };
    const ttl = await this.source.leaseClient.leaseTimeToLive({ ID: srcId }).catch((err: unknown) => {
      throw classifyEtcdError('source', err);
    });
    // -1: expired or revoked (0 only means "under a second left": still alive).
    if (Number(ttl.TTL) < 0) return { id: '0', ops: [] };
    const granted = Number(ttl.grantedTTL);
    const lease = await this.dest.leaseClient.leaseGrant({ TTL: granted }).catch((err: unknown) => {
      throw classifyEtcdError('destination', err);
    });
    this.stats.leasesGranted++;
    this.map.set(srcId, { destId: lease.ID, ttlS: granted, dueAtMs: performance.now() + (granted * 1000) / 3 });
    this.schedule();
    const key = Buffer.concat([this.prefix, Buffer.from(srcId)]);
    return { id: lease.ID, ops: [{ request_put: { key, value: Buffer.from(JSON.stringify({ destination: lease.ID, ttl: granted })), lease: lease.ID } }] };
  }

  /** Whether destination leases were lost, and which (each is returned once). */
  hasLost(): boolean {
    return this.lost.size > 0;
  }

  takeLost(): string[] {
    const ids = [...this.lost];
    this.lost.clear();
    return ids;
  }

  /** The keys attached to a source lease now (none when it is gone). */
  async sourceKeys(srcId: string): Promise<Buffer[]> {
    const ttl = await this.source.leaseClient.leaseTimeToLive({ ID: srcId, keys: true }).catch((err: unknown) => {
      throw classifyEtcdError('source', err);
    });
    return Number(ttl.TTL) < 0 ? [] : ttl.keys;
  }

  /** Run the next tick when the earliest lease is due. */
  private schedule(): void {
    if (this.closed) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    let due = Number.POSITIVE_INFINITY;
    for (const m of this.map.values()) due = Math.min(due, m.dueAtMs);
    if (due === Number.POSITIVE_INFINITY) return;
    this.timer = setTimeout(() => void this.tick(), Math.max(0, due - performance.now()));
  }

  /**
   * Refresh what is due: a source lease still alive keeps its destination lease alive; one that is
   * gone has its destination lease revoked (the source's delete events remove the keys as well).
   */
  private async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      const now = performance.now();
      for (const [srcId, m] of this.map) {
        if (m.dueAtMs > now) continue;
        const ttl = await this.source.leaseClient.leaseTimeToLive({ ID: srcId });
        if (Number(ttl.TTL) < 0) {
          this.map.delete(srcId);
          // Not found is fine (it expired on its own); anything else is worth a line, not a stop.
          await this.dest.leaseClient.leaseRevoke({ ID: m.destId }).catch((err: unknown) => this.log.debug({ destinationLease: m.destId, err: (err as Error).message }, 'destination lease revoke failed'));
          this.stats.leasesRevoked++;
          continue;
        }
        m.dueAtMs = now + Math.max(RETRY_MS, (m.ttlS * 1000) / 3);
        await this.refresh(m);
      }
      this.failing = false;
    } catch (err) {
      // The source or destination is unreachable: nothing is refreshed blindly; try again shortly.
      const retryAtMs = performance.now() + RETRY_MS;
      for (const m of this.map.values()) m.dueAtMs = Math.max(m.dueAtMs, retryAtMs);
      if (!this.failing) this.log.warn({ err: (err as Error).message }, 'lease refresh failed; retrying');
      this.failing = true;
    } finally {
      this.ticking = false;
      this.schedule();
    }
  }

  private async refresh(m: Mapping): Promise<void> {
    if (this.keepAlive === null) {
      const stream = await this.dest.leaseClient.leaseKeepAlive();
      stream.on('data', (res) => {
        if (Number(res.TTL) > 0) return;
        // The destination lease expired while its source lease lives (refreshes did not reach the
        // destination within the TTL): its keys are gone from the destination until put back.
        for (const [s, x] of this.map) {
          if (x.destId === res.ID) {
            this.map.delete(s);
            this.lost.add(s);
            this.log.warn({ sourceLease: s, destinationLease: res.ID }, 'destination lease expired while the source lease lives; its keys are put back');
            this.onLost?.();
          }
        }
      });
      stream.on('error', (err: Error) => {
        // The next round opens a new keep-alive stream.
        this.log.debug({ err: err.message }, 'lease keep-alive stream failed; reopening');
        this.keepAlive = null;
      });
      stream.on('end', () => {
        this.keepAlive = null;
      });
      this.keepAlive = stream;
    }
    this.keepAlive.write({ ID: m.destId });
  }

  close(): void {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (this.keepAlive !== null) {
      try {
        this.keepAlive.cancel();
      } catch {
        // already closed
      }
      this.keepAlive = null;
    }
  }
}
