/**
 * `ferry verify`: does the destination hold what the source holds? Compares one namespace (or some
 * of its sets) record by record by digest, partition by partition, at a records/s limit per side.
 * Progress on stderr once a second, a summary on stdout, the differing digests in --out.
 * Exit 0 when equal, 1 when anything differs, 2 for bad input, 3 when a cluster cannot be read.
 */

import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadRunConfigFile } from '../config/index.js';
import type { Credentials } from '../destination/login.js';
import type { LinkAddress, TlsSettings } from '../destination/node-link.js';
import { destinationTls, passwordOf } from '../destination-setup.js';
import { DIGEST_SIZE } from '../protocol/index.js';
import { VerifyCluster } from '../verify/cluster.js';
import { VerifyClusterError, VerifyInputError } from '../verify/errors.js';
import { type VerifyProgress, type VerifyReport, verify } from '../verify/verifier.js';
import { formatDuration } from './fleet-command.js';

export const VERIFY_USAGE = `usage: ferry verify --source HOST:PORT[,..] (--destination HOST:PORT[,..] | --config FILE) -n NS [options]
  -n, --namespace NS            the source namespace to compare
      --destination-namespace NS  its name at the destination  [the same, or the config's mapping]
  -s, --set SET                 compare only this set; repeat for several   [the whole namespace]
      --rate N                  records/s read from each side, 0 = unlimited [5000]
      --concurrency N           partitions read at once                    [4]
      --out FILE                write each difference: <digest hex> <missing|extra|different>
      --digests FILE            re-check only the digests listed (first word of each line: an
                                --out file works) by batch read, instead of scanning
      --ignore-recent S         leave out records changed in the last S seconds (replication in flight) [0]
      --lww-bin BIN             the destination keeps a last-write-wins version in BIN: leave it out
                                of the bin comparison, compare it with the source record's LUT
      --config FILE             take the destination (seeds, credentials, TLS), the namespace mapping
                                and the last-write-wins bin from a Ferry configuration
      --tls-cafile FILE         speak TLS to both clusters, verifying them against these PEM CA certificates
      --tls-certfile FILE       client certificate (PEM), with --tls-keyfile
      --tls-keyfile FILE        client private key (PEM)
      --tls-name NAME           name the seeds' certificates must carry      [the host]
  -U, --user USER               log in to both clusters as USER ...
  -P, --password PASSWORD       ... with this password
      --source-user U / --source-password P, --destination-user U / --destination-password P
                                per side, over --user/--password
      --timeout-ms MS           connect, info and scan silence limit        [10000]
      --json                    print the summary as JSON
      --quiet                   no progress lines
  exit: 0 equal, 1 differences found, 2 bad input, 3 a cluster could not be reached or read`;

interface Side {
  seeds: LinkAddress[];
  tls: TlsSettings | null;
  credentials: Credentials | null;
}

interface VerifyCommandOptions {
  source: Side;
  destination: Side;
  namespace: string;
  destinationNamespace: string;
  sets: string[];
  rate: number;
  concurrency: number;
  out: string | undefined;
  digests: Buffer[] | undefined;
  ignoreRecentSeconds: number;
  versionBin: string | undefined;
  timeoutMs: number;
  json: boolean;
  quiet: boolean;
}

