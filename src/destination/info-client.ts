/** A one-shot info request to a node, off the hot path (start-up checks, tending). */

import { connect } from 'node:net';
import { FrameError, Framer, MessageType, encodeInfoRequest, parseInfoReply } from '../protocol/index.js';

export class InfoError extends Error {
  readonly code = 'ERR_DESTINATION_INFO';
  constructor(message: string, readonly retriable: boolean) {
    super(message);
  }
}

export function requestInfo(host: string, port: number, names: readonly string[], timeoutMs: number): Promise<Map<string, string>> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    const framer = new Framer(16 * 1024 * 1024);
    let done = false;
    const finish = (err: Error | null, value?: Map<string, string>): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      if (err !== null) reject(err);
      else resolve(value!);
    };
    const timer = setTimeout(() => finish(new InfoError(`${host}:${port} did not answer info within ${timeoutMs} ms`, true)), timeoutMs);
    socket.on('connect', () => socket.write(encodeInfoRequest(names)));
    socket.on('data', (chunk: Buffer) => {
      const err = framer.push(chunk, {
        onFrame(type, buf, start, end) {
          if (type !== MessageType.Info) finish(new InfoError(`${host}:${port} answered info with message type ${type}`, false));
          else finish(null, parseInfoReply(buf, start, end));
          return true;
        },
      });
      if (err !== FrameError.None) finish(new InfoError(`${host}:${port} sent a malformed info reply`, false));
    });
    socket.on('error', (err) => finish(new InfoError(`${host}:${port}: ${err.message}`, true)));
    socket.on('close', () => finish(new InfoError(`${host}:${port} closed the connection`, true)));
  });
}
