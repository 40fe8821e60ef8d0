/**
 * The ack floor: what one Node.js thread spends to read an XDR stream and acknowledge it, with
 * nothing else done. Each read lands in a reused buffer (as Ferry's main thread reads), its whole
 * messages are counted by their headers, and one write answers them all with ready-made OK
 * replies. Nothing is scanned, inflated, routed, handed to another thread or written anywhere:
 * it is not a relay, and no record is stored. Its CPU per record is the least that Ferry's main
 * thread, which does all of that reading and replying and more, could spend on the same load.
 * Every message gets an OK reply, so a load must not send xdr-load's order probes (off unless
 * asked for): they expect "namespace not found".
 *
 *   source ──TCP──▶ read into one buffer; count whole frames ──▶ one write of OK replies
 *
 *   node --import tsx bench/ack-floor.ts [--port 0]   prints {"port":N}, SIGTERM ends it
 */

import { type Server, type Socket, createServer } from 'node:net';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { PROTO_HEADER_SIZE, REPLY_SIZE, u48be, writeReply } from '../src/protocol/index.js';
import { readInPlace } from '../src/source/in-place-socket.js';

/** Replies one write may carry: more than a source's window. */
const OK_REPLIES = 8192;
const OK = Buffer.alloc(OK_REPLIES * REPLY_SIZE);
for (let i = 0; i < OK_REPLIES; i++) writeReply(OK, i * REPLY_SIZE, 0);
/** The read buffer: a message never spans more (the loads send a few hundred bytes each). */
const BUFFER_BYTES = 4 << 20;

function ackConnection(raw: Socket): void {
  const buf = Buffer.allocUnsafe(BUFFER_BYTES);
  let fill = 0;
  let socket: Socket | null = null;
  const received = (n: number): boolean => {
    fill += n;
    let at = 0;
    let frames = 0;
    while (fill - at >= PROTO_HEADER_SIZE) {
      const next = at + PROTO_HEADER_SIZE + u48be(buf, at + 2);
      if (next > fill) break;
      frames++;
      at = next;
    }
    if (at > 0) {
      buf.copy(buf, 0, at, fill);
      fill -= at;
    }
    for (let done = 0; done < frames; done += OK_REPLIES) socket?.write(Buffer.from(OK.subarray(0, Math.min(OK_REPLIES, frames - done) * REPLY_SIZE)));
    return true;
  };
  socket = readInPlace(raw, () => buf.subarray(fill), received);
  if (socket === null) return;
  socket.setNoDelay(true);
  socket.on('error', () => socket?.destroy());
  socket.resume();
}

/** An ack floor listening on host:port (0: any free port). */
export function startAckFloor(port = 0, host = '127.0.0.1'): Promise<Server> {
  const server = createServer({ pauseOnConnect: true }, ackConnection);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({ options: { port: { type: 'string', default: '0' } }, strict: true });
  const server = await startAckFloor(Number(values.port));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('ack-floor: no TCP address');
  process.stdout.write(`${JSON.stringify({ port: address.port })}\n`);
  // The bench ends it with SIGTERM once its loads are answered; nothing is left in flight.
  process.once('SIGTERM', () => process.exit(0));
}