export async function verifyCommand(argv: string[]): Promise<number> {
  let opts: VerifyCommandOptions;
  try {
    opts = parseVerifyArgs(argv);
  } catch (err) {
    if (!(err instanceof VerifyInputError)) throw err;
    process.stderr.write(`ferry verify: ${err.message}\n`);
    return 2;
  }
  let source: VerifyCluster | undefined;
  let destination: VerifyCluster | undefined;
  let out: number | undefined;
  const started = performance.now();
  const progress = opts.quiet ? undefined : new ProgressLine(started);
  try {
    [source, destination] = await Promise.all([
      VerifyCluster.connect({ role: 'source', ...opts.source, timeoutMs: opts.timeoutMs }),
      VerifyCluster.connect({ role: 'destination', ...opts.destination, timeoutMs: opts.timeoutMs }),
    ]);
    out = opts.out === undefined ? undefined : openSync(opts.out, 'w');
    const fd = out;
    const report = await verify(
      source,
      destination,
      {
        namespace: opts.namespace,
        destinationNamespace: opts.destinationNamespace,
        sets: opts.sets,
        rate: opts.rate,
        concurrency: opts.concurrency,
        versionBin: opts.versionBin,
        ignoreRecentSeconds: opts.ignoreRecentSeconds,
        digests: opts.digests,
        socketTimeoutMs: opts.timeoutMs,
      },
      {
        onDifferences: (_partition, differences) => {
          if (fd === undefined || differences.length === 0) return;
          writeSync(fd, differences.map((d) => `${d.digest} ${d.kind}\n`).join(''));
        },
        onProgress: (p) => progress?.update(p),
        onRetry: (first, last, err) => process.stderr.write(`ferry verify: partitions ${first}-${last} read again after: ${err.message}\n`),
      },
    );
    progress?.finish(report);
    const elapsedMs = performance.now() - started;
    process.stdout.write(opts.json ? `${JSON.stringify(summaryOf(report, elapsedMs))}\n` : renderSummary(report, elapsedMs));
    return report.missing + report.extra + report.different > 0 ? 1 : 0;
  } catch (err) {
    progress?.finish(undefined);
    if (err instanceof VerifyInputError) {
      process.stderr.write(`ferry verify: ${err.message}\n`);
      return 2;
    }
    if (err instanceof VerifyClusterError) {
      process.stderr.write(`ferry verify: ${err.message}\n`);
      return 3;
    }
    throw err;
  } finally {
    if (out !== undefined) closeSync(out);
    source?.close();
    destination?.close();
  }
}

const OPTIONS = {
  source: { type: 'string', multiple: true },
  destination: { type: 'string', multiple: true },
  namespace: { type: 'string', short: 'n' },
  'destination-namespace': { type: 'string' },
  set: { type: 'string', short: 's', multiple: true },
  rate: { type: 'string' },
  concurrency: { type: 'string' },
  out: { type: 'string' },
  digests: { type: 'string' },
  'ignore-recent': { type: 'string' },
  'lww-bin': { type: 'string' },
  config: { type: 'string' },
  user: { type: 'string', short: 'U' },
  password: { type: 'string', short: 'P' },
  'source-user': { type: 'string' },
  'source-password': { type: 'string' },
  'destination-user': { type: 'string' },
  'destination-password': { type: 'string' },
  'timeout-ms': { type: 'string' },
  'tls-cafile': { type: 'string' },
  'tls-certfile': { type: 'string' },
  'tls-keyfile': { type: 'string' },
  'tls-name': { type: 'string' },
  json: { type: 'boolean', default: false },
  quiet: { type: 'boolean', default: false },
} as const;

function readArgs(argv: string[]): ReturnType<typeof parseArgs<{ args: string[]; strict: true; options: typeof OPTIONS }>>['values'] {
  try {
    return parseArgs({ args: argv, strict: true, options: OPTIONS }).values;
  } catch (err) {
    throw new VerifyInputError((err as Error).message);
  }
}

