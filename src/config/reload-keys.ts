/**
 * What SIGHUP can change. The old and new effective configurations (every default filled in) are
 * compared key path by key path; each changed key is looked up in RELOAD_KEYS: `live` keys are
 * applied at once, `restart` keys are reported by name and take effect at the next start.
 *
 * Every key of the schema is classified here, in one table (a test walks the schema and
 * config/reference.yml). An entry covers the keys below it: `service.tls` classifies every TLS
 * key. A changed key the table does not know is reported as needing a restart, never ignored.
 */

export type ReloadClass = 'live' | 'restart';

export const RELOAD_KEYS: Readonly<Record<string, ReloadClass>> = {
  // service: the ports, their security and the workers are set up once
  'service.port': 'restart',
  'service.address': 'restart',
  'service.protocol': 'restart',
  'service.tls': 'restart',
  'service.security': 'restart',
  'service.manage': 'restart',
  'service.worker-threads': 'restart',
  'service.cpu-affinity': 'restart',
  'service.dispatch-delay': 'restart',
  'service.prompt-below': 'restart',
  'service.max-frame-size': 'restart',
  'service.max-in-flight-per-connection': 'restart',
  'service.startup-timeout': 'restart',
  'service.max-concurrent-records': 'live',
  'service.ack-deadline': 'live',
  'service.slow-reader-timeout': 'live',
  'service.worker-busy': 'live',
  // accepted for XDR Proxy compatibility and not used: a change has nothing to wait for
  'service.io-threads': 'live',
  'service.enable-tcp-xdr-ack-buffering': 'live',
  'service.cluster-name': 'live',

  // aerospike: connections and tending are set up once; the write policy reaches workers live
  'aerospike.seeds': 'restart',
  'aerospike.credentials': 'restart',
  'aerospike.cluster-name': 'restart',
  'aerospike.tls': 'restart',
  'aerospike.timeouts.connect': 'restart',
  'aerospike.timeouts.write': 'restart',
  // the XDR Proxy's names for timeouts.write
  'aerospike.socket-timeout': 'restart',
  'aerospike.total-timeout': 'restart',
  // how peers are found and reached is read by the tender at start
  'aerospike.services': 'restart',
  // accepted for XDR Proxy compatibility and not used
  'aerospike.performance': 'live',
  'aerospike.connections-per-node': 'restart',
  'aerospike.min-connections-per-node': 'restart',
  'aerospike.idle-timeout': 'restart',
  'aerospike.tend-interval': 'restart',
  'aerospike.pipeline-depth': 'restart',
  'aerospike.namespace-mapping': 'live',
  'aerospike.lut': 'live',
  'aerospike.durable-delete': 'live',
  'aerospike.last-write-wins': 'live',
  // routing rules and the transform module: a new write policy, taken by each worker at its next batch
  'aerospike.routing': 'live',
  'aerospike.bin-transforms': 'live',
  'aerospike.namespaces': 'live',
  'aerospike.skip-sets': 'live',
  'aerospike.transform': 'live',
  'aerospike.rack-id': 'live',
  // each worker opens its dead-letter files once
  'aerospike.dead-letters': 'restart',

  // the file destination is opened once
  'file.path': 'restart',
  'file.format': 'restart',
  'file.sync': 'restart',

  // logging: where lines go is decided once; levels and the ticker change live
  'logging.enable-console-logging': 'restart',
  'logging.file': 'restart',
  'logging.max-history': 'restart',
  'logging.levels': 'live',
  'logging.ticker-interval': 'live',
  // accepted for XDR Proxy compatibility; lines are always JSON
  'logging.format': 'live',

  // accepted for XDR Proxy compatibility and not used (README, "record-ordering")
  'record-ordering': 'live',

  // etcd mirrors: added, removed and changed ones are applied by the mirror group on SIGHUP
  // (src/cli/run-command.ts), the others left running untouched
  mirrors: 'live',

  // fleet membership: the etcd client and the lease are set up once
  fleet: 'restart',
};

/** The class of `path`: its own entry or its nearest ancestor's; unknown keys need a restart. */
export function reloadClassOf(path: string): ReloadClass {
  for (let p = path; p !== ''; p = p.includes('.') ? p.slice(0, p.lastIndexOf('.')) : '') {
    const c = RELOAD_KEYS[p];
    if (c !== undefined) return c;
  }
  return 'restart';
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => same(x, b[i]));
  if (isObject(a) && isObject(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const k of keys) if (!same(a[k], b[k])) return false;
    return true;
  }
  return false;
}

/**
 * The key paths whose values differ between two configurations. The walk stops at a key of the
 * table (a map such as `logging.levels` or a list such as `aerospike.seeds` changes as a whole),
 * and at a value that is not an object on either side (a section added or removed).
 */
export function changedKeys(before: unknown, after: unknown, path = ''): string[] {
  if (same(before, after)) return [];
  if ((path !== '' && RELOAD_KEYS[path] !== undefined) || !isObject(before) || !isObject(after)) return [path];
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...keys].flatMap((k) => changedKeys(before[k], after[k], path === '' ? k : `${path}.${k}`));
}

/** Split changed key paths into those applied live and those that need a restart. */
export function classifyChanges(paths: readonly string[]): { live: string[]; restart: string[] } {
  const live: string[] = [];
  const restart: string[] = [];
  for (const p of paths) (reloadClassOf(p) === 'live' ? live : restart).push(p);
  return { live, restart };
}
