/**
 * `ferry xdr-load`: asbenchmark's workload flags, XDR's shipping behaviour.
 * Status lines go to stderr once a second; a JSON summary goes to stdout at the end.
 */

import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { finePercentileMs } from './load/fine-latency.js';
import { parseObjectSpec } from './load/record-factory.js';
import { type LoadStats, XdrSource, type XdrLoadOptions } from './load/xdr-source.js';
import { FerryError } from '../errors.js';

export const XDR_LOAD_USAGE = `usage: ferry xdr-load [options]
  -h, --hosts HOST:PORT     where to ship (Ferry's service port); repeat it or give a comma
                            list for several connector nodes, used round-robin [127.0.0.1:8901]
      --protocol P          tcp (XDR's connector protocol) or http2 (the ESP connector's:
                            one POST per record, --pipeline streams per connection) [tcp]
  -n, --namespace NS        namespace                                       [test]
  -s, --set SET             set name                                        [testset]
  -k, --keys N              key count                                       [100000]
  -K, --start-key N         first key                                       [0]
  -o, --object SPEC         bins: I, D, B<n>, S<n>, Z, L, M, G, H, all, comma lists  [I]
  -w, --workload W          I (insert each key once) | RU,<read pct>        [RU,0]
  -z, --connections N       connections (XDR service threads)               [8]
  -d, -t, --duration S      seconds to run (0 = until --changes)            [0]
  -g, --throttle TPS        transactions/s, reads included (0 = unlimited)  [0]
      --changes N           stop after N changes                            [0]
      --drain-s S           after the stop, give up once nothing is acknowledged for S seconds [5]
      --compress            compress writes over 128 bytes (type 4)
      --deletes PCT         percentage of changes that are deletes          [0]
      --durable-deletes     ship deletes as durable (info2 0x13)
      --bin-luts            ship bin LUTs (info2 0x11)
      --no-key              do not ship the user key
      --no-bins             ship writes without bins (XDR's bin-policy no-bins)
      --ttl S               record TTL in seconds (0 = never expires)       [0]
      --pipeline N          requests in flight per connection               [256]
      --reset-ms MS         reset a connection after this much silence      [10000]
      --retry-delay-ms MS   wait before re-shipping a retried record (XDR period-ms) [100]
      --hold-back PCT       hold back PCT% of the first host's shipments and ship the key again
                            elsewhere at once, so older versions arrive late  [0]
      --hold-ms MS          how long a held-back shipment waits               [500]
      --probe-every N       order probe: every Nth shipment to a missing namespace [0]
      --probe-namespace NS  the namespace the destination lacks             [ferry-order-probe]
      --no-health-checks    skip XDR's 5-second connect/close checks
      --seed N              random seed                                     [1]
      --tls-cafile FILE     speak TLS; verify the server against these PEM CA certificates
      --tls-certfile FILE   client certificate (PEM), with --tls-keyfile
      --tls-keyfile FILE    client private key (PEM)
      --tls-name NAME       name the server certificate must carry          [the host]
  -U, --user USER           log in as USER on every connection (LOGIN, then AUTHENTICATE on 80)
  -P, --password PASSWORD   USER's password
      --ledger FILE         write the expected final state (key → version | deleted)
      --quiet               no status lines`;

export class UsageError extends FerryError {
  readonly code = 'ERR_USAGE';
  readonly retriable = false;
}

