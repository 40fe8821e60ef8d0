import { type Server, type Socket, createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type ConnectionEvents, DestinationConnection } from '../../src/destination/connection.js';

/**
 * A destination connection writes its requests into 256 KiB chunks and reuses the chunk before
 * its current one once no request in flight lies in it. A request lost with its connection is
 * handed back with its bytes, to be sent again from them, so a reused chunk must never hold a
 * request still in flight. The node here reads every request and answers none, then closes.
 */

const REQUEST = 100 * 1024;

interface Lost {
  seq: number;
  bytes: Buffer;
}

let server: Server | null = null;

afterEach(async () => {
  await new Promise<void>((r) => (server === null ? r() : server.close(() => r())));
  server = null;
});

/** A node that reads `expect` bytes, then closes the connection without a reply. */
async function silentNode(expectBytes: number): Promise<number> {
  server = createServer((socket: Socket) => {
    let got = 0;
    socket.on('data', (chunk: Buffer) => {
      got += chunk.length;
      if (got >= expectBytes) socket.destroy();
    });
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
  return (server!.address() as { port: number }).port;
}

function fill(seq: number): number {
  return (seq * 37 + 11) & 0xff;
}

describe('destination connection: chunk reuse', () => {
  it('a request lost with its connection comes back with its own bytes, whatever chunks were reused meanwhile', async () => {
    const requests = 10;
    const port = await silentNode(requests * REQUEST);
    const lost: Lost[] = [];
    let up: () => void = () => {};
    const ready = new Promise<void>((r) => (up = r));
    let down: () => void = () => {};
    const closed = new Promise<void>((r) => (down = r));
    const events: ConnectionEvents = {
      reply: () => {
        throw new Error('the node answers nothing');
      },
      lost: (_connection, seq, _partition, bytes) => lost.push({ seq, bytes: Buffer.from(bytes) }),
      progress: () => {},
      up: () => up(),
      down: () => down(),
      failed: (_addr, reason) => {
        throw new Error(`connect failed: ${reason}`);
      },
      authRefused: () => {},
    };
    const conn = new DestinationConnection({ addr: { host: '127.0.0.1', port, tlsName: undefined }, tls: null, depth: 64, connectTimeoutMs: 2000, greeting: () => null }, events);
    conn.open();
    await ready;
    // Two requests fill a chunk: ten of them go through five chunks while the first is in flight,
    // so the chunk before the current one still holds requests at every switch but the first.
    for (let seq = 0; seq < requests; seq++) {
      const at = conn.reserve(REQUEST);
      conn.buffer.fill(fill(seq), at, at + REQUEST);
      conn.commit(REQUEST, 1, seq, 0, performance.now());
      conn.flush();
      // Let the socket hand each write to the kernel, as between a worker's batches.
      await new Promise<void>((r) => setImmediate(r));
    }
    await closed;
    conn.close();
    expect(lost.map((l) => l.seq)).toEqual([...Array(requests).keys()]);
    for (const l of lost) {
      expect(l.bytes.length).toBe(REQUEST);
      expect(l.bytes.every((b) => b === fill(l.seq))).toBe(true);
    }
  });
});
