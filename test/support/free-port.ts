/**
 * A port on 127.0.0.1 that nothing listens on, for a service a test starts and must name before it
 * starts (a Ferry whose fleet record advertises its port, an etcd's client and peer ports).
 *
 * Picked at random below the kernel's ephemeral range (net.ipv4.ip_local_port_range), and checked
 * by binding it. A port from `listen(0)` comes from that range, and it is free only until it is
 * closed: while test files run side by side, any outgoing connection may take it as its local
 * port before the service binds it, and a Ferry given it failed start-up with ERR_LISTEN. Below
 * the range only another test's pick can take it.
 */

import { readFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';

/** The lowest port picked (clear of the well-known and registered services most hosts run). */
const FLOOR = 10_000;

/** The first port of the ephemeral range; 0 when it cannot be read. */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) ? low : 0;
  } catch {
    return 0;
  }
}

const EPHEMERAL_LOW = ephemeralLow();

/** Bind `port` (0: the kernel's pick) on 127.0.0.1 and close it; the port, or null when it is taken. */
function tryBind(port: number): Promise<number | null> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(null));
    server.listen(port, '127.0.0.1', () => {
      const bound = (server.address() as AddressInfo).port;
      server.close(() => resolve(bound));
    });
  });
}

export async function freePort(): Promise<number> {
  if (EPHEMERAL_LOW - FLOOR >= 1000) {
    for (let attempt = 0; attempt < 50; attempt++) {
      const port = FLOOR + Math.floor(Math.random() * (EPHEMERAL_LOW - FLOOR));
      if ((await tryBind(port)) !== null) return port;
    }
  }
  // No room below the range (or every pick was taken): the kernel's pick.
  const port = await tryBind(0);
  if (port === null) throw new Error('no port on 127.0.0.1 could be bound');
  return port;
}
