// Turns one inbound frame into its reply bytes: info, security, record messages and batches.
// Faults that change a reply's content (errorCode, failNext) are applied here; faults that
// change its timing live in connection.ts.
//
// In a cluster every node executes every record request it gets: the nodes share one store,
// which stands for a real node proxying the request to the partition's master and relaying
// the answer. Such requests are counted as `forwarded`.

import { type BatchRow, readBatchField } from './batch.js';
import { RecordExecutor, type RecordOutcome } from './execute.js';
import type { FaultState } from './faults.js';
import type { Frame } from './framer.js';
import { writeProtoHeader } from './framer.js';
import { answerInfo, type InfoContext } from './info.js';
import {
  MalformedMessageError,
  bareReply,
  encodeReply,
  findField,
  readMessage,
  replyMessageSize,
  writeReplyMessage,
  type AsMsg,
} from './message.js';
import { answerScan, isScanRequest } from './scan.js';
import { answerSecurity, type ConnectionAuth, type SecurityPolicy } from './security.js';
import type { RecordStore } from './store.js';
import { partitionOf } from './topology.js';
import {
  DIGEST_SIZE,
  FieldType,
  Info1,
  Info3,
  MSG_HEADER_SIZE,
  PROTO_HEADER_SIZE,
  ProtoType,
  ResultCode,
  SecurityCommand,
} from './wire.js';

export interface DoubleStats {
  /** Record requests (type 3 and 4), batches counted once. */
  requests: number;
  /**
   * Record requests (and batch rows) for a partition this node does not master, executed on
   * the master's behalf. Always 0 on a stand-alone double, which masters every partition.
   */
  forwarded: number;
  /** Scans answered (counted in `requests` too). */
  scans: number;
  /** Successful writes (batch rows included). */
  writes: number;
  /** Successful deletes, including writes that left a record without bins. */
  deletes: number;
  /** Successful reads (exists included). */
  reads: number;
  /** Non-zero result codes answered, by code (not found included). */
  rejected: Record<number, number>;
  /** Successful writes that kept the XDR bit. */
  xdrWrites: number;
  /** Connections accepted since start. */
  connections: number;
  infoRequests: number;
  /** Successful LOGINs (security configured only). */
  logins: number;
  /** Successful AUTHENTICATEs (security configured only). */
  authentications: number;
  /** TLS handshakes that failed (TLS configured only). */
  tlsFailures: number;
}

export function emptyStats(): DoubleStats {
  return {
    requests: 0,
    forwarded: 0,
    scans: 0,
    writes: 0,
    deletes: 0,
    reads: 0,
    rejected: {},
    xdrWrites: 0,
    connections: 0,
    infoRequests: 0,
    logins: 0,
    authentications: 0,
    tlsFailures: 0,
  };
}

export class RequestHandler {
  private readonly executor: RecordExecutor;

  constructor(
    private readonly store: RecordStore,
    private readonly info: InfoContext,
    private readonly stats: DoubleStats,
    private readonly faults: FaultState,
    private readonly onInfoName: (name: string, known: boolean) => void,
    private readonly security: SecurityPolicy | undefined,
  ) {
    this.executor = new RecordExecutor(store);
  }

  /** Record requests are the ones subject to delay and stall. */
  static isRecordFrame(frame: Frame): boolean {
    return frame.type === ProtoType.MESSAGE || frame.type === ProtoType.COMPRESSED;
  }

  /**
   * `auth` is the connection's security state. Info needs no authentication here, although a
   * server with security enabled answers only a few names before it.
   */
  handle(frame: Frame, auth: ConnectionAuth): Buffer {
    switch (frame.type) {
      case ProtoType.INFO:
        return this.handleInfo(frame.body);
      case ProtoType.SECURITY:
        return this.handleSecurity(frame.body, auth);
      default:
        if (this.security && !auth.authenticated) {
          this.stats.requests++;
          const isBatch = frame.body.length >= MSG_HEADER_SIZE && (frame.body[1]! & Info1.BATCH) !== 0;
          return this.reject(ResultCode.NOT_AUTHENTICATED, isBatch);
        }
        return this.handleRecord(frame);
    }
  }

