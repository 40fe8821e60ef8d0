/**
 * The checkpoint: where a mirror stands, written in the same destination transaction as the data it
 * describes, so the destination never holds data the checkpoint does not account for, or the reverse.
 *
 *   __ferry/mirror/<name>/checkpoint = {"v":1, "phase":"watch", "revision":812, "events":5120, …}
 *
 * Ownership markers (`__ferry/mirror/<name>/own/<key>`) live beside it and are written in the same
 * transactions, so after a kill -9 they still say exactly which destination keys this mirror wrote.
 *
 * Every transaction also compares the checkpoint's mod revision with the one this process last
 * wrote: if anything else moved it (a second process running the same mirror), the transaction
 * fails instead of applying events twice.
 */

import { classifyEtcdError } from './etcd-client.js';
import type { Etcd3, IRequestOp, ITxnResponse } from 'etcd3';
import { MirrorCheckpointError } from './errors.js';
import { checkpointKey, prefixEnd, RESERVED_PREFIX } from './key-range.js';
import type { MirrorMode } from './mirror-options.js';

export interface Checkpoint {
  readonly v: 1;
  readonly name: string;
  readonly sourcePrefix: string;
  readonly destPrefix: string;
  /** the source cluster's id: a checkpoint from another cluster means nothing here */
  readonly sourceClusterId: string;
  /**
   * `claimed`: registered, nothing written yet. `sync`: a converging sync at `revision` has covered
   * the destination up to `cursor` (a destination key, base64). `watch`: every event up to
   * `revision` is applied, plus the first `partialEvents` events of `partialRevision`.
   */
  readonly phase: 'claimed' | 'sync' | 'watch';
  readonly revision: number;
  readonly cursor?: string | undefined;
  readonly partialRevision?: number | undefined;
  readonly partialEvents?: number | undefined;
  /** watch events applied since the last sync finished: a replayed event would show up here */
  readonly events: number;
  /** completed syncs, the first one included */
  readonly syncs: number;
  /** the mirror's mode, for other mirrors' overlap checks (absent in checkpoints older than modes: merge) */
  readonly mode?: MirrorMode | undefined;
  /**
   * Source keys created at or before this revision may lack an ownership marker (the mirror started
   * with --rev, without a sync): their puts write one. After a sync every key the source holds has one.
   */
  readonly markedFrom?: number | undefined;
  readonly updated: string;
}

export function encodeCheckpoint(c: Checkpoint): Buffer {
  return Buffer.from(JSON.stringify(c));
}

export function decodeCheckpoint(value: Buffer, where: string): Checkpoint {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value.toString('utf8'));
  } catch {
    throw new MirrorCheckpointError(`${where} is not a Ferry checkpoint (not JSON); remove it or choose another --name`);
  }
  const c = parsed as Partial<Checkpoint>;
  if (c.v !== 1 || typeof c.revision !== 'number' || (c.phase !== 'claimed' && c.phase !== 'sync' && c.phase !== 'watch') || typeof c.destPrefix !== 'string') {
    throw new MirrorCheckpointError(`${where} is not a Ferry checkpoint of a known version; remove it or choose another --name`);
  }
  return c as Checkpoint;
}

/**
 * Every mirror registered in a destination: name → checkpoint. Names cannot hold `/`, so the scan
 * jumps from one mirror's key space to the next and never reads ownership markers or lease mappings.
 */
export async function listCheckpoints(dest: Etcd3): Promise<Array<{ name: string; checkpoint: Checkpoint; createRevision: number }>> {
  const out: Array<{ name: string; checkpoint: Checkpoint; createRevision: number }> = [];
  let from: Buffer = RESERVED_PREFIX;
  for (;;) {
    const first = (await atDestination(dest.kv.range({ key: from, range_end: prefixEnd(RESERVED_PREFIX)!, limit: 1, keys_only: true }))).kvs[0];
    if (first === undefined) return out;
    const rest = first.key.subarray(RESERVED_PREFIX.length);
    const slash = rest.indexOf(0x2f);
    if (slash < 0) {
      // Not a mirror's key space (nothing of ours is written here): step over it.
      from = Buffer.concat([first.key, Buffer.from([0])]);
      continue;
    }
    const name = rest.subarray(0, slash).toString('utf8');
    const key = checkpointKey(name);
    const kv = (await atDestination(dest.kv.range({ key }))).kvs[0];
    if (kv !== undefined) {
      try {
        out.push({ name, checkpoint: decodeCheckpoint(kv.value, key.toString('utf8')), createRevision: Number(kv.create_revision) });
      } catch {
        // Not ours to judge: another mirror's unreadable checkpoint is that mirror's problem.
      }
    }
    from = prefixEnd(Buffer.concat([RESERVED_PREFIX, rest.subarray(0, slash + 1)]))!;
  }
}

