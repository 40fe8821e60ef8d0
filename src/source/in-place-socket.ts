/**
 * An accepted TCP connection, re-made as a socket that reads into buffers of the caller's choosing
 * (Node's `onread`): the kernel copies a source's bytes straight into the source arena, and no
 * Buffer is allocated and no stream event emitted per read.
 *
 * net.Server takes no `onread` for the sockets it accepts, and a socket chooses its reading mode
 * when it is made. So the listener accepts paused (`pauseOnConnect`), the accepted socket hands its
 * handle to a new socket made with `onread`, and the empty shell is destroyed at once (which is how
 * the server learns that it is gone: its own count of connections stays right).
 */

import { Socket } from 'node:net';

interface OnReadSocketOptions {
  handle: object;
  readable: true;
  writable: true;
  /** not reading until resume() */
  pauseOnCreate: true;
  onread: {
    /** called for the buffer of each next read */
    buffer: () => Uint8Array;
    /** `n` bytes arrived; false stops reading (until resume()) */
    callback: (n: number) => boolean;
  };
}

/**
 * The paused, accepted `raw` socket as a socket reading into `buffer()`; null when it closed
 * before it could be taken over. The new socket starts paused: call resume() once ready.
 */
export function readInPlace(raw: Socket, buffer: () => Uint8Array, received: (n: number) => boolean): Socket | null {
  const shell = raw as unknown as { _handle: object | null };
  const handle = shell._handle;
  if (handle === null || raw.destroyed) return null;
  shell._handle = null;
  const options: OnReadSocketOptions = { handle, readable: true, writable: true, pauseOnCreate: true, onread: { buffer, callback: received } };
  const socket = new Socket(options as unknown as ConstructorParameters<typeof Socket>[0]);
  raw.destroy();
  return socket;
}
