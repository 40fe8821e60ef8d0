/**
 * Test helpers for wire bytes. Expected bytes are built here, independently of the writers under
 * test (`src/protocol/buffer-writer.ts`, `as-msg-writer.ts`), in the manner of pg-protocol's
 * `testing/buffer-list.ts`.
 */

/** Parse hex text; whitespace is ignored so expected bytes can be laid out like the wire doc. */
export function hexBytes(text: string): Buffer {
  const clean = text.replace(/\s+/g, '');
  if (clean.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(clean)) throw new Error(`bad hex: ${text}`);
  return Buffer.from(clean, 'hex');
}

/** A big-endian byte list: append values, then `join()`. */
export class ByteList {
  private readonly parts: Buffer[] = [];

  u8(v: number): this {
    this.parts.push(Buffer.from([v & 0xff]));
    return this;
  }

  u16(v: number): this {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(v);
    this.parts.push(b);
    return this;
  }

  u32(v: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(v >>> 0);
    this.parts.push(b);
    return this;
  }

  u48(v: number): this {
    const b = Buffer.alloc(6);
    b.writeUIntBE(v, 0, 6);
    this.parts.push(b);
    return this;
  }

  u64(v: bigint): this {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(v);
    this.parts.push(b);
    return this;
  }

  bytes(b: Uint8Array): this {
    this.parts.push(Buffer.from(b));
    return this;
  }

  str(s: string): this {
    this.parts.push(Buffer.from(s, 'utf8'));
    return this;
  }

  hex(text: string): this {
    this.parts.push(hexBytes(text));
    return this;
  }

  get length(): number {
    let n = 0;
    for (const p of this.parts) n += p.length;
    return n;
  }

  join(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** `[u8 version][u8 type][u48 length]` followed by `body`. */
export function protoMessage(type: number, body: Uint8Array, version = 2): Buffer {
  return new ByteList().u8(version).u8(type).u48(body.length).bytes(body).join();
}

/** One as_msg field: `[u32 size = 1 + n][u8 type][data]`. */
export function fieldBytes(type: number, data: Uint8Array | string): Buffer {
  const d = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data);
  return new ByteList().u32(1 + d.length).u8(type).bytes(d).join();
}

/** One as_msg op: `[u32 size][u8 op][u8 particle][u8 flags][u8 name len][name][bin LUT?][value]`. */
export function opBytes(op: number, particle: number, name: string, value: Uint8Array, binLut?: bigint): Buffer {
  const n = Buffer.from(name, 'utf8');
  const lutLen = binLut === undefined ? 0 : 8;
  const l = new ByteList()
    .u32(4 + n.length + lutLen + value.length)
    .u8(op)
    .u8(particle)
    .u8(binLut === undefined ? 0 : 1)
    .u8(n.length)
    .bytes(n);
  if (binLut !== undefined) l.u64(binLut);
  return l.bytes(value).join();
}

export interface AsMsgHeader {
  info1?: number;
  info2?: number;
  info3?: number;
  info4?: number;
  result?: number;
  generation?: number;
  recordTtl?: number;
  transactionTtl?: number;
}

/**
 * An as_msg body (no proto header). `nFields` / `nOps` default to the number of parts given, and can
 * be overridden to build inconsistent messages.
 */
export function asMsgBody(h: AsMsgHeader, fields: readonly Buffer[], ops: readonly Buffer[], counts?: { nFields?: number; nOps?: number }): Buffer {
  const l = new ByteList()
    .u8(22)
    .u8(h.info1 ?? 0)
    .u8(h.info2 ?? 0)
    .u8(h.info3 ?? 0)
    .u8(h.info4 ?? 0)
    .u8(h.result ?? 0)
    .u32(h.generation ?? 0)
    .u32(h.recordTtl ?? 0)
    .u32(h.transactionTtl ?? 0)
    .u16(counts?.nFields ?? fields.length)
    .u16(counts?.nOps ?? ops.length);
  for (const f of fields) l.bytes(f);
  for (const o of ops) l.bytes(o);
  return l.join();
}

/** Copy `src` into a fresh buffer of `before` + src + `after` bytes filled with `fill`; returns it and src's start. */
export function embed(src: Uint8Array, before: number, after: number, fill = 0xa5): { buf: Buffer; start: number; end: number } {
  const buf = Buffer.alloc(before + src.length + after, fill);
  buf.set(src, before);
  return { buf, start: before, end: before + src.length };
}

/** Split `buf` into chunks at the given cut offsets (sorted, deduplicated, clamped). */
export function chunksAt(buf: Buffer, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => Math.max(0, Math.min(buf.length, c))))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(buf.subarray(prev, p));
    prev = p;
  }
  out.push(buf.subarray(prev));
  return out;
}

