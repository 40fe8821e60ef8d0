/**
 * One mirror: a source prefix copied into a destination prefix, kept in step, resumable exactly.
 *
 *   claim ─▶ load checkpoint ─┬─ none / other mapping / compacted ─▶ converging sync at R
 *                             ├─ other source cluster ─▶ refuse (another mirror's name)
 *                             ├─ phase sync ─▶ finish that sync at its revision, from its cursor
 *                             └─ phase watch ─▶ ─────────────────────────────────────┐
 *                                                                                    ▼
 *                               watch from checkpoint + 1: one destination txn per source revision
 *                               (split at max-txn-ops), each carrying the checkpoint
 *
 * Ownership: every key the mirror writes gets a marker, `__ferry/mirror/<name>/own/<key>`, in the same
 * transaction. A sync deletes a destination key the source lacks only if the marker says this mirror
 * wrote it (or, with `--exact-prefix`, any key under the dedicated prefix); keys the destination held
 * before stay. A delete, live or by a sync, leaves a key that a mirror sharing the range also wrote
 * (its marker is there): the key is theirs as much as ours. The marker check and the delete are one
 * etcd transaction, so a sharer writing the key meanwhile cannot lose it.
 *
 *   any transient failure ─▶ backoff ─▶ reload the checkpoint ─▶ resume from it (the destination
 *   is the only truth about what was applied, so an ambiguous commit is resolved by reading it)
 */

import { EventEmitter } from 'node:events';
import type { Etcd3, ICompare, IEvent, IKeyValue, IRequestOp, ITxnResponse } from 'etcd3';
import { type Checkpoint, CheckpointedWriter, decodeCheckpoint, listCheckpoints } from './checkpoint.js';
import { dropUnusedCredentials } from './credentials.js';
import { classifyEtcdError, openCluster } from './etcd-client.js';
import { MirrorCheckpointError, MirrorCompactedError, MirrorError, MirrorEtcdError, MirrorOverlapError } from './errors.js';
import { type KeyRange, RESERVED_PREFIX, checkpointKey, inRange, intersect, isReserved, mapKey, ownerPrefix, prefixEnd, prefixRange, showKey } from './key-range.js';
import { LeaseMirror } from './lease-mirror.js';
import type { MirrorLogger } from './mirror-logger.js';
import { type MirrorOptions, defaultMirrorName, describeCluster, legacyMirrorName } from './mirror-options.js';
import { MirrorStats } from './mirror-stats.js';
import { RangePager } from './range-pager.js';
import { SourceWatch } from './source-watch.js';

export interface MirrorRunSettings {
  /** first reconnect delay and its ceiling (exponential, full jitter) */
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /** how often to ask the source for a progress notice; 3 unanswered in a row end the stream */
  probeIntervalMs?: number;
  /** keys per range page during a sync */
  pageSize?: number;
  /** bytes of keys and values per destination transaction (etcd refuses requests over 1.5 MiB) */
  maxTxnBytes?: number;
}

export interface SyncedEvent {
  revision: number;
  keys: number;
  ms: number;
  reason: string;
}

/** One unit of a destination transaction: a key's write, plus the lease mapping it needs. */
interface Unit {
  ops: IRequestOp[];
  bytes: number;
  /** for conflict counting: what this source had at the key before, when the key is in an overlap */
  expectPrev?: Buffer | null;
  /** the destination key (latin1), to keep a transaction from writing one key twice */
  key?: string;
  /** a delete that mirrors sharing the range may veto (their marker on the key): counted once committed */
  guarded?: true;
}

const STOPPED = new MirrorError('ERR_MIRROR_STOPPED', 'mirror stopped', false);
/** The first key after the reserved namespace (it does not end in 0xff, so it has one). */
const RESERVED_END = prefixEnd(RESERVED_PREFIX)!;
/** A programming error: the writer and markers exist only once claim() has named the mirror. */
const NOT_CLAIMED = new Error('mirror used before claim() named it');

/** A destination range shared with another merge mirror, whose markers a resync consults. */
interface SharedRange {
  range: KeyRange;
  mirror: string;
}

