/**
 * Listening sockets a configuration asks for that can never all be opened: the same port twice on
 * one address, or the management port on a service port. Found at check-config time (exit 2) rather
 * than at start-up, where EADDRINUSE is exit 3 and systemd restarts Ferry into the same failure.
 */

export interface Listener {
  /** the key the port comes from, inside `service`: ['port'], ['port', 1], ['manage', 'port'] */
  readonly path: ReadonlyArray<string | number>;
  readonly address: string;
  readonly addressKey: string;
  readonly port: number;
}

const IPV4 = /^\d{1,3}(?:\.\d{1,3}){3}$/;

/**
 * Whether two addresses share sockets. `::` is dual-stack on Linux, so it takes every address;
 * `0.0.0.0` takes every IPv4 address. Host names are not resolved here: only equal names collide.
 */
function overlap(a: string, b: string): boolean {
  if (a === b || a === '::' || b === '::') return true;
  return (a === '0.0.0.0' && IPV4.test(b)) || (b === '0.0.0.0' && IPV4.test(a));
}

const keyOf = (l: Listener): string => ['service', ...l.path].join('.');

/** One problem per pair of listeners that cannot both be opened; port 0 (a free port) never collides. */
export function listenConflicts(listeners: readonly Listener[]): Array<{ path: Array<string | number>; message: string }> {
  const problems: Array<{ path: Array<string | number>; message: string }> = [];
  for (let i = 0; i < listeners.length; i++) {
    for (let j = i + 1; j < listeners.length; j++) {
      const a = listeners[i]!;
      const b = listeners[j]!;
      if (a.port === 0 || a.port !== b.port || !overlap(a.address, b.address)) continue;
      const where = a.address === b.address ? `on ${a.address}` : `on ${a.address} (${a.addressKey}) and ${b.address} (${b.addressKey}), which overlap`;
      problems.push({ path: [...b.path], message: `port ${b.port} is also ${keyOf(a)} ${where}; only one socket can listen there, so Ferry could never start` });
    }
  }
  return problems;
}