export type CaptureKind = 'write' | 'delete' | 'write-no-bins';

export interface Capture {
  binPolicy: string;
  shipBinLuts: boolean;
  kind: CaptureKind;
  /** result code a Community Edition 8.1.2 destination answered */
  ce812: number;
  /** the whole wire message, proto header first */
  message: Buffer;
  /** when the capturing connector logged the message (UTC, second resolution) */
  loggedAt: string;
}

/**
 * Real XDR → connector messages, as in test/fixtures/xdr-captures.txt (published as hex in
 * colton-aerospike/wire-protocol-parser, notes.txt, with the connector's one-byte 0x01 prefix
 * removed). `loggedAt` is the timestamp of the log line that printed each message in notes.txt.
 * columns: bin-policy | ship-bin-luts | kind | ce812 | hex
 */
const CAPTURE_TABLE = `
all | false | write | 0 | 020300000000009a16100110000000000001ffffffff000000000005000300000005007465737400000015045fe3b7c0f4669a77c8456c1bf4f1f68c55ac100200000006016d797365740000000a0201000000000000000a000000090e0000016dea70ee100000000e020300046e616d65636f6c746f6e0000000f02010003616765000000000000001b00000014021300076d61705465737482a2036101a2036202 | 2024-12-16T22:38:24Z
all | false | delete | 0 | 020300000000005d1610030000000000000200000000000000000005000000000005007465737400000015045fe3b7c0f4669a77c8456c1bf4f1f68c55ac100200000006016d797365740000000a0201000000000000000a000000090e0000016dea715554 | 2024-12-16T22:38:51Z
changed-or-specified | false | write | 0 | 020300000000009a16100100000000000001ffffffff00000000000500030000000500746573740000001504f12cd9bdcaae534f8147e8d6a61af20f1c28df1000000006016d797365740000000a0201000000000000000b000000090e0000016dea720ce10000000e020300046e616d65636f6c746f6e0000000f02010003616765000000000000001b00000014021300076d61705465737482a2036101a2036202 | 2024-12-16T22:39:38Z
changed-or-specified | false | delete | 0 | 020300000000005d161003000000000000020000000000000000000500000000000500746573740000001504f12cd9bdcaae534f8147e8d6a61af20f1c28df1000000006016d797365740000000a0201000000000000000b000000090e0000016dea724a07 | 2024-12-16T22:39:53Z
changed-or-specified | true | write | 0 | 020300000000009a16101100000000000001ffffffff0000000000050003000000050074657374000000150436986e11a87cc6948eaadd4c9c170ed92dde31a200000006016d797365740000000a0201000000000000000c000000090e0000016dea730d720000000e020300046e616d65636f6c746f6e0000000f02010003616765000000000000001b00000014021300076d61705465737482a2036101a2036202 | 2024-12-16T22:40:43Z
changed-or-specified | true | delete | 0 | 020300000000005d16100300000000000002000000000000000000050000000000050074657374000000150436986e11a87cc6948eaadd4c9c170ed92dde31a200000006016d797365740000000a0201000000000000000c000000090e0000016dea731abe | 2024-12-16T22:40:47Z
no-bins | true | write-no-bins | 4 | 020300000000005d16100110000000000001ffffffff000000000005000000000005007465737400000015047023322b5d17b7270c816f0b4faafe124aa03c6b00000006016d797365740000000a0201000000000000000d000000090e0000016dea746373 | 2024-12-16T22:42:11Z
no-bins | true | delete | 2 | 020300000000005d1610030000000000000200000000000000000005000000000005007465737400000015047023322b5d17b7270c816f0b4faafe124aa03c6b00000006016d797365740000000a0201000000000000000d000000090e0000016dea746ffb | 2024-12-16T22:42:14Z
no-bins | false | write-no-bins | 4 | 020300000000005d16100110000000000001ffffffff00000000000500000000000500746573740000001504f9bb902ddd1874858475b66c8f36b950badb44f700000006016d797365740000000a0201000000000000000e000000090e0000016dea750def | 2024-12-16T22:42:55Z
no-bins | false | delete | 2 | 020300000000005d161003000000000000020000000000000000000500000000000500746573740000001504f9bb902ddd1874858475b66c8f36b950badb44f700000006016d797365740000000a0201000000000000000e000000090e0000016dea751d58 | 2024-12-16T22:42:59Z
`;