export function parseVerifyArgs(argv: string[]): VerifyCommandOptions {
  const values = readArgs(argv);
  const namespace = values.namespace;
  if (namespace === undefined || namespace === '') throw new VerifyInputError('-n/--namespace is required');
  if (values.source === undefined) throw new VerifyInputError('--source HOST:PORT is required');
  const config = values.config === undefined ? undefined : destinationFromConfig(values.config);
  if (values.destination === undefined && config === undefined) throw new VerifyInputError('--destination HOST:PORT or --config FILE is required');
  const credentials = (user: string | undefined, password: string | undefined): Credentials | null => {
    const u = user ?? values.user;
    if (u === undefined) return null;
    return { user: u, password: password ?? values.password ?? '', mode: 'internal' };
  };
  const tls = tlsOf(values);
  const tlsName = values['tls-name'];
  const destination: Side =
    values.destination !== undefined
      ? { seeds: seedsOf('--destination', values.destination, tlsName), tls, credentials: credentials(values['destination-user'], values['destination-password']) }
      : config!.side;
  const sets = values.set ?? [];
  for (const s of sets) if (s === '') throw new VerifyInputError('--set cannot be empty');
  return {
    source: { seeds: seedsOf('--source', values.source, tlsName), tls, credentials: credentials(values['source-user'], values['source-password']) },
    destination,
    namespace,
    destinationNamespace: values['destination-namespace'] ?? config?.destinationNamespaceOf(namespace) ?? namespace,
    sets,
    rate: count('--rate', values.rate, 5000, 0),
    concurrency: count('--concurrency', values.concurrency, 4, 1),
    out: values.out,
    digests: values.digests === undefined ? undefined : readDigests(values.digests),
    ignoreRecentSeconds: count('--ignore-recent', values['ignore-recent'], 0, 0),
    versionBin: values['lww-bin'] ?? config?.versionBin,
    timeoutMs: count('--timeout-ms', values['timeout-ms'], 10_000, 1),
    json: values.json ?? false,
    quiet: values.quiet ?? false,
  };
}

function count(flag: string, text: string | undefined, fallback: number, min: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n < min) throw new VerifyInputError(`${flag} must be an integer of at least ${min}, got '${text}'`);
  return n;
}

/** TLS for both clusters: on with --tls-cafile, which the other TLS flags need. */
function tlsOf(v: { 'tls-cafile'?: string | undefined; 'tls-certfile'?: string | undefined; 'tls-keyfile'?: string | undefined; 'tls-name'?: string | undefined }): TlsSettings | null {
  const ca = v['tls-cafile'];
  if (ca === undefined) {
    if (v['tls-certfile'] !== undefined || v['tls-keyfile'] !== undefined || v['tls-name'] !== undefined) throw new VerifyInputError('--tls-certfile, --tls-keyfile and --tls-name need --tls-cafile (which turns TLS on)');
    return null;
  }
  if ((v['tls-certfile'] === undefined) !== (v['tls-keyfile'] === undefined)) throw new VerifyInputError('--tls-certfile and --tls-keyfile go together');
  const read = (flag: string, path: string | undefined): Buffer | undefined => {
    if (path === undefined) return undefined;
    try {
      return readFileSync(path);
    } catch (err) {
      throw new VerifyInputError(`--${flag}: cannot read ${path}: ${(err as Error).message}`);
    }
  };
  return { ca: read('tls-cafile', ca), cert: read('tls-certfile', v['tls-certfile']), key: read('tls-keyfile', v['tls-keyfile']) };
}

function seedsOf(flag: string, values: readonly string[], tlsName: string | undefined): LinkAddress[] {
  const seeds = values
    .flatMap((v) => v.split(','))
    .filter((v) => v.trim() !== '')
    .map((v) => {
      const m = /^\s*([^:\s]+):(\d+)\s*$/.exec(v);
      if (m === null || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new VerifyInputError(`${flag}: expected HOST:PORT, got '${v}'`);
      return { host: m[1]!, port: Number(m[2]), tlsName };
    });
  if (seeds.length === 0) throw new VerifyInputError(`${flag}: no HOST:PORT given`);
  return seeds;
}

/** The first word of each non-empty line, as a 20-byte digest in hex. */
function readDigests(file: string): Buffer[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new VerifyInputError(`--digests: cannot read ${file}: ${(err as Error).message}`);
  }
  const digests: Buffer[] = [];
  text.split('\n').forEach((line, i) => {
    const word = line.trim().split(/\s+/)[0] ?? '';
    if (word === '') return;
    if (!/^[0-9a-fA-F]+$/.test(word) || word.length !== 2 * DIGEST_SIZE) throw new VerifyInputError(`--digests: ${file} line ${i + 1}: expected a ${DIGEST_SIZE}-byte digest in hex, got '${word}'`);
    digests.push(Buffer.from(word, 'hex'));
  });
  return digests;
}

/**
 * The destination of a Ferry configuration: its seeds, credentials and TLS, where a namespace's
 * records go (its routing rule's namespace, or namespace-mapping's), and the version bin.
 */
