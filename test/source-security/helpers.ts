/**
 * A hand-driven source connection for the source-security tests: send LOGIN, AUTHENTICATE and
 * records one by one and read each reply, over TCP or TLS. Requests are built here with bcryptjs
 * and the protocol's encoders; replies are read byte by byte (result at body offset 1 for security
 * replies, 5 for record replies), independently of Ferry's session code.
 */

import { mkdtempSync, writeFileSync } from 'node:fs';
import { type Socket, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ConnectionOptions, connect as connectTls } from 'node:tls';
import bcrypt from 'bcryptjs';
import {
  FieldType,
  Framer,
  Info1,
  Info2,
  Info3,
  OpType,
  SecurityCommand,
  SecurityField,
  Ttl,
  encodeRecordRequest,
  encodeSecurityMessage,
  lutField,
  lutFromUnixMs,
  stringField,
} from '../../src/protocol/index.js';

export const SALT = '$2a$10$7EqJtq98hPqEX7fNZaFWoO';

export function credential(password: string): Buffer {
  return Buffer.from(bcrypt.hashSync(password, SALT), 'utf8');
}

export function loginRequest(user: string, password: string): Buffer {
  return encodeSecurityMessage(SecurityCommand.Login, 0, [
    [SecurityField.User, Buffer.from(user)],
    [SecurityField.Credential, credential(password)],
  ]);
}

export function authenticateRequest(user: string, token: Buffer): Buffer {
  return encodeSecurityMessage(SecurityCommand.Authenticate, 0, [
    [SecurityField.User, Buffer.from(user)],
    [SecurityField.SessionToken, token],
  ]);
}

/** A one-bin XDR write for integer key `key` in test/`set` (the digest need not match the key). */
export function recordRequest(key: number, set = 'security'): Buffer {
  const digest = Buffer.alloc(20);
  digest.writeUInt32BE(key);
  digest.write(set.slice(0, 8), 8);
  return encodeRecordRequest({
    info1: Info1.Xdr,
    info2: Info2.Write,
    info3: Info3.CreateOrReplace,
    recordTtl: Ttl.NeverExpire,
    fields: [stringField(FieldType.Namespace, 'test'), { type: FieldType.Digest, data: digest }, stringField(FieldType.Set, set), lutField(lutFromUnixMs(Date.now()))],
    ops: [{ op: OpType.Write, particleType: 1, name: 'v', value: Buffer.alloc(8, key & 0xff) }],
  });
}

export interface Reply {
  type: number;
  /** the whole message, proto header included */
  bytes: Buffer;
  /** security replies: body[1]; record replies: body[5] */
  result: number;
  /** security reply fields by id */
  fields: Map<number, Buffer>;
}

export class RawSource {
  private readonly framer = new Framer(1 << 20);
  private readonly replies: Reply[] = [];
  private waiters: Array<() => void> = [];
  readonly closed: Promise<void>;
  error: Error | null = null;

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.framer.push(chunk, {
        onFrame: (type, buf, start, end) => {
          const body = Buffer.from(buf.subarray(start, end));
          const header = Buffer.alloc(8);
          header[0] = 2;
          header[1] = type;
          header.writeUIntBE(body.length, 2, 6);
          const fields = new Map<number, Buffer>();
          if (type === 2) {
            let pos = 16;
            for (let i = 0; i < body[3]!; i++) {
              const size = body.readUInt32BE(pos);
              fields.set(body[pos + 4]!, body.subarray(pos + 5, pos + 4 + size));
              pos += 4 + size;
            }
          }
          this.replies.push({ type, bytes: Buffer.concat([header, body]), result: type === 2 ? body[1]! : body[5]!, fields });
          return true;
        },
      });
      this.wake();
    });
    socket.on('error', (err) => {
      this.error = err;
    });
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    void this.closed.then(() => this.wake());
  }

  static async open(port: number, tls?: ConnectionOptions): Promise<RawSource> {
    const socket = tls === undefined ? connect({ host: '127.0.0.1', port }) : connectTls({ host: '127.0.0.1', port, ...tls });
    await new Promise<void>((resolve, reject) => {
      socket.once(tls === undefined ? 'connect' : 'secureConnect', () => resolve());
      socket.once('error', reject);
    });
    return new RawSource(socket);
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  send(...messages: Buffer[]): void {
    this.socket.write(Buffer.concat(messages));
  }

  /** The next `n` replies, in order; fails if the connection closes first or after `timeoutMs`. */
  async next(n = 1, timeoutMs = 5000): Promise<Reply[]> {
    const end = performance.now() + timeoutMs;
    while (this.replies.length < n) {
      if (this.socket.destroyed || this.socket.readableEnded) throw new Error(`connection closed after ${this.replies.length} of ${n} replies`);
      const left = end - performance.now();
      if (left <= 0) throw new Error(`timed out with ${this.replies.length} of ${n} replies`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.replies.splice(0, n);
  }

  /** LOGIN and return the reply. */
  async login(user: string, password: string): Promise<Reply> {
    this.send(loginRequest(user, password));
    return (await this.next())[0]!;
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Write `text` to a fresh temp file and return its path. */
export function tempFile(name: string, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-source-security-'));
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

/** The value of one Prometheus sample, or 0 when the series is absent. */
export function sample(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}
