/**
 * The naive relay: the floor Ferry must beat on CPU per record. One thread, one upstream socket per
 * source connection, no routing, no reorder window: the destination answers one connection's
 * requests in order, so piping its replies straight back keeps the source's order.
 *
 *   source ──TCP──▶ frame; type 4 inflated to the type-3 message it holds; ──TCP──▶ destination
 *          ◀────────────── replies piped back as they come ◀──────────────────────┘
 *
 *   frame := [u8 version][u8 type][u48 body length][body]
 *   type 4 body := [u64 inflated length][zlib stream of a whole type-3 message, header included]
 *
 * Every other byte goes through untouched (XDR bits, LUTs, fields). What one read brings is
 * forwarded in one write: a run of whole uncompressed frames as a view of the read, no copy.
 *
 *   node --import tsx bench/naive-relay.ts --to HOST:PORT [--port 0]   prints {"port":N}, SIGTERM ends it
 */

import { type Server, type Socket, connect, createServer } from 'node:net';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { inflateSync } from 'node:zlib';

const HEADER = 8;
/** proto type 4: a zlib-compressed message */
const COMPRESSED = 4;
/** the u64 inflated length that precedes a type-4 message's zlib stream */
const INFLATED_LENGTH = 8;

function relayConnection(source: Socket, to: { host: string; port: number }): void {
  const upstream = connect({ ...to, noDelay: true });
  source.setNoDelay(true);
  // Replies go back as they come; pipe() pauses the destination's socket while the source's is full.
  upstream.pipe(source);
  // Either side failing or closing ends the pair: a relay holds no state worth keeping.
  const end = (): void => {
    source.destroy();
    upstream.destroy();
  };
  source.on('error', end).on('close', end);
  upstream.on('error', end).on('close', end);
  upstream.on('drain', () => source.resume());

  let partial: Buffer | null = null;
  source.on('data', (chunk: Buffer) => {
    const buf = partial === null ? chunk : Buffer.concat([partial, chunk]);
    const out: Buffer[] = [];
    let at = 0;
    let run = 0;
    while (buf.length - at >= HEADER) {
      const next = at + HEADER + buf.readUIntBE(at + 2, 6);
      if (next > buf.length) break;
      if (buf[at + 1] === COMPRESSED) {
        if (at > run) out.push(buf.subarray(run, at));
        out.push(inflateSync(buf.subarray(at + HEADER + INFLATED_LENGTH, next)));
        run = next;
      }
      at = next;
    }
    if (at > run) out.push(buf.subarray(run, at));
    partial = at < buf.length ? buf.subarray(at) : null;
    if (out.length > 0 && !upstream.write(out.length === 1 ? out[0]! : Buffer.concat(out))) source.pause();
  });
}

/** A relay listening on host:port (0: any free port) that forwards every connection to `to`. */
export function startRelay(to: { host: string; port: number }, port = 0, host = '127.0.0.1'): Promise<Server> {
  const server = createServer((source) => relayConnection(source, to));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({ options: { to: { type: 'string' }, port: { type: 'string', default: '0' } }, strict: true });
  const i = values.to?.lastIndexOf(':') ?? -1;
  if (values.to === undefined || i <= 0) {
    process.stderr.write('naive-relay: --to HOST:PORT is required\n');
    process.exit(2);
  }
  const server = await startRelay({ host: values.to.slice(0, i), port: Number(values.to.slice(i + 1)) }, Number(values.port));
  process.stdout.write(`${JSON.stringify({ port: (server.address() as { port: number }).port })}\n`);
  // The bench ends it with SIGTERM once its loads are answered; nothing is left in flight.
  process.once('SIGTERM', () => process.exit(0));
}
