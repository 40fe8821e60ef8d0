/**
 * What `ferry run` does when it cannot start, and how it ends: the exit codes (README, "Exit
 * codes"), the start-up errors, and the waits that give up after `service.startup-timeout`.
 *
 *   exit 0    stopped by SIGTERM/SIGINT (after draining, or while still starting)
 *   exit 1    an unexpected fault
 *   exit 2    an invalid configuration, or a file it names that cannot be read or loaded; wrong
 *             destination credentials or cluster (restarting cannot fix these)
 *   exit 3    a start-up failure that may pass: a port in use, a destination or an etcd cluster
 *             that did not answer within service.startup-timeout
 *   128 + n   a second SIGTERM (143) or SIGINT (130) while stopping or starting: at once
 */

import type { Server } from 'node:net';
import { FerryError } from './errors.js';
import { hostPort } from './host-port.js';

export const ExitCode = { Stopped: 0, Fault: 1, Config: 2, Startup: 3 } as const;

/** A start-up step failed in a way that restarting later may fix: exit 3. */
export class StartupError extends FerryError {
  readonly retriable = true;
  constructor(
    readonly code: 'ERR_LISTEN' | 'ERR_STARTUP_TIMEOUT',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** SIGTERM or SIGINT arrived while starting: what was opened is closed, and Ferry exits 0. */
export class StartAbortedError extends FerryError {
  readonly code = 'ERR_START_ABORTED';
  readonly retriable = false;
}

/**
 * Listen on `address:port`, or fail with ERR_LISTEN naming the configuration key (EADDRINUSE,
 * EADDRNOTAVAIL, EACCES: the system error is the cause). `key` is the port's key; an address
 * that is not this host's (EADDRNOTAVAIL) is the fault of its sibling, `….address`, named instead.
 */
export async function listenOn(server: Server, port: number, address: string, key: string): Promise<{ address: string; port: number }> {
  await new Promise<void>((resolve, reject) => {
    const fail = (err: Error & { code?: string }): void => {
      const why = err.code === 'EADDRINUSE' ? 'the address is in use' : err.code === 'EADDRNOTAVAIL' ? 'no such local address' : err.code === 'EACCES' ? 'permission denied' : err.message;
      const culprit = err.code === 'EADDRNOTAVAIL' ? key.replace(/port$/, 'address') : key;
      reject(new StartupError('ERR_LISTEN', `${culprit}: cannot listen on ${hostPort(address, port)}: ${why}`, { cause: err }));
    };
    server.once('error', fail);
    server.listen(port, address, () => {
      server.off('error', fail);
      resolve();
    });
  });
  const a = server.address();
  if (a === null || typeof a === 'string') throw new StartupError('ERR_LISTEN', `${key}: ${hostPort(address, port)} has no network address`);
  return { address: a.address, port: a.port };
}

const POLL_MS = 50;

/**
 * Wait until `done()` holds. Gives up with ERR_STARTUP_TIMEOUT (`what()` says what was missing)
 * once `performance.now()` passes `deadline.at` (`deadline.timeoutMs` after start-up began), and
 * with StartAbortedError as soon as `aborted()` holds.
 */
export async function waitForStartup(done: () => boolean, deadline: { at: number; timeoutMs: number }, aborted: () => boolean, what: () => string): Promise<void> {
  for (;;) {
    if (aborted()) throw new StartAbortedError('stopped while starting');
    if (done()) return;
    if (performance.now() >= deadline.at) throw new StartupError('ERR_STARTUP_TIMEOUT', `${what()} within service.startup-timeout (${deadline.timeoutMs} ms)`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}