export class Mirror extends EventEmitter<{ synced: [SyncedEvent]; applied: [number]; resync: [string] }> {
  readonly stats = new MirrorStats();
  readonly sourceRange: KeyRange;
  readonly destRange: KeyRange;
  private readonly sourcePrefix: Buffer;
  private readonly destPrefix: Buffer;
  private readonly source: Etcd3;
  private readonly dest: Etcd3;
  private readonly ownsClients: boolean;
  /** set by claim(), once the source cluster (and so the default name) is known */
  private claimed: { name: string; writer: CheckpointedWriter; owner: Buffer } | null = null;
  private leases: LeaseMirror | null = null;
  /** destination ranges shared with other merge mirrors: conflicts counted, their keys kept */
  private shared: SharedRange[] = [];
  /** whether the watch asked for previous values (the range was shared when it opened) */
  private countConflicts = false;
  private clusterId = '';
  private stopped = false;
  private wake: (() => void) | null = null;
  private abortWatch: ((err: MirrorError) => void) | null = null;
  private readonly settings: Required<MirrorRunSettings>;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    readonly options: MirrorOptions,
    private readonly log: MirrorLogger,
    settings: MirrorRunSettings = {},
    clients?: { source: Etcd3; destination: Etcd3 },
  ) {
    super();
    this.settings = {
      backoffInitialMs: settings.backoffInitialMs ?? 250,
      backoffMaxMs: settings.backoffMaxMs ?? 15_000,
      probeIntervalMs: settings.probeIntervalMs ?? 5_000,
      pageSize: settings.pageSize ?? 1000,
      maxTxnBytes: settings.maxTxnBytes ?? 1024 * 1024,
    };
    this.sourcePrefix = Buffer.from(options.prefix);
    this.destPrefix = Buffer.from(options.destPrefix);
    this.sourceRange = prefixRange(this.sourcePrefix);
    this.destRange = prefixRange(this.destPrefix);
    this.ownsClients = clients === undefined;
    this.source = clients?.source ?? openCluster('source', options.source);
    this.dest = clients?.destination ?? openCluster('destination', options.destination);
  }

  /** The mirror's name: given, or derived from the source cluster once known (a placeholder until then). */
  get name(): string {
    return this.claimed?.name ?? this.options.name ?? `(${describeCluster(this.options.source)} ${showKey(this.sourcePrefix)}→${showKey(this.destPrefix)})`;
  }

  private get writer(): CheckpointedWriter {
    if (this.claimed === null) throw NOT_CLAIMED;
    return this.claimed.writer;
  }

  /**
   * Run until stop() (resolves) or a fatal error (rejects with a MirrorError). Transient failures
   * are logged and retried with backoff; they never end the run.
   */
  async run(): Promise<void> {
    try {
      await this.retrying(() => this.claim());
      let forceResync: string | null = null;
      let useRev = this.options.rev > 0;
      let attempt = 0;
      while (!this.stopped) {
        try {
          const cp = await this.writer.load();
          if (cp !== null && cp.sourceClusterId !== this.clusterId) throw this.foreignCheckpoint(cp);
          if (useRev) {
            useRev = false;
            this.log.info({ mirror: this.name, rev: this.options.rev }, 'starting from --rev: no initial sync');
            // Keys created up to --rev were never written by this mirror: their next put marks them.
            await this.follow(this.newCheckpoint('watch', this.options.rev, { events: 0, syncs: cp?.syncs ?? 0, markedFrom: this.options.rev }), () => (attempt = 0));
          } else if (forceResync !== null || cp === null || cp.phase === 'claimed' || this.remapped(cp)) {
            const reason =
              forceResync ??
              (cp === null || cp.phase === 'claimed' ? 'initial sync' : `checkpoint was written for prefix ${showKey(Buffer.from(cp.sourcePrefix))} → ${showKey(Buffer.from(cp.destPrefix))}: resync`);
            forceResync = null;
            await this.sync(cp, null, reason);
            attempt = 0;
          } else if (cp.phase === 'sync') {
            await this.sync(cp, { revision: cp.revision, cursor: cp.cursor === undefined ? null : Buffer.from(cp.cursor, 'base64') }, 'resuming interrupted sync');
            attempt = 0;
          } else if (this.leases !== null && (await this.leasesLost(cp))) {
            forceResync = 'destination leases expired while the mirror was away: resync';
          } else {
            await this.follow(cp, () => (attempt = 0));
          }
        } catch (err) {
          if (this.stopped) break;
          const e = classifyEtcdError('source', err);
          if (e instanceof MirrorCompactedError) {
            this.stats.resyncs++;
            forceResync = `the source compacted past the checkpoint (${e.message}): converging resync`;
            this.log.warn({ mirror: this.name, compactRevision: e.compactRevision }, forceResync);
            this.emit('resync', forceResync);
            continue;
          }
          if (!e.retriable) throw e;
          await this.backoff(e, attempt++);
        }
      }
      this.stats.phase = 'stopped';
    } catch (err) {
      if (this.stopped && (err === STOPPED || !(err instanceof MirrorError) || err.retriable)) {
        this.stats.phase = 'stopped';
        return;
      }
      this.stats.phase = 'failed';
      throw this.explained(err instanceof MirrorError ? err : classifyEtcdError('source', err));
    } finally {
      if (this.timer !== null) clearInterval(this.timer);
      this.leases?.close();
      if (this.ownsClients) {
        this.source.close();
        this.dest.close();
      }
    }
  }

  /** etcd's "permission denied" names no key: name the ranges the mirror needs on that side. */
  private explained(e: MirrorError): MirrorError {
    if (!(e instanceof MirrorEtcdError) || !/permission denied/.test(e.message)) return e;
    const own = showKey(Buffer.concat([RESERVED_PREFIX, Buffer.from(`${this.name}/`)]));
    const needs =
      e.side === 'source'
        ? `the source user needs read access to ${this.sourcePrefix.length === 0 ? 'every key' : `the prefix ${showKey(this.sourcePrefix)}`}`
        : this.destPrefix.length === 0
          ? `the destination user needs read and write access to every key (the data goes to the root; this mirror's checkpoint and markers are under ${own})`
          : `the destination user needs read and write access to the prefixes ${showKey(this.destPrefix)} (the data) and ${own} (this mirror's checkpoint and markers), ` +
            `and read access to ${showKey(RESERVED_PREFIX)} (other mirrors' registrations)`;
    return new MirrorEtcdError(e.side, `${e.message.slice(`${e.side}: `.length)}: ${needs}`, false, e);
  }

  /** Stop after the transaction in flight (if any) completes; run() then resolves. */
  stop(): void {
    this.stopped = true;
    this.wake?.();
    this.abortWatch?.(STOPPED);
  }

  // ---- start-up: source identity, overlap check, registration ---------------------------------------

  private async claim(): Promise<void> {
    for (const [side, client] of [
      ['source', this.source],
      ['destination', this.dest],
    ] as const) {
      const dropped = await dropUnusedCredentials(client).catch((err: unknown) => {
        throw classifyEtcdError(side, err);
      });
      if (dropped) this.log.warn({ mirror: this.name }, `the ${side} does not have authentication enabled: its user name and password are not used (as with etcdctl)`);
    }
    const head = await this.source.kv.range({ key: this.rangeKey(), limit: 1, keys_only: true });
    this.clusterId = head.header.cluster_id;
    this.stats.observeHead(Number(head.header.revision), performance.now());
    const name = this.options.name ?? defaultMirrorName(this.clusterId, this.options.prefix, this.options.destPrefix);
    this.claimed = { name, writer: new CheckpointedWriter(this.dest, name), owner: ownerPrefix(name) };
    if (this.options.keepLeases && this.leases === null) this.leases = new LeaseMirror(this.source, this.dest, name, this.stats, this.log);
    this.log.info({ mirror: name, sourceCluster: this.clusterId, mode: this.options.mode }, 'mirror identified');
    if (this.options.name === null) await this.adoptLegacyCheckpoint();
    await this.checkOverlap();
    if ((await this.writer.load()) === null) {
      await this.writer.commit([], this.newCheckpoint('claimed', 0, {}));
      // Two mirrors starting at once could both have passed the check: the older claim wins.
      try {
        await this.checkOverlap();
      } catch (err) {
        // The overlap refusal is what the caller hears; a failed release is only worth a line.
        await this.writer.release().catch((releaseErr: unknown) => this.log.warn({ mirror: this.name, err: (releaseErr as Error).message }, 'could not release the claimed checkpoint'));
        throw err;
      }
    }
  }

  /**
   * Before default names included the source cluster, this mapping's default name was the legacy
   * one. A checkpoint there from this very source cluster and mapping is this mirror's: take it
   * over, so an upgrade resumes exactly instead of resyncing. (Keys it wrote carry no ownership
   * markers, so a later resync keeps them: it never deletes what it cannot show it wrote.)
   */
  private async adoptLegacyCheckpoint(): Promise<void> {
    if ((await this.writer.load()) !== null) return;
    const legacy = legacyMirrorName(this.options.prefix, this.options.destPrefix);
    const key = checkpointKey(legacy);
    const kv = (await this.dest.kv.range({ key })).kvs[0];
    if (kv === undefined) return;
    let old: Checkpoint;
    try {
      old = decodeCheckpoint(kv.value, key.toString('utf8'));
    } catch (err) {
      this.log.info({ mirror: this.name, key: key.toString('utf8'), err: (err as Error).message }, 'a checkpoint under the previous default name is not readable: not adopted');
      return;
    }
    if (old.sourceClusterId !== this.clusterId || this.remapped(old)) return;
    if (await this.writer.adopt(key, Number(kv.mod_revision), { ...old, name: this.name, mode: this.options.mode, markedFrom: old.revision, updated: new Date().toISOString() })) {
      this.log.warn({ mirror: this.name, previousName: legacy }, 'adopted the checkpoint of the previous default name (it did not include the source cluster); resuming from it');
    }
  }

  /**
   * A checkpoint written for another source cluster is another mirror's (a reused name), perhaps
   * running: a resync would delete its keys, which this source lacks, and make it fail. Refused.
   */
  private foreignCheckpoint(cp: Checkpoint): MirrorCheckpointError {
    return new MirrorCheckpointError(
      `checkpoint ${checkpointKey(this.name).toString('utf8')} belongs to a mirror of source cluster ${cp.sourceClusterId} ` +
        `(prefix ${showKey(Buffer.from(cp.sourcePrefix))} → ${showKey(Buffer.from(cp.destPrefix))}), and this source is cluster ${this.clusterId}: ` +
        `refusing to start, so as not to touch that mirror's keys. Give this mirror another --name (the name of a source under mirrors: in the YAML file), or none: the default name includes the source cluster; ` +
        `to take the name over, stop the mirror of cluster ${cp.sourceClusterId} and remove its key space first: etcdctl del --prefix __ferry/mirror/${this.name}/ (its keys stay in the destination, owned by no mirror)`,
    );
  }

  private remapped(cp: Checkpoint): boolean {
    return cp.sourcePrefix !== this.options.prefix || cp.destPrefix !== this.options.destPrefix;
  }

  /**
   * Merge mirrors may share destination ranges (that is how clusters are merged); an exclusive or
   * exact mirror may not, on either side of the overlap.
   */
  private async checkOverlap(): Promise<void> {
    const all = await listCheckpoints(this.dest);
    const mine = all.find((c) => c.name === this.name);
    const shared: SharedRange[] = [];
    for (const other of all) {
      if (other.name === this.name) continue;
      const theirs = prefixRange(Buffer.from(other.checkpoint.destPrefix));
      const common = intersect(this.destRange, theirs);
      if (common === null) continue;
      const theirMode = other.checkpoint.mode ?? 'merge';
      if (this.options.mode !== 'merge' || theirMode !== 'merge') {
        // With a registration of our own, only an older overlapping claim refuses us.
        if (mine !== undefined && mine.createRevision < other.createRevision && other.checkpoint.phase === 'claimed') continue;
        const who = this.options.mode !== 'merge' ? `this mirror is ${this.options.mode === 'exact' ? '--exact-prefix' : '--exclusive'}` : `mirror '${other.name}' is ${theirMode === 'exact' ? '--exact-prefix' : '--exclusive'}`;
        throw new MirrorOverlapError(
          `mirror '${this.name}' would write destination keys under ${showKey(this.destPrefix)}, which overlaps mirror '${other.name}' ` +
            `(destination prefix ${showKey(Buffer.from(other.checkpoint.destPrefix))}, registered as __ferry/mirror/${other.name}/checkpoint), and ${who}. ` +
            'Give the mirrors disjoint destination prefixes, or run both as merge mirrors (the default: overlap allowed, conflicts counted)',
        );
      }
      shared.push({ range: common, mirror: other.name });
    }
    const known = new Set(this.shared.map((s) => s.mirror));
    this.shared = shared;
    if (shared.some((s) => !known.has(s.mirror))) this.log.info({ mirror: this.name, sharedWith: shared.map((s) => s.mirror) }, 'destination range overlaps other merge mirrors: their keys are kept, conflicts are counted');
  }

  private isShared(key: Buffer): boolean {
    for (const s of this.shared) if (inRange(key, s.range)) return true;
    return false;
  }

  /**
   * The delete of a key the source no longer holds, and of this mirror's marker. Where mirrors share
   * the key's range, the key's delete is a nested transaction that runs only if none of their markers
   * is on the key (a sharer wrote it too: it stays, with whatever value it holds). The marker goes
   * either way: this source no longer stands behind the key.
   */
  private deleteUnit(key: Buffer, expectPrev: Buffer | null | undefined): Unit {
    const del: IRequestOp = { request_delete_range: { key, prev_kv: expectPrev !== undefined } };
    const bytes = 2 * key.length + this.owner().length;
    const compare: ICompare[] = [];
    for (const s of this.shared) {
      if (inRange(key, s.range)) compare.push({ key: Buffer.concat([ownerPrefix(s.mirror), key]), target: 'Create', result: 'Equal', create_revision: 0 });
    }
    let u: Unit;
    if (compare.length === 0) {
      this.stats.keysDeleted++;
      u = { ops: [del, this.markerDelete(key)], bytes };
    } else {
      // A kept key is read instead, for conflict counting: its value against this source's last.
      const failure: IRequestOp[] = expectPrev === undefined ? [] : [{ request_range: { key } }];
      u = { ops: [{ request_txn: { compare, success: [del], failure } }, this.markerDelete(key)], bytes: bytes + compare.length * (this.owner().length + key.length), guarded: true };
    }
    if (expectPrev !== undefined) u.expectPrev = expectPrev;
    return u;
  }

  // ---- converging sync ---------------------------------------------------------------------------------

  /**
   * Bring the destination range to the source range at one revision: a merge, in key order, of the
   * source, the destination and this mirror's ownership markers. Keys that differ are put (and
   * marked); keys the source lacks are deleted only if this mirror wrote them (any key, with
   * --exact-prefix). From scratch, or resumed from a sync checkpoint's cursor (a destination key:
   * everything up to it is done).
   *
   *   source  (mapped)  ─┐
   *   destination       ─┼─▶ smallest key first ─▶ put / mark / delete / leave ─▶ txns ≤ max-txn-ops
   *   own/<key> markers ─┘
   */
  private async sync(cp: Checkpoint | null, resume: { revision: number; cursor: Buffer | null } | null, reason: string): Promise<void> {
    const started = performance.now();
    this.stats.phase = 'syncing';
    this.stats.syncStartedAtMs = started;
    const syncs = cp?.syncs ?? 0;
    // Mirrors sharing the range may have registered since start-up: their keys must survive the sync.
    await this.checkOverlap();
    let revision: number;
    if (resume !== null) revision = resume.revision;
    else {
      const head = await this.source.kv.range({ key: this.rangeKey(), limit: 1, keys_only: true });
      revision = Number(head.header.revision);
      this.stats.observeHead(revision, performance.now());
    }
    const cursor = resume?.cursor ?? null;
    const srcStart = cursor === null ? this.sourceRange.start : Buffer.concat([this.unmapKey(cursor), Buffer.from([0])]);
    const dstStart = cursor === null ? this.destRange.start : Buffer.concat([cursor, Buffer.from([0])]);
    const counts = await this.source.kv.range({ key: this.rangeKey(), range_end: this.rangeEnd(), revision, count_only: true });
    this.stats.syncKeysTotal = Number(counts.count);
    this.stats.syncKeysDone = 0;
    if (cursor !== null) {
      const before = await this.source.kv.range({ key: this.rangeKey(), range_end: srcStart, revision, count_only: true });
      this.stats.syncKeysDone = Number(before.count);
    }
    this.stats.syncRevision = revision;
    this.log.info({ mirror: this.name, revision, keys: this.stats.syncKeysTotal, resumeAfter: cursor === null ? undefined : showKey(cursor) }, reason);

    const owner = this.owner();
    const src = new RangePager(this.source, 'source', { start: srcStart, end: this.sourceRange.end }, revision, this.settings.pageSize);
    let dst = new RangePager(this.dest, 'destination', { start: dstStart, end: this.destRange.end }, 0, this.settings.pageSize);
    const own = new RangePager(this.dest, 'destination', { start: Buffer.concat([owner, dstStart]), end: this.destRange.end === null ? prefixEnd(owner) : Buffer.concat([owner, this.destRange.end]) }, 0, this.settings.pageSize, true);
    let units: Unit[] = [];
    let bytes = 0;
    let position: Buffer | null = cursor;
    const flush = async (): Promise<void> => {
      if (units.length === 0) return;
      const next = this.newCheckpoint('sync', revision, { cursor: position?.toString('base64'), events: 0, syncs });
      await this.commitUnits(units, next);
      units = [];
      bytes = 0;
    };
    const add = async (u: Unit): Promise<void> => {
      if (units.length > 0 && (this.opsIn(units) + this.opsIn([u]) > this.options.maxTxnOps - 1 || bytes + u.bytes > this.settings.maxTxnBytes)) await flush();
      units.push(u);
      bytes += u.bytes;
    };

    for (;;) {
      if (this.stopped) throw STOPPED;
      const s = await src.peek();
      const d = await dst.peek();
      const o = await own.peek();
      if (d !== null && isReserved(d.key)) {
        // Bookkeeping inside the range (a mirror onto the root): jump past it rather than read
        // every mirror's markers.
        dst = new RangePager(this.dest, 'destination', { start: RESERVED_END, end: this.destRange.end }, 0, this.settings.pageSize);
        continue;
      }
      const sKey = s === null ? null : mapKey(s.key, this.sourcePrefix, this.destPrefix);
      if (s !== null && sKey !== null && isReserved(sKey)) {
        this.stats.skippedReserved++;
        this.stats.syncKeysDone++;
        src.advance();
        continue;
      }
      const oKey = o === null ? null : o.key.subarray(owner.length);
      const key = smallest(sKey, d?.key ?? null, oKey);
      if (key === null) break;
      const inS = sKey !== null && sKey.equals(key);
      const inD = d !== null && d.key.equals(key);
      const marked = oKey !== null && oKey.equals(key);
      if (inS) {
        if (inD && this.sameAs(s!, d!)) {
          this.stats.keysUnchanged++;
          // Already equal to the source: the mirror stands behind it from now on, as if it wrote it.
          // A marker on another lease than the key's (the key was leased before) would vanish without it.
          if (!marked || o!.lease !== d!.lease) await add({ ops: [this.markerPut(key, d!.lease)], bytes: owner.length + key.length });
        } else {
          if (inD && this.isShared(key)) this.stats.conflicts++;
          await add(await this.putUnit(key, s!, undefined, !marked || (this.leases !== null && (s!.lease !== '0' || o!.lease !== '0'))));
        }
        this.stats.syncKeysDone++;
      } else if (this.options.mode === 'exact') {
        const ops: IRequestOp[] = [];
        if (inD) ops.push({ request_delete_range: { key } });
        if (marked) ops.push(this.markerDelete(key));
        if (inD) this.stats.keysDeleted++;
        await add({ ops, bytes: 2 * key.length + owner.length });
      } else if (marked) {
        // The source lacks a key this mirror wrote: delete it, unless a mirror sharing the range
        // wrote it too (then it is theirs as much as ours); the marker goes either way.
        await add(inD ? this.deleteUnit(key, undefined) : { ops: [this.markerDelete(key)], bytes: owner.length + key.length });
      }
      position = key;
      if (inS) src.advance();
      if (inD) dst.advance();
      if (marked) own.advance();
    }
    // The last transaction of a sync also switches the checkpoint to the watch phase.
    await this.commitUnits(units, this.newCheckpoint('watch', revision, { events: 0, syncs: syncs + 1 }));
    this.stats.syncs++;
    this.stats.appliedRevision = revision;
    this.stats.unreachable = null;
    const ms = performance.now() - started;
    this.log.info({ mirror: this.name, revision, keys: this.stats.syncKeysTotal, ms: Math.round(ms) }, 'sync complete: destination holds the source; watching');
    this.emit('synced', { revision, keys: this.stats.syncKeysTotal, ms, reason });
  }

  private sameAs(s: IKeyValue, d: IKeyValue): boolean {
    if (!s.value.equals(d.value)) return false;
    if (this.leases === null) return d.lease === '0';
    if (s.lease === '0') return d.lease === '0';
    return this.leases.known(s.lease) === d.lease;
  }

  /**
   * A key's write: the put, a new lease mapping if it needs one, and (when `mark`) its ownership
   * marker, on the key's destination lease so that it expires with the key. `'off-lease'`: the key
   * is written without a lease and may have had one until now; its marker is moved off any lease.
   */
  private async putUnit(key: Buffer, kv: IKeyValue, expectPrev: Buffer | null | undefined, mark: boolean | 'off-lease'): Promise<Unit> {
    let lease = '0';
    const ops: IRequestOp[] = [];
    if (this.leases !== null && kv.lease !== '0') {
      const l = await this.leases.destinationLease(kv.lease);
      lease = l.id;
      ops.push(...l.ops);
    }
    // The put comes first: conflict counting reads its response by position.
    const put: IRequestOp = { request_put: { key, value: kv.value, lease, prev_kv: expectPrev !== undefined } };
    if (mark === true) ops.push(this.markerPut(key, lease));
    else if (mark === 'off-lease') ops.push(this.markerOffLease(key));
    this.stats.keysPut++;
    const u: Unit = { ops: [put, ...ops], bytes: key.length + kv.value.length + 64 * ops.length + (mark === true ? this.owner().length + key.length : mark === 'off-lease' ? 2 * (this.owner().length + key.length) : 0) };
    if (expectPrev !== undefined) u.expectPrev = expectPrev;
    return u;
  }

  private owner(): Buffer {
    if (this.claimed === null) throw NOT_CLAIMED;
    return this.claimed.owner;
  }

  private markerPut(key: Buffer, lease: string): IRequestOp {
    return { request_put: { key: Buffer.concat([this.owner(), key]), value: Buffer.alloc(0), lease } };
  }

  /**
   * The marker put again without a lease if it is on one, and left alone otherwise (a compare, no
   * write): an absent marker stays absent, as the key is not this mirror's.
   */
  private markerOffLease(key: Buffer): IRequestOp {
    const marker = Buffer.concat([this.owner(), key]);
    return { request_txn: { compare: [{ key: marker, target: 'Lease', result: 'NotEqual', lease: '0' }], success: [{ request_put: { key: marker, value: Buffer.alloc(0) } }] } };
  }

  private markerDelete(key: Buffer): IRequestOp {
    return { request_delete_range: { key: Buffer.concat([this.owner(), key]) } };
  }

  // ---- watch --------------------------------------------------------------------------------------------

  /** Follow the source from the checkpoint until stop() or a failure (thrown). */
  private async follow(cp: Checkpoint, progressed: () => void): Promise<void> {
    const skipRevision = cp.partialRevision ?? 0;
    const skipEvents = cp.partialEvents ?? 0;
    const start = skipRevision > 0 ? skipRevision : cp.revision + 1;
    // Conflicts need the source's previous values (compared with the destination's), which cost the
    // source a read per event: asked for only while another mirror shares the range.
    this.countConflicts = this.shared.length > 0;
    const watch = await SourceWatch.open(this.source, this.sourceRange, start, this.countConflicts, this.options.source.commandTimeoutMs);
    this.stats.phase = 'watching';
    this.stats.unreachable = null;
    this.stats.appliedRevision = cp.revision;
    this.log.info({ mirror: this.name, fromRevision: start }, 'watching the source');
    progressed();
    let lastHeard = performance.now();
    let current = cp;
    this.abortWatch = (err) => watch.abort(err);
    // stop() while the watch was being opened found nothing to abort: the loop below would never end.
    if (this.stopped) watch.abort(STOPPED);
    // A lost destination lease is restored between transactions: a progress notice wakes the loop.
    if (this.leases !== null) this.leases.onLost = () => watch.requestProgress();
    this.timer = setInterval(() => {
      const silentMs = performance.now() - lastHeard;
      if (silentMs > this.settings.probeIntervalMs * 3) {
        watch.abort(new MirrorEtcdError('source', `watch stream silent for ${Math.round(silentMs / 1000)} s (no answer to progress requests)`, true));
        return;
      }
      watch.requestProgress();
      void this.watchForSharers(watch);
    }, this.settings.probeIntervalMs);
    try {
      for (;;) {
        if (this.leases?.hasLost() && current.partialRevision === undefined) current = await this.restoreLeases(this.leases, current);
        // Everything already received is handled together, so a mirror that fell behind catches up
        // in few, full transactions instead of one per revision.
        const responses = [await watch.next(), ...watch.drain(255)];
        lastHeard = performance.now();
        let progress = 0;
        // Whole revisions, in order; consecutive small ones share a destination transaction.
        const batch: Array<{ rev: number; events: number; units: Unit[] }> = [];
        let batchOps = 0;
        let batchBytes = 0;
        const keys = new Set<string>();
        const flush = async (): Promise<void> => {
          if (batch.length === 0) return;
          current = await this.applyBatch(current, batch);
          batch.length = 0;
          batchOps = 0;
          batchBytes = 0;
          keys.clear();
          progressed();
        };
        for (const res of responses) {
          this.stats.observeHead(Number(res.header.revision), lastHeard);
          // A progress notice: every event before it has been delivered (and is applied below).
          if (res.events.length === 0) progress = Math.max(progress, Number(res.header.revision));
          let i = 0;
          while (i < res.events.length) {
            const rev = Number(res.events[i]!.kv.mod_revision);
            let j = i;
            while (j < res.events.length && Number(res.events[j]!.kv.mod_revision) === rev) j++;
            if (rev > current.revision) {
              const skip = rev === skipRevision && current.partialRevision === rev ? skipEvents : 0;
              const group = res.events.slice(i, j);
              const units = await this.eventUnits(group, skip, current.markedFrom ?? 0);
              const ops = this.opsIn(units);
              const bytes = units.reduce((n, u) => n + u.bytes, 0);
              if (skip > 0 || ops > this.options.maxTxnOps - 1 || bytes > this.settings.maxTxnBytes) {
                // Too big for one transaction (or resumed halfway): split, checkpointing each part.
                await flush();
                current = await this.applySplit(current, rev, units, group.length, skip);
                progressed();
              } else {
                // etcd refuses a transaction that writes one key twice, so a repeated key starts a new one.
                if (batchOps + ops > this.options.maxTxnOps - 1 || batchBytes + bytes > this.settings.maxTxnBytes || units.some((u) => u.key !== undefined && keys.has(u.key))) await flush();
                batch.push({ rev, events: group.length, units });
                batchOps += ops;
                batchBytes += bytes;
                for (const u of units) if (u.key !== undefined) keys.add(u.key);
              }
            }
            i = j;
          }
        }
        await flush();
        if (progress > 0) this.stats.syncedRevision = Math.max(this.stats.syncedRevision, progress);
      }
    } finally {
      clearInterval(this.timer);
      this.timer = null;
      this.abortWatch = null;
      if (this.leases !== null) this.leases.onLost = null;
      watch.close();
    }
  }

  /**
   * Another mirror may register on an overlapping range at any time: its markers must guard this
   * mirror's deletes from then on. A merge mirror watching alone reopens its watch (from the
   * checkpoint, exactly) with previous values, to count conflicts.
   */
  private async watchForSharers(watch: SourceWatch): Promise<void> {
    if (this.options.mode !== 'merge') return;
    try {
      await this.checkOverlap();
    } catch {
      // A registration that cannot be read or judged now is looked at again at the next probe.
      return;
    }
    if (!this.countConflicts && this.shared.length > 0) watch.abort(new MirrorEtcdError('source', 'another mirror now shares the destination range: reopening the watch to count conflicts', true));
  }

  /**
   * The destination writes for one revision's events, from event `skip` on. A put of a key the
   * source already had (version > 1) finds its marker in place, written when the mirror first wrote
   * the key (sync or creation event), so only creations, keys older than `markedFrom`, and leased
   * keys (the marker follows the key's lease) write one. With lease mirroring, an unleased put moves
   * a marker still on the key's former lease off it (a compare that writes nothing otherwise), or it
   * would vanish with that lease. A delete removes the marker with the key.
   */
  private async eventUnits(events: IEvent[], skip: number, markedFrom: number): Promise<Unit[]> {
    const units: Unit[] = [];
    for (let k = skip; k < events.length; k++) {
      const ev = events[k]!;
      const key = mapKey(ev.kv.key, this.sourcePrefix, this.destPrefix);
      if (isReserved(key)) {
        this.stats.skippedReserved++;
        units.push({ ops: [], bytes: 0 });
        continue;
      }
      // Where no other writer touched the key the destination's previous value equals the source's,
      // so comparing every key costs a little bandwidth and never counts a false conflict.
      const expectPrev = this.countConflicts ? (ev.prev_kv?.value ?? null) : undefined;
      let u: Unit;
      if (ev.type === 'Put') {
        const mark = ev.kv.version === '1' || Number(ev.kv.create_revision) <= markedFrom || (this.leases !== null && ev.kv.lease !== '0');
        u = await this.putUnit(key, ev.kv, expectPrev, mark || this.leases === null ? mark : 'off-lease');
      } else {
        u = this.deleteUnit(key, expectPrev);
      }
      u.key = key.toString('latin1');
      units.push(u);
    }
    return units;
  }

  /** Whole revisions in one destination transaction; the checkpoint moves to the last of them. */
  private async applyBatch(cp: Checkpoint, batch: ReadonlyArray<{ rev: number; events: number; units: Unit[] }>): Promise<Checkpoint> {
    const last = batch[batch.length - 1]!.rev;
    let events = 0;
    const units: Unit[] = [];
    for (const b of batch) {
      events += b.events;
      units.push(...b.units);
    }
    const next = this.newCheckpoint('watch', last, { events: cp.events + events, syncs: cp.syncs, markedFrom: cp.markedFrom });
    await this.commitUnits(units, next);
    this.stats.eventsApplied += events;
    this.stats.revisionsApplied += batch.length;
    this.stats.appliedRevision = last;
    this.emit('applied', last);
    return next;
  }

  /**
   * One revision over several transactions (more ops than max-txn-ops allows): each part's
   * checkpoint says how many of the revision's events are in, so a restart resumes mid-revision.
   */
  private async applySplit(cp: Checkpoint, rev: number, units: Unit[], total: number, skip: number): Promise<Checkpoint> {
    let done = skip;
    let next = cp;
    let chunk: Unit[] = [];
    let bytes = 0;
    const commit = async (last: boolean): Promise<void> => {
      done += chunk.length;
      next = last
        ? this.newCheckpoint('watch', rev, { events: cp.events + (total - skip), syncs: cp.syncs, markedFrom: cp.markedFrom })
        : this.newCheckpoint('watch', cp.revision, { events: cp.events + (done - skip), syncs: cp.syncs, partialRevision: rev, partialEvents: done, markedFrom: cp.markedFrom });
      await this.commitUnits(chunk, next);
      chunk = [];
      bytes = 0;
    };
    for (const u of units) {
      if (chunk.length > 0 && (this.opsIn(chunk) + this.opsIn([u]) > this.options.maxTxnOps - 1 || bytes + u.bytes > this.settings.maxTxnBytes)) await commit(false);
      chunk.push(u);
      bytes += u.bytes;
    }
    await commit(true);
    this.stats.eventsApplied += total - skip;
    this.stats.revisionsApplied++;
    this.stats.appliedRevision = rev;
    this.emit('applied', rev);
    return next;
  }

  // ---- destination writes ------------------------------------------------------------------------------

  /**
   * Operations counted against `--max-txn-ops`. etcd lets a nested transaction have only the
   * operations the outer one leaves (`--max-txn-ops` minus its own count), so each nested
   * transaction also counts its largest branch: a total within the limit then satisfies etcd.
   */
  private opsIn(units: Unit[]): number {
    let n = 0;
    for (const u of units) {
      for (const op of u.ops) {
        const t = op.request_txn;
        n += t === undefined ? 1 : 1 + Math.max(t.compare?.length ?? 0, t.success?.length ?? 0, t.failure?.length ?? 0);
      }
    }
    return n;
  }

  private async commitUnits(units: Unit[], next: Checkpoint): Promise<void> {
    const ops: IRequestOp[] = [];
    const checks: Array<{ at: number; expect: Buffer | null | undefined }> = [];
    for (const u of units) {
      if ((u.expectPrev !== undefined || u.guarded === true) && u.ops.length > 0) checks.push({ at: ops.length, expect: u.expectPrev });
      ops.push(...u.ops);
    }
    let res: ITxnResponse;
    try {
      res = this.isLargePut(units) ? await this.commitLargePut(units[0]!, next) : await this.writer.commit(ops, next);
    } catch (err) {
      throw classifyEtcdError('destination', err);
    }
    this.stats.txns++;
    for (const c of checks) {
      let r = res.responses[c.at];
      const guard = r?.response_txn;
      if (guard !== undefined && guard !== null) {
        if (guard.succeeded) this.stats.keysDeleted++;
        else this.stats.keysKept++;
        r = guard.responses[0];
      }
      if (c.expect === undefined) continue;
      const prev = r?.response_put?.prev_kv ?? r?.response_delete_range?.prev_kvs?.[0] ?? r?.response_range?.kvs?.[0];
      const had = prev === undefined || prev === null ? null : prev.value;
      if ((had === null) !== (c.expect === null) || (had !== null && c.expect !== null && !had.equals(c.expect))) this.stats.conflicts++;
    }
  }

  /** Over the byte budget, a unit is alone in its transaction (the batching sees to it). */
  private isLargePut(units: Unit[]): boolean {
    return units.length === 1 && units[0]!.bytes > this.settings.maxTxnBytes && units[0]!.ops[0]?.request_put !== undefined;
  }

  /**
   * etcd refuses a request over its --max-request-bytes (1.5 MiB by default), and the source may
   * hold a value that fits alone but not beside its marker and the checkpoint. Such a put goes in
   * three transactions, each guarded by the checkpoint: the marker and lease mapping (a marker
   * ahead of its key claims only what the put is about to make true), the put alone, and then the
   * checkpoint past it. A crash in between leaves the checkpoint before the put, which is redone.
   * Resolves with the put's response (the caller counts its transaction and reads it).
   */
  private async commitLargePut(u: Unit, next: Checkpoint): Promise<ITxnResponse> {
    const [put, ...bookkeeping] = u.ops as [IRequestOp, ...IRequestOp[]];
    if (bookkeeping.length > 0) {
      await this.writer.guarded(bookkeeping);
      this.stats.txns++;
    }
    let res: ITxnResponse;
    try {
      res = await this.writer.guarded([put]);
    } catch (err) {
      const e = classifyEtcdError('destination', err);
      // Alone, the put is as small as it can be: no retry and no split gets it in.
      if (!/request is too large/.test(e.message)) throw e;
      const { key, value } = put.request_put!;
      throw new MirrorEtcdError('destination', `${showKey(key!)} has a value of ${value!.length} bytes, over the destination's request limit (etcd --max-request-bytes) even in a transaction of its own (${e.message})`, false, err);
    }
    await this.writer.commit([], next);
    this.stats.txns++;
    return res;
  }

  private newCheckpoint(
    phase: Checkpoint['phase'],
    revision: number,
    extra: { cursor?: string | undefined; events?: number; syncs?: number; partialRevision?: number; partialEvents?: number; markedFrom?: number | undefined },
  ): Checkpoint {
    return {
      v: 1,
      name: this.name,
      mode: this.options.mode,
      markedFrom: extra.markedFrom,
      sourcePrefix: this.options.prefix,
      destPrefix: this.options.destPrefix,
      sourceClusterId: this.clusterId,
      phase,
      revision,
      cursor: extra.cursor,
      partialRevision: extra.partialRevision,
      partialEvents: extra.partialEvents,
      events: extra.events ?? 0,
      syncs: extra.syncs ?? 0,
      updated: new Date().toISOString(),
    };
  }

  // ---- lost destination leases ------------------------------------------------------------------------

  /**
   * Destination leases that expired while their source leases live (refreshes did not reach the
   * destination within the TTL) took their keys with them. Those keys are put back on new leases as
   * the source held them at the checkpoint's revision, which is what the destination should hold;
   * later events follow through the watch, and keys put on the lease after that revision are the
   * watch's to write.
   */
  private async restoreLeases(leases: LeaseMirror, cp: Checkpoint): Promise<Checkpoint> {
    const units: Unit[] = [];
    for (const srcId of leases.takeLost()) {
      for (const k of await leases.sourceKeys(srcId)) {
        if (!inRange(k, this.sourceRange)) continue;
        const kv = (await this.source.kv.range({ key: k, revision: cp.revision })).kvs[0];
        const key = mapKey(k, this.sourcePrefix, this.destPrefix);
        if (kv === undefined || kv.lease !== srcId || isReserved(key)) continue;
        units.push(await this.putUnit(key, kv, undefined, true));
      }
    }
    const next = this.newCheckpoint('watch', cp.revision, { events: cp.events, syncs: cp.syncs, markedFrom: cp.markedFrom });
    let chunk: Unit[] = [];
    let bytes = 0;
    for (const u of units) {
      if (chunk.length > 0 && (this.opsIn(chunk) + this.opsIn([u]) > this.options.maxTxnOps - 1 || bytes + u.bytes > this.settings.maxTxnBytes)) {
        await this.commitUnits(chunk, next);
        chunk = [];
        bytes = 0;
      }
      chunk.push(u);
      bytes += u.bytes;
    }
    if (chunk.length > 0) await this.commitUnits(chunk, next);
    this.log.info({ mirror: this.name, keys: units.length, revision: cp.revision }, 'put back the keys of destination leases lost while their source leases live');
    return next;
  }

  // ---- leases after a restart --------------------------------------------------------------------------

  /**
   * With lease mirroring, a mirror away for longer than a lease's TTL finds the destination lease
   * (and its keys) gone while the source still has them. Detect that from the source's leased keys.
   */
  private async leasesLost(cp: Checkpoint): Promise<boolean> {
    if (this.leases === null) return false;
    await this.leases.load();
    const pager = new RangePager(this.source, 'source', this.sourceRange, 0, this.settings.pageSize, true);
    for (let kv = await pager.peek(); kv !== null; pager.advance(), kv = await pager.peek()) {
      // A key written after the checkpoint will be replayed by the watch, lease and all.
      if (kv.lease !== '0' && Number(kv.mod_revision) <= cp.revision && !this.leases.has(kv.lease)) return true;
    }
    return false;
  }

  // ---- retries -----------------------------------------------------------------------------------------

  private async retrying(fn: () => Promise<void>): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      if (this.stopped) throw STOPPED;
      try {
        return await fn();
      } catch (err) {
        const e = classifyEtcdError('source', err);
        if (!e.retriable || this.stopped) throw e;
        await this.backoff(e, attempt);
      }
    }
  }

  private async backoff(e: MirrorError, attempt: number): Promise<void> {
    this.stats.phase = 'reconnecting';
    this.stats.reconnects++;
    this.stats.transientErrors++;
    this.stats.unreachable = { side: e instanceof MirrorEtcdError ? e.side : 'source', sinceMs: this.stats.unreachable?.sinceMs ?? performance.now() };
    const ceiling = Math.min(this.settings.backoffMaxMs, this.settings.backoffInitialMs * 2 ** Math.min(attempt, 20));
    const delay = Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
    this.log.warn({ mirror: this.name, code: e.code, err: e.message, attempt: attempt + 1, retryInMs: delay }, 'transient failure; reconnecting');
    await new Promise<void>((resolve) => {
      const t = setTimeout(done, delay);
      function done(): void {
        clearTimeout(t);
        resolve();
      }
      this.wake = done;
    });
    this.wake = null;
  }

  private rangeKey(): Buffer {
    return this.sourceRange.start.length === 0 ? Buffer.from([0]) : this.sourceRange.start;
  }

  private rangeEnd(): Buffer {
    return this.sourceRange.end ?? Buffer.from([0]);
  }

  private unmapKey(destKey: Buffer): Buffer {
    return Buffer.concat([this.sourcePrefix, destKey.subarray(this.destPrefix.length)]);
  }
}

/** The smallest of some keys (null: absent), or null when all are absent. */
function smallest(...keys: Array<Buffer | null>): Buffer | null {
  let min: Buffer | null = null;
  for (const k of keys) if (k !== null && (min === null || Buffer.compare(k, min) < 0)) min = k;
  return min;
}