function parseCaptures(table: string): Capture[] {
  const out: Capture[] = [];
  for (const raw of table.split('\n')) {
    const line = raw.trim();
    if (line.length === 0 || line.startsWith('#')) continue;
    const cols = line.split(' | ');
    if (cols.length !== 6) throw new Error(`capture line has ${cols.length} columns: ${line}`);
    const [binPolicy, luts, kind, ce812, hex, loggedAt] = cols as [string, string, string, string, string, string];
    if (kind !== 'write' && kind !== 'delete' && kind !== 'write-no-bins') throw new Error(`unknown capture kind ${kind}`);
    out.push({ binPolicy, shipBinLuts: luts === 'true', kind, ce812: Number(ce812), message: hexBytes(hex), loggedAt });
  }
  return out;
}

export const CAPTURES: readonly Capture[] = parseCaptures(CAPTURE_TABLE);

/** A readable label for `it.each`. */
export function captureName(c: Capture, i: number): string {
  return `#${i} ${c.binPolicy}/${c.shipBinLuts ? 'bin-luts' : 'no-bin-luts'}/${c.kind}`;
}

/** A fresh copy of a capture's message: tests may patch it. */
export function captureMessage(i: number): Buffer {
  const c = CAPTURES[i];
  if (c === undefined) throw new Error(`no capture ${i}`);
  return Buffer.from(c.message);
}

/** The as_msg body of a whole type-3 message (a view). */
export function bodyOf(message: Buffer): Buffer {
  return message.subarray(8);
}

/** Capture list in the shape `it.each` wants: [label, capture]. */
export function captureCases(filter: (c: Capture) => boolean = () => true): Array<[string, Capture]> {
  return CAPTURES.map((c, i) => [captureName(c, i), c] as [string, Capture]).filter(([, c]) => filter(c));
}

/** One as_msg of a reply, as parsed by parseReplyMessages. */
export interface ReplyMessage {
  resultCode: number;
  info3: number;
  generation: number;
  voidTime: number;
  transactionTtl: number;
  /** field type → data (the last of a type wins) */
  fields: Map<number, Buffer>;
  bins: { name: string; particle: number; value: Buffer }[];
}

/** The as_msgs of a type-3 body (one reply, or a run of them: batch and scan replies). */
export function parseReplyMessages(body: Buffer): ReplyMessage[] {
  const out: ReplyMessage[] = [];
  let at = 0;
  while (at < body.length) {
    const nFields = body.readUInt16BE(at + 18);
    const nOps = body.readUInt16BE(at + 20);
    const reply: ReplyMessage = {
      resultCode: body[at + 5]!,
      info3: body[at + 3]!,
      generation: body.readUInt32BE(at + 6),
      voidTime: body.readUInt32BE(at + 10),
      transactionTtl: body.readUInt32BE(at + 14),
      fields: new Map(),
      bins: [],
    };
    at += 22;
    for (let i = 0; i < nFields; i++) {
      const size = body.readUInt32BE(at);
      reply.fields.set(body[at + 4]!, Buffer.from(body.subarray(at + 5, at + 4 + size)));
      at += 4 + size;
    }
    for (let i = 0; i < nOps; i++) {
      const size = body.readUInt32BE(at);
      const nameLength = body[at + 7]!;
      reply.bins.push({
        name: body.toString('utf8', at + 8, at + 8 + nameLength),
        particle: body[at + 5]!,
        value: Buffer.from(body.subarray(at + 8 + nameLength, at + 4 + size)),
      });
      at += 4 + size;
    }
    out.push(reply);
  }
  return out;
}
