import { type Server, type Socket, createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type ConnectionEvents, DestinationConnection, PIPELINE_BYTES } from '../../src/destination/connection.js';
import { REPLY_SIZE, writeReply } from '../../src/protocol/index.js';

/**
 * A destination connection writes its requests into 256 KiB chunks and reuses the chunks before
 * its current one once no request in flight lies in them. A request lost with its connection is
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

/** Events of a connection to a node that answers nothing: `up`, `down` and `lost` as the test wants them. */
function silentEvents(on: { up: () => void; down?: () => void; lost?: (seq: number, bytes: Buffer) => void }): ConnectionEvents {
  return {
    reply: () => {
      throw new Error('the node answers nothing');
    },
    lost: (_connection, seq, _partition, bytes) => on.lost?.(seq, bytes),
    progress: () => {},
    up: () => on.up(),
    answered: () => {},
    down: () => on.down?.(),
    failed: (_addr, reason) => {
      throw new Error(`connect failed: ${reason}`);
    },
    authRefused: () => {},
  };
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
    const events = silentEvents({ up: () => up(), down: () => down(), lost: (seq, bytes) => lost.push({ seq, bytes: Buffer.from(bytes) }) });
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

describe('destination connection: chunk reuse under a deep pipeline', () => {
  it('with three chunks in flight, requests keep going into the same few chunks', async () => {
    // The node answers request k once request k + LAG has arrived: LAG + 1 requests (three and a
    // half chunks of two) are always in flight, more than one spare chunk could cover.
    const LAG = 6;
    const requests = 60;
    let answered = 0;
    server = createServer((socket: Socket) => {
      let got = 0;
      let sent = 0;
      socket.on('data', (chunk: Buffer) => {
        got += chunk.length;
        const arrived = Math.floor(got / REQUEST);
        const due = arrived >= requests ? arrived : Math.max(0, arrived - LAG);
        if (due <= sent) return;
        const replies = Buffer.alloc((due - sent) * REPLY_SIZE);
        for (let i = 0; i < due - sent; i++) writeReply(replies, i * REPLY_SIZE, 0);
        sent = due;
        socket.write(replies);
      });
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
    const port = (server!.address() as { port: number }).port;
    let up: () => void = () => {};
    const ready = new Promise<void>((r) => (up = r));
    const events: ConnectionEvents = { ...silentEvents({ up: () => up() }), reply: () => void answered++ };
    const conn = new DestinationConnection({ addr: { host: '127.0.0.1', port, tlsName: undefined }, tls: null, depth: 64, connectTimeoutMs: 2000, greeting: () => null }, events);
    conn.open();
    await ready;
    const chunks = new Set<Buffer>();
    for (let seq = 0; seq < requests; seq++) {
      const at = conn.reserve(REQUEST);
      chunks.add(conn.buffer);
      conn.buffer.fill(fill(seq), at, at + REQUEST);
      conn.commit(REQUEST, 1, seq, 0, performance.now());
      conn.flush();
      // Wait for the answers the node owes by now, as a worker's next batch would find them.
      const owed = Math.max(0, seq + 1 - LAG);
      for (let spins = 0; answered < owed && spins < 2000; spins++) await new Promise<void>((r) => setTimeout(r, 1));
      expect(answered).toBeGreaterThanOrEqual(owed);
    }
    for (let spins = 0; answered < requests && spins < 2000; spins++) await new Promise<void>((r) => setTimeout(r, 1));
    conn.close();
    expect(answered).toBe(requests);
    // 30 chunks' worth of requests went through no more than the current chunk and its four spares.
    expect(chunks.size).toBeLessThanOrEqual(5);
  });
});

describe('destination connection: room', () => {
  /** A connection to a node that reads everything and answers nothing; resolves once it is up. */
  async function openSilent(depth: number): Promise<DestinationConnection> {
    const port = await silentNode(Number.POSITIVE_INFINITY);
    let up: () => void = () => {};
    const ready = new Promise<void>((r) => (up = r));
    const events = silentEvents({ up: () => up() });
    const conn = new DestinationConnection({ addr: { host: '127.0.0.1', port, tlsName: undefined }, tls: null, depth, connectTimeoutMs: 2000, greeting: () => null }, events);
    conn.open();
    await ready;
    return conn;
  }

  /** Commit `size`-byte requests while the connection has room; returns how many it took. */
  function fillUp(conn: DestinationConnection, size: number, most: number): number {
    let n = 0;
    while (conn.hasRoom && n < most) {
      const at = conn.reserve(size);
      conn.buffer.fill(0, at, at + size);
      conn.commit(size, 1, n, 0, performance.now());
      n++;
    }
    return n;
  }

  it('small requests fill the depth', async () => {
    const conn = await openSilent(64);
    expect(fillUp(conn, 300, 1000)).toBe(64);
    expect(conn.inFlight).toBe(64);
    conn.close();
  });

  it('big requests stop at the byte limit, long before the depth', async () => {
    const conn = await openSilent(2048);
    const size = 64 * 1024;
    expect(fillUp(conn, size, 2048)).toBe(PIPELINE_BYTES / size);
    conn.close();
  });

  it('a request bigger than the byte limit still goes, alone', async () => {
    const conn = await openSilent(2048);
    expect(fillUp(conn, PIPELINE_BYTES + 1, 10)).toBe(1);
    conn.close();
  });
});