/** Writes data and checkpoint together, guarded by the checkpoint's mod revision. */
export class CheckpointedWriter {
  readonly key: Buffer;
  /** mod revision of the checkpoint as this process last wrote or read it; 0 = absent */
  private modRevision = 0;
  current: Checkpoint | null = null;

  constructor(
    private readonly dest: Etcd3,
    readonly name: string,
  ) {
    this.key = checkpointKey(name);
  }

  /** Read the checkpoint (and its mod revision, which guards every later write). */
  async load(): Promise<Checkpoint | null> {
    const res = await atDestination(this.dest.kv.range({ key: this.key }));
    const kv = res.kvs[0];
    if (kv === undefined) {
      this.modRevision = 0;
      this.current = null;
    } else {
      this.modRevision = Number(kv.mod_revision);
      this.current = decodeCheckpoint(kv.value, this.key.toString('utf8'));
    }
    return this.current;
  }

  /** One destination transaction: `ops`, then the checkpoint, if nobody else moved the checkpoint. */
  async commit(ops: IRequestOp[], next: Checkpoint): Promise<ITxnResponse> {
    const res = await atDestination(
      this.dest.kv.txn({
        compare: [{ key: this.key, target: 'Mod', result: 'Equal', mod_revision: this.modRevision }],
        success: [...ops, { request_put: { key: this.key, value: encodeCheckpoint(next) } }],
        failure: [{ request_range: { key: this.key } }],
      }),
    );
    if (!res.succeeded) throw this.moved();
    this.modRevision = Number(res.header.revision);
    this.current = next;
    return res;
  }

  /**
   * `ops` alone, if nobody else moved the checkpoint, which stays as it is: for a write too big to
   * share its transaction with the checkpoint (the checkpoint follows in a transaction of its own).
   */
  async guarded(ops: IRequestOp[]): Promise<ITxnResponse> {
    const res = await atDestination(this.dest.kv.txn({ compare: [{ key: this.key, target: 'Mod', result: 'Equal', mod_revision: this.modRevision }], success: ops }));
    if (!res.succeeded) throw this.moved();
    return res;
  }

  /**
   * Take over `other` (a checkpoint key with mod revision `modRevision`) as this writer's checkpoint,
   * in one transaction that moves it here and deletes the original; false if either key changed first.
   */
  async adopt(other: Buffer, modRevision: number, next: Checkpoint): Promise<boolean> {
    const res = await atDestination(
      this.dest.kv.txn({
        compare: [
          { key: other, target: 'Mod', result: 'Equal', mod_revision: modRevision },
          { key: this.key, target: 'Mod', result: 'Equal', mod_revision: 0 },
        ],
        success: [{ request_put: { key: this.key, value: encodeCheckpoint(next) } }, { request_delete_range: { key: other } }],
      }),
    );
    if (res.succeeded) {
      this.modRevision = Number(res.header.revision);
      this.current = next;
    }
    return res.succeeded;
  }

  private moved(): MirrorCheckpointError {
    return new MirrorCheckpointError(
      `checkpoint ${this.key.toString('utf8')} was changed by another writer: another process is running mirror '${this.name}' into this destination (give each mirror its own name)`,
    );
  }

  /** Remove the checkpoint if it is still the one this process wrote (a refused claim). */
  async release(): Promise<void> {
    await atDestination(
      this.dest.kv.txn({
        compare: [{ key: this.key, target: 'Mod', result: 'Equal', mod_revision: this.modRevision }],
        success: [{ request_delete_range: { key: this.key } }],
      }),
    );
    this.modRevision = 0;
    this.current = null;
  }
}

/** A destination call: its failure is reported as the destination's (not the source's). */
async function atDestination<T>(call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (err) {
    throw classifyEtcdError('destination', err);
  }
}
