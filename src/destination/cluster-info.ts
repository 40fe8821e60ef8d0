/**
 * Parsers for the info values cluster tending reads (docs/wire.md §4).
 *
 *   peers-*   <peers-gen>,<default port>,[[<NODE-ID>,<tls-name>,[<addr>[:port],…]],…]
 *   replicas  ns1:<regime>,<n replicas>,<base64 bitmap>,…;ns2:…
 *             one 512-byte bitmap per replica; partition p is bit 0x80 >> (p & 7) of byte p >> 3,
 *             and a node masters p when p's bit is set in its first bitmap.
 */

import { FerryError } from '../errors.js';

export class InfoFormatError extends FerryError {
  readonly code = 'ERR_DESTINATION_INFO_FORMAT';
  readonly retriable = false;
}

export interface Peer {
  id: string;
  tlsName: string | undefined;
  addresses: Array<{ host: string; port: number }>;
}

/** Split `s` at top-level commas (not inside brackets). */
function splitTop(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '[') depth++;
    else if (c === ']') depth--;
    else if (c === ',' && depth === 0) {
      out.push(s.slice(start, i));
      start = i + 1;
    }
    if (depth < 0) throw new InfoFormatError(`unbalanced brackets in '${s}'`);
  }
  if (depth !== 0) throw new InfoFormatError(`unbalanced brackets in '${s}'`);
  out.push(s.slice(start));
  return out;
}

function unwrap(s: string): string {
  if (!s.startsWith('[') || !s.endsWith(']')) throw new InfoFormatError(`expected [...], got '${s}'`);
  return s.slice(1, -1);
}

/** `10.0.0.2`, `10.0.0.2:3100`, `[::1]`, `[::1]:3100`, `host:3100`. */
export function parseAddress(a: string, defaultPort: number): { host: string; port: number } {
  if (a.startsWith('[')) {
    const end = a.indexOf(']');
    if (end < 0) throw new InfoFormatError(`bad address '${a}'`);
    const host = a.slice(1, end);
    const rest = a.slice(end + 1);
    return { host, port: rest.startsWith(':') ? Number(rest.slice(1)) : defaultPort };
  }
  const colon = a.lastIndexOf(':');
  if (colon > 0 && a.indexOf(':') === colon) return { host: a.slice(0, colon), port: Number(a.slice(colon + 1)) };
  return { host: a, port: defaultPort };
}

export function parsePeers(value: string): { generation: number; peers: Peer[] } {
  const parts = splitTop(value.trim());
  if (parts.length !== 3) throw new InfoFormatError(`peers: expected 3 parts, got '${value}'`);
  const generation = Number(parts[0]);
  const defaultPort = Number(parts[1]);
  const list = unwrap(parts[2]!);
  const peers: Peer[] = [];
  if (list.trim() !== '') {
    for (const entry of splitTop(list)) {
      const f = splitTop(unwrap(entry));
      if (f.length !== 3) throw new InfoFormatError(`peers: bad entry '${entry}'`);
      const addrs = unwrap(f[2]!);
      peers.push({
        id: f[0]!,
        tlsName: f[1] === '' ? undefined : f[1],
        addresses: addrs.trim() === '' ? [] : splitTop(addrs).map((a) => parseAddress(a, defaultPort)),
      });
    }
  }
  if (!Number.isFinite(generation) || !Number.isFinite(defaultPort)) throw new InfoFormatError(`peers: bad numbers in '${value}'`);
  return { generation, peers };
}

/** namespace → 512-byte master bitmap (the first replica's). */
export function parseReplicas(value: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const part of value.split(';')) {
    if (part.trim() === '') continue;
    const colon = part.indexOf(':');
    if (colon < 0) throw new InfoFormatError(`replicas: bad entry '${part}'`);
    const ns = part.slice(0, colon);
    const fields = part.slice(colon + 1).split(',');
    // New format: regime, replica count, bitmaps; old (replicas-master): one bitmap.
    const b64 = fields.length >= 3 ? fields[2]! : fields[0]!;
    const bitmap = Buffer.from(b64, 'base64');
    if (bitmap.length !== 512) throw new InfoFormatError(`replicas: bitmap of ${bitmap.length} bytes for '${ns}'`);
    out.set(ns, bitmap);
  }
  return out;
}

export function masters(bitmap: Buffer, partition: number): boolean {
  return (bitmap[partition >> 3]! & (0x80 >> (partition & 7))) !== 0;
}