  private handleSecurity(body: Buffer, auth: ConnectionAuth): Buffer {
    const answer = answerSecurity(body, this.security, auth);
    if (this.security) {
      if (answer.resultCode !== ResultCode.OK) {
        this.stats.rejected[answer.resultCode] = (this.stats.rejected[answer.resultCode] ?? 0) + 1;
      } else if (answer.command === SecurityCommand.LOGIN) {
        this.stats.logins++;
      } else if (answer.command === SecurityCommand.AUTHENTICATE) {
        this.stats.authentications++;
      }
    }
    return answer.reply;
  }

  private handleInfo(body: Buffer): Buffer {
    this.stats.infoRequests++;
    const reply = answerInfo(body, this.info, this.onInfoName);
    const frame = Buffer.allocUnsafe(PROTO_HEADER_SIZE + reply.length);
    writeProtoHeader(frame, 0, ProtoType.INFO, reply.length);
    reply.copy(frame, PROTO_HEADER_SIZE);
    return frame;
  }

  private handleRecord(frame: Frame): Buffer {
    this.stats.requests++;
    const isBatch = frame.body.length >= MSG_HEADER_SIZE && (frame.body[1]! & Info1.BATCH) !== 0;
    const forced = this.faults.takeForcedCode();
    if (forced !== null) return this.reject(forced, isBatch);
    // Community Edition does not take compressed requests.
    if (frame.type === ProtoType.COMPRESSED) return this.reject(ResultCode.ENTERPRISE_ONLY, false);

    let msg: AsMsg;
    try {
      msg = readMessage(frame.body);
    } catch (err) {
      if (err instanceof MalformedMessageError) return this.reject(ResultCode.PARAMETER, isBatch);
      throw err;
    }
    if (isBatch) return this.handleBatch(msg);
    if (isScanRequest(msg)) {
      this.stats.scans++;
      return answerScan(msg, this.store, this.info.topology);
    }

    this.countForwarded(findField(msg.fields, FieldType.DIGEST));
    const outcome = this.executor.execute({ ...msg, honourXdr: true });
    this.count(outcome);
    if (outcome.bins.length === 0 && outcome.generation === 0 && outcome.voidTime === 0) {
      return bareReply(outcome.resultCode);
    }
    return encodeReply(outcome, outcome.bins);
  }

  private handleBatch(msg: AsMsg): Buffer {
    const field = findField(msg.fields, FieldType.BATCH_INDEX);
    if (!field) return this.reject(ResultCode.PARAMETER, true);
    let rows: BatchRow[];
    try {
      rows = readBatchField(field);
    } catch (err) {
      if (err instanceof MalformedMessageError) return this.reject(ResultCode.PARAMETER, true);
      throw err;
    }
    const results: { index: number; outcome: RecordOutcome }[] = [];
    let size = MSG_HEADER_SIZE; // the closing LAST message
    for (const row of rows) {
      this.countForwarded(row.digest);
      const outcome = this.executor.execute({ ...row, honourXdr: false });
      this.count(outcome);
      results.push({ index: row.index, outcome });
      size += replyMessageSize(outcome.bins);
    }
    // One frame holds every row's as_msg and the closing one; clients read until info3 LAST.
    const reply = Buffer.allocUnsafe(PROTO_HEADER_SIZE + size);
    writeProtoHeader(reply, 0, ProtoType.MESSAGE, size);
    let at = PROTO_HEADER_SIZE;
    for (const { index, outcome } of results) {
      at = writeReplyMessage(reply, at, { ...outcome, transactionTtl: index }, outcome.bins);
    }
    writeReplyMessage(reply, at, { resultCode: ResultCode.OK, info3: Info3.LAST }, []);
    return reply;
  }

  private countForwarded(digest: Buffer | undefined): void {
    if (digest && digest.length === DIGEST_SIZE && !this.info.topology.isMaster(partitionOf(digest))) this.stats.forwarded++;
  }

  private reject(resultCode: number, isBatch: boolean): Buffer {
    this.stats.rejected[resultCode] = (this.stats.rejected[resultCode] ?? 0) + 1;
    return isBatch ? encodeReply({ resultCode, info3: Info3.LAST }) : bareReply(resultCode);
  }

  private count(outcome: RecordOutcome): void {
    switch (outcome.kind) {
      case 'read':
        this.stats.reads++;
        break;
      case 'write':
        this.stats.writes++;
        if (outcome.xdr) this.stats.xdrWrites++;
        break;
      case 'delete':
        this.stats.deletes++;
        break;
      case 'rejected':
        this.stats.rejected[outcome.resultCode] = (this.stats.rejected[outcome.resultCode] ?? 0) + 1;
        break;
    }
  }
}