function int(name: string, v: string | undefined, dflt: number, min = 0): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer ≥ ${min}, got '${v}'`);
  return n;
}

export function parseXdrLoadArgs(argv: string[]): { opts: XdrLoadOptions; ledger: string | undefined; quiet: boolean } {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      hosts: { type: 'string', short: 'h', multiple: true },
      protocol: { type: 'string' },
      namespace: { type: 'string', short: 'n' },
      set: { type: 'string', short: 's' },
      keys: { type: 'string', short: 'k' },
      'start-key': { type: 'string', short: 'K' },
      object: { type: 'string', short: 'o' },
      workload: { type: 'string', short: 'w' },
      connections: { type: 'string', short: 'z' },
      duration: { type: 'string', short: 'd' },
      time: { type: 'string', short: 't' },
      throttle: { type: 'string', short: 'g' },
      changes: { type: 'string' },
      'drain-s': { type: 'string' },
      compress: { type: 'boolean' },
      deletes: { type: 'string' },
      'durable-deletes': { type: 'boolean' },
      'bin-luts': { type: 'boolean' },
      'no-key': { type: 'boolean' },
      'no-bins': { type: 'boolean' },
      ttl: { type: 'string' },
      pipeline: { type: 'string' },
      'reset-ms': { type: 'string' },
      'retry-delay-ms': { type: 'string' },
      'hold-back': { type: 'string' },
      'hold-ms': { type: 'string' },
      'probe-every': { type: 'string' },
      'probe-namespace': { type: 'string' },
      'no-health-checks': { type: 'boolean' },
      seed: { type: 'string' },
      'tls-cafile': { type: 'string' },
      'tls-certfile': { type: 'string' },
      'tls-keyfile': { type: 'string' },
      'tls-name': { type: 'string' },
      user: { type: 'string', short: 'U' },
      password: { type: 'string', short: 'P' },
      ledger: { type: 'string' },
      quiet: { type: 'boolean' },
    },
  });
  const hosts = parseHosts(values.hosts ?? ['127.0.0.1:8901']);
  const holdBackPct = int('hold-back', values['hold-back'], 0);
  if (holdBackPct > 90) throw new UsageError('--hold-back is a percentage: 0–90');
  const wl = (values.workload ?? 'RU,0').toUpperCase();
  let workload: 'insert' | 'update';
  let readPct = 0;
  if (wl === 'I') workload = 'insert';
  else if (/^RU(,\d{1,3})?$/.test(wl)) {
    workload = 'update';
    readPct = Number(wl.split(',')[1] ?? '0');
    if (readPct >= 100) throw new UsageError('-w RU,<read pct> must leave some updates: use a read percentage below 100');
  } else throw new UsageError(`-w must be I or RU,<read pct>, got '${values.workload}'`);
  const protocol = (values.protocol ?? 'tcp').toLowerCase();
  if (protocol !== 'tcp' && protocol !== 'http2') throw new UsageError(`--protocol must be tcp or http2, got '${values.protocol}'`);
  if (protocol === 'http2') {
    // Replies on HTTP/2 come in any order and carry no login: these TCP checks have no meaning there.
    for (const flag of ['probe-every', 'hold-back', 'user'] as const) {
      if (values[flag] !== undefined) throw new UsageError(`--${flag} is for --protocol tcp only`);
    }
  }
  const deletePct = int('deletes', values.deletes, 0);
  if (deletePct > 100) throw new UsageError('--deletes is a percentage: 0–100');
  const opts: XdrLoadOptions = {
    host: hosts[0]!.host,
    port: hosts[0]!.port,
    ...(hosts.length > 1 ? { hosts } : {}),
    ...(protocol === 'http2' ? { protocol: 'http2' as const } : {}),
    ...(holdBackPct > 0 ? { holdBackPct, holdBackMs: int('hold-ms', values['hold-ms'], 500) } : {}),
    namespace: values.namespace ?? 'test',
    set: values.set ?? 'testset',
    keys: int('keys', values.keys, 100000, 1),
    startKey: int('start-key', values['start-key'], 0),
    bins: parseObjectSpec(values.object ?? 'I'),
    workload,
    readPct,
    connections: int('connections', values.connections, 8, 1),
    pipeline: int('pipeline', values.pipeline, 256, 1),
    changes: int('changes', values.changes, 0),
    durationS: int('duration', values.duration ?? values.time, 0),
    throttle: int('throttle', values.throttle, 0),
    compress: values.compress ?? false,
    deletePct,
    durableDeletes: values['durable-deletes'] ?? false,
    sendKey: !(values['no-key'] ?? false),
    shipBinLuts: values['bin-luts'] ?? false,
    noBins: values['no-bins'] ?? false,
    ttl: int('ttl', values.ttl, 0),
    resetMs: int('reset-ms', values['reset-ms'], 10000, 100),
    retryDelayMs: int('retry-delay-ms', values['retry-delay-ms'], 100),
    healthChecks: !(values['no-health-checks'] ?? false),
    probeEvery: int('probe-every', values['probe-every'], 0),
    probeNamespace: values['probe-namespace'] ?? 'ferry-order-probe',
    seed: int('seed', values.seed, 1),
    drainMs: int('drain-s', values['drain-s'], 5, 1) * 1000,
    ...tlsOptions(values),
    ...loginOptions(values),
  };
  if (opts.changes === 0 && opts.durationS === 0 && opts.workload === 'update') {
    throw new UsageError('give --changes N or -d SECONDS (or -w I) so the run ends');
  }
  return { opts, ledger: values.ledger, quiet: values.quiet ?? false };
}

/** `-h` values: each HOST:PORT or a comma list of them. */
export function parseHosts(values: readonly string[]): Array<{ host: string; port: number }> {
  return values
    .flatMap((v) => v.split(','))
    .filter((v) => v.trim() !== '')
    .map((v) => {
      const [host, portText] = v.trim().split(':');
      return { host: host || '127.0.0.1', port: int('hosts port', portText ?? '8901', 8901, 1) };
    });
}

function readPem(flag: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`--${flag}: cannot read ${path}: ${(err as Error).message}`);
  }
}

function tlsOptions(v: { 'tls-cafile'?: string | undefined; 'tls-certfile'?: string | undefined; 'tls-keyfile'?: string | undefined; 'tls-name'?: string | undefined }): Pick<XdrLoadOptions, 'tls'> {
  const ca = v['tls-cafile'];
  if (ca === undefined) {
    if (v['tls-certfile'] !== undefined || v['tls-keyfile'] !== undefined || v['tls-name'] !== undefined) throw new UsageError('--tls-certfile, --tls-keyfile and --tls-name need --tls-cafile (which turns TLS on)');
    return {};
  }
  if ((v['tls-certfile'] === undefined) !== (v['tls-keyfile'] === undefined)) throw new UsageError('--tls-certfile and --tls-keyfile go together');
  return {
    tls: {
      ca: readPem('tls-cafile', ca),
      ...(v['tls-certfile'] !== undefined ? { cert: readPem('tls-certfile', v['tls-certfile']), key: readPem('tls-keyfile', v['tls-keyfile']!) } : {}),
      ...(v['tls-name'] !== undefined ? { servername: v['tls-name'] } : {}),
    },
  };
}

function loginOptions(v: { user?: string | undefined; password?: string | undefined }): Pick<XdrLoadOptions, 'user' | 'password'> {
  if (v.user === undefined && v.password === undefined) return {};
  if (v.user === undefined || v.password === undefined) throw new UsageError('-U/--user and -P/--password go together');
  return { user: v.user, password: v.password };
}

/** Latency percentile (ms) from the log2-µs histogram: the upper edge of the bucket. */
export function percentileMs(latency: readonly number[], p: number): number {
  const total = latency.reduce((a, b) => a + b, 0);
  if (total === 0) return 0;
  let seen = 0;
  for (let i = 0; i < latency.length; i++) {
    seen += latency[i]!;
    if (seen >= total * p) return 2 ** (i + 1) / 1000;
  }
  return 2 ** latency.length / 1000;
}

export function summarize(stats: LoadStats, elapsedMs: number): Record<string, unknown> {
  return {
    elapsedMs: Math.round(elapsedMs),
    changes: stats.changes,
    ships: stats.ships,
    shipsPerSecond: Math.round((stats.ships * 1000) / Math.max(1, elapsedMs)),
    acks: stats.acks,
    retries: stats.retries,
    abandons: stats.abandons,
    resets: stats.resets,
    probes: stats.probes,
    orderViolations: stats.orderViolations,
    healthChecks: stats.healthChecks,
    ...(stats.held > 0 ? { held: stats.held, heldSent: stats.heldSent } : {}),
    byCode: stats.byCode,
    logins: stats.logins,
    loginFailures: stats.loginFailures,
    securityCodes: stats.securityCodes,
    connectErrors: stats.connectErrors,
    tlsFailures: stats.tlsFailures,
    unacknowledged: stats.unacknowledged,
    ...(stats.lastConnectError !== '' ? { lastConnectError: stats.lastConnectError } : {}),
    latencyMs: { p50: percentileMs(stats.latency, 0.5), p99: percentileMs(stats.latency, 0.99), p999: percentileMs(stats.latency, 0.999) },
    latencyFineMs: { p50: finePercentileMs(stats.fineLatency, 0.5), p99: finePercentileMs(stats.fineLatency, 0.99), p999: finePercentileMs(stats.fineLatency, 0.999) },
  };
}

/**
 * asbenchmark's latency columns over the log2-µs histogram: the share of replies within 1 ms, then
 * the share above 1, 8 and 64 ms (each column includes the ones to its right, as asbenchmark's
 * `-L 4,3` does). The edges are the histogram's: 1.024, 8.192 and 65.536 ms.
 */
export function latencyColumns(latency: readonly number[]): string {
  const total = latency.reduce((a, b) => a + b, 0);
  const above = (bucket: number): number => latency.slice(bucket).reduce((a, b) => a + b, 0);
  const pct = (n: number): string => `${total === 0 ? 0 : Math.round((n * 100) / total)}%`;
  return `<=1ms=${pct(total - above(10))} >1ms=${pct(above(10))} >8ms=${pct(above(13))} >64ms=${pct(above(16))}`;
}

/**
 * One status line, asbenchmark-style: this second's writes (tps, retries, abandons, timeouts, which
 * are connection resets after silence) and latency columns, then the run's totals, failed
 * connections (of which TLS) and refused logins included.
 */
export function statusLine(s: LoadStats, last: LoadStats, seconds: number, inFlight: number): string {
  const lat = s.latency.map((n, i) => n - last.latency[i]!);
  const tps = Math.round((s.ships - last.ships) / seconds);
  return (
    `${new Date().toISOString()} xdr-load write(tps=${tps} retries=${s.retries - last.retries} abandons=${s.abandons - last.abandons} timeouts=${s.resets - last.resets}) ` +
    `latency(${latencyColumns(lat)} p50<=${percentileMs(lat, 0.5)}ms p99<=${percentileMs(lat, 0.99)}ms) ` +
    `total(changes=${s.changes} ships=${s.ships} acks=${s.acks} retries=${s.retries} abandons=${s.abandons} timeouts=${s.resets}) inflight=${inFlight} ` +
    `failures(connect=${s.connectErrors} tls=${s.tlsFailures} login=${s.loginFailures})`
  );
}

function snapshot(s: LoadStats): LoadStats {
  return { ...s, latency: [...s.latency], fineLatency: [...s.fineLatency] };
}

export async function xdrLoadCommand(argv: string[]): Promise<number> {
  const { opts, ledger, quiet } = parseXdrLoadArgs(argv);
  const source = new XdrSource(opts);
  let last = { stats: snapshot(source.stats), at: performance.now() };
  const status = quiet
    ? null
    : setInterval(() => {
        const now = performance.now();
        process.stderr.write(`${statusLine(source.stats, last.stats, (now - last.at) / 1000, source.inFlightCount)}\n`);
        last = { stats: snapshot(source.stats), at: now };
      }, 1000);
  // A connection that keeps failing (TLS verification, a refused login) would otherwise retry
  // silently: say each new reason once.
  let lastError = '';
  const errors = setInterval(() => {
    const e = source.stats.lastConnectError;
    if (e !== '' && e !== lastError) process.stderr.write(`xdr-load: connection failed: ${e}\n`);
    lastError = e;
  }, 1000);
  // A signal ends the run at once: what is not acknowledged yet is reported, not waited for.
  const stop = (): void => source.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const stats = await source.run();
  process.off('SIGINT', stop);
  process.off('SIGTERM', stop);
  clearInterval(errors);
  if (status !== null) clearInterval(status);
  const summary = summarize(stats, source.elapsedMs());
  if (ledger !== undefined) {
    const keys: Record<string, number | 'deleted'> = {};
    for (let k = 0; k < opts.keys; k++) if (source.version[k]! > 0) keys[String(opts.startKey + k)] = source.deleted[k] === 1 ? 'deleted' : source.version[k]!;
    writeFileSync(ledger, JSON.stringify({ namespace: opts.namespace, set: opts.set, object: argv, keys }));
  }
  if (stats.unacknowledged > 0) process.stderr.write(`xdr-load: ended with ${stats.unacknowledged} changes not acknowledged\n`);
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  return stats.abandons > 0 || stats.orderViolations > 0 || stats.unacknowledged > 0 ? 1 : 0;
}
