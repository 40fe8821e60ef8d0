/**
 * Taking one record message from a source, whatever carried it (a TCP session's byte stream or an
 * HTTP/2 request body): inflate a type 4 (into the source arena when it can, arena-inflater.ts),
 * check the whole message and find its digest and LUT (protocol's routeRecordMessage; the worker
 * scans it again for the rest), observe the lag, and either hold it (paused, no destination),
 * answer it here (a no-bins write), or number it in the owner's reorder window and hand it to its
 * worker's ring (by reference when it lies in the arena, else copied).
 *
 *   type 4 ─▶ inflate ─┐
 *   type 3 ────────────┴▶ scan ─┬─ paused / no destination ─▶ held (the sweep answers the retry code)
 *                               ├─ no-bins write ─▶ answered 0 here
 *                               ├─ worker ring full ─▶ NoRoom (offered again on tryResume)
 *                               └─ window.open ─▶ router.dispatch
 *
 * The caller has checked its window, the global budget and the peer's authentication first.
 */

import {
  AsMsg,
  CITRUSLEAF_EPOCH_MS,
  InflateError,
  Info2,
  MessageType,
  PROTO_HEADER_SIZE,
  ResultCode,
  Route,
  ScanError,
  inflateErrorText,
  newRoute,
  partitionOf,
  routeRecordMessage,
  scanErrorText,
  u16be,
  u32be,
} from '../protocol/index.js';
import type { ArenaInflater, Inflated } from './arena-inflater.js';
import type { InFlightBudget, Resumable } from './in-flight-budget.js';
import { HELD, type ReorderWindow } from './reorder-window.js';
import type { SourceStats } from './source-stats.js';
import type { Clock, RecordRouter, SessionLimits } from './types.js';

/** Shared scratch for scans and inflation: sessions run on one thread, one frame at a time. */
const route = newRoute();
const inflated: Inflated = { bytes: Buffer.alloc(0), start: 0, end: 0 };

/** What became of a record (a string instead: it is malformed, and why). */
export const enum Intake {
  /** dispatched to a worker: its reply comes later */
  Taken = 0,
  /** answered here already (a no-bins write): the caller flushes */
  Answered = 1,
  /** its worker's ring is full: offer it again once `owner.tryResume()` is called */
  NoRoom = 2,
  /** held in the window (paused, or no destination): the sweep answers the retry code later */
  Held = 3,
}

/** What every owner of source records shares: set up once per listener. */
export interface IntakeContext {
  readonly limits: SessionLimits;
  readonly router: RecordRouter;
  readonly budget: InFlightBudget;
  readonly stats: SourceStats;
  readonly clock: Clock;
  readonly inflater: ArenaInflater;
}

/** The owner of a reorder window: a TCP session, or an HTTP/2 connection. */
export interface IntakeOwner extends Resumable {
  readonly id: number;
  /** records held in the window (paused, or no destination) that may still be pending */
  held: number;
}

/** Take a type 3 or type 4 message whose body is `buf[start, end)`. */
export function takeRecord(ctx: IntakeContext, owner: IntakeOwner, window: ReorderWindow, type: number, buf: Buffer, start: number, end: number): Intake | string {
  if (type === MessageType.Compressed) {
    const err = ctx.inflater.inflate(buf, start, end, ctx.limits.maxFrame, inflated);
    if (err !== InflateError.None) return inflateErrorText(err);
    ctx.stats.compressed++;
    const r = takeScanned(ctx, owner, window, inflated.bytes, inflated.start + PROTO_HEADER_SIZE, inflated.end);
    // Dispatched: its worker reads the bytes where they lie. Otherwise the next message reuses them.
    if (r === Intake.Taken) ctx.inflater.keep();
    return r;
  }
  return takeScanned(ctx, owner, window, buf, start, end);
}

function takeScanned(ctx: IntakeContext, owner: IntakeOwner, window: ReorderWindow, buf: Buffer, start: number, end: number): Intake | string {
  const err = routeRecordMessage(buf, start, end, route);
  if (err !== ScanError.None) return scanErrorText(err);
  const { limits, stats, clock, budget, router } = ctx;
  const lutAt = route[Route.LutFieldOffset]!;
  if (lutAt >= 0) {
    // Field: [u32 size][u8 type][u64 LUT]; the low 40 bits (bytes 3..7 of the u64) are ms since
    // 2010-01-01. Read them without a BigInt.
    const ms = buf[lutAt + 8]! * 0x100000000 + u32be(buf, lutAt + 9);
    stats.lag.observe((clock.epochMs - CITRUSLEAF_EPOCH_MS - ms) / 1000);
  }
  if (limits.recordLog !== null) limits.recordLog(buf, start, end);
  const info2 = buf[start + 2]!;
  if (limits.paused || limits.destinationDown) {
    // Paused, or nowhere to write: the source keeps the record and ships it again later. The
    // retry code comes after HOLD_MS (the sweep answers it), not at once: a source re-ships a
    // retried record almost at once, so answering now would spin both sides at full CPU. Held
    // records count against the in-flight caps, so reading pauses when they are full.
    if (limits.paused) stats.pausedRetries++;
    else stats.destinationDownRetries++;
    stats.records++;
    budget.take();
    window.open(clock.now, HELD);
    owner.held++;
    return Intake.Held;
  }
  if ((info2 & Info2.Write) !== 0 && (info2 & Info2.Delete) === 0 && u16be(buf, start + AsMsg.OpCount) === 0) {
    // A no-bins write carries nothing a destination can store (it answers 4): acknowledge it here.
    stats.noBins++;
    answerHere(ctx, window, ResultCode.Ok);
    return Intake.Answered;
  }
  const partition = partitionOf(buf, route[Route.DigestOffset]!);
  const worker = router.workerFor(partition);
  if (!router.fits(worker, buf, end - start)) {
    router.waitForRoom(owner);
    return Intake.NoRoom;
  }
  stats.records++;
  budget.take();
  const seq = window.open(clock.now, worker);
  router.dispatch(worker, partition, owner.id, seq, clock.epochMs, buf, start, end);
  return Intake.Taken;
}

/** A record answered by its owner itself, without a worker: `code` in its turn (the caller flushes). */
export function answerHere(ctx: IntakeContext, window: ReorderWindow, code: number): void {
  ctx.stats.records++;
  ctx.budget.take();
  window.complete(window.open(ctx.clock.now, -1), code);
}
