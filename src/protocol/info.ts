/**
 * Info messages (proto type 1).
 *
 *   request := "name1\nname2\n"
 *   reply   := "name1\tvalue1\nname2\tvalue2\n"   (errors read "ERROR:<code>:<message>")
 */

import { MessageType, PROTO_HEADER_SIZE, PROTO_VERSION } from './constants.js';

function frame(body: string): Buffer {
  const text = Buffer.from(body, 'utf8');
  const out = Buffer.allocUnsafe(PROTO_HEADER_SIZE + text.length);
  out[0] = PROTO_VERSION;
  out[1] = MessageType.Info;
  out.writeUIntBE(text.length, 2, 6);
  text.copy(out, PROTO_HEADER_SIZE);
  return out;
}

export function encodeInfoRequest(names: readonly string[]): Buffer {
  return frame(names.map((n) => `${n}\n`).join(''));
}

export function parseInfoRequest(buf: Buffer, start: number, end: number): string[] {
  return buf
    .toString('utf8', start, end)
    .split('\n')
    .filter((n) => n.length > 0);
}

export function encodeInfoReply(values: ReadonlyMap<string, string>): Buffer {
  let body = '';
  for (const [name, value] of values) body += `${name}\t${value}\n`;
  return frame(body);
}

/** Parse a reply body into name → value; a line with no tab maps to ''. */
export function parseInfoReply(buf: Buffer, start: number, end: number): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of buf.toString('utf8', start, end).split('\n')) {
    if (line.length === 0) continue;
    const tab = line.indexOf('\t');
    if (tab < 0) out.set(line, '');
    else out.set(line.slice(0, tab), line.slice(tab + 1));
  }
  return out;
}