function destinationFromConfig(file: string): { side: Side; destinationNamespaceOf: (ns: string) => string | null; versionBin: string | undefined } {
  const d = loadRunConfigFile(file).xdr?.destination;
  if (d === undefined || d.kind !== 'aerospike') throw new VerifyInputError(`${file} has no aerospike destination`);
  const tls = destinationTls(d.tls);
  return {
    side: {
      seeds: d.seeds.map((s) => ({ host: s.host, port: s.port, tlsName: s.tlsName ?? d.tls?.tlsName })),
      tls: tls === null ? null : { ca: bytes(tls.ca), cert: bytes(tls.cert), key: bytes(tls.key) },
      credentials: d.credentials === null ? null : { user: d.credentials.user ?? '', password: d.credentials.passwordFile === undefined ? '' : passwordOf(d.credentials.passwordFile), mode: d.credentials.mode },
    },
    destinationNamespaceOf: (ns) => (d.routing.namespaces.find((n) => n.name === ns)?.rule ?? d.routing.fallback).namespace,
    versionBin: d.lastWriteWins?.bin,
  };
}

function bytes(text: string | undefined): Buffer | undefined {
  return text === undefined ? undefined : Buffer.from(text);
}

export interface VerifySummary {
  equal: boolean;
  partitions: number;
  sourceRecords: number;
  destinationRecords: number;
  missing: number;
  extra: number;
  different: number;
  ignoredRecent: number;
  elapsedSeconds: number;
  /** records read from both sides per second */
  recordsPerSecond: number;
}

function summaryOf(r: VerifyReport, elapsedMs: number): VerifySummary {
  const records = r.sourceRecords + r.destinationRecords;
  return {
    equal: r.missing + r.extra + r.different === 0,
    partitions: r.partitionsDone,
    sourceRecords: r.sourceRecords,
    destinationRecords: r.destinationRecords,
    missing: r.missing,
    extra: r.extra,
    different: r.different,
    ignoredRecent: r.ignoredRecent,
    elapsedSeconds: Math.round(elapsedMs) / 1000,
    recordsPerSecond: elapsedMs > 0 ? Math.round((records * 1000) / elapsedMs) : 0,
  };
}

function renderSummary(r: VerifyReport, elapsedMs: number): string {
  const s = summaryOf(r, elapsedMs);
  return [
    `${s.equal ? 'equal' : 'DIFFERENT'}: ${s.partitions} partitions, ${s.sourceRecords} source records, ${s.destinationRecords} destination records in ${s.elapsedSeconds} s (${s.recordsPerSecond} records/s)`,
    `missing at the destination: ${s.missing}`,
    `only at the destination:    ${s.extra}`,
    `different:                  ${s.different}`,
    `left out as recent:         ${s.ignoredRecent}`,
    '',
  ].join('\n');
}

/**
 * The progress line on stderr once a second, also while a slow group holds back the next
 * update (the report is one object the verifier keeps current).
 */
class ProgressLine {
  private latest: VerifyProgress | undefined;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly started: number) {
    this.timer = setInterval(() => {
      if (this.latest !== undefined) process.stderr.write(`${this.render(this.latest, performance.now())}\n`);
    }, 1000);
    this.timer.unref();
  }

  update(p: VerifyProgress): void {
    this.latest = p;
  }

  finish(report: VerifyReport | undefined): void {
    clearInterval(this.timer);
    if (report !== undefined) process.stderr.write(`${this.render(report, performance.now())}\n`);
  }

  private render(p: VerifyProgress, now: number): string {
    const elapsed = now - this.started;
    const records = p.sourceRecords + p.destinationRecords;
    const rate = elapsed > 0 ? Math.round((records * 1000) / elapsed) : 0;
    const left = p.partitionsDone === 0 ? undefined : (elapsed * (p.partitionsTotal - p.partitionsDone)) / p.partitionsDone;
    return `verify: partitions ${p.partitionsDone}/${p.partitionsTotal} records source=${p.sourceRecords} destination=${p.destinationRecords} ${rate} records/s eta ${left === undefined ? '?' : formatDuration(left)}`;
  }
}
