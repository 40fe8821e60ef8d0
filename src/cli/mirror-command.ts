/**
 * `ferry mirror [options] <destination>`: `etcdctl make-mirror`'s flags with their meanings, plus
 * an exact resume, lease mirroring, safe merging of several sources and opt-in exact prefixes. Progress and status lines go to stderr; a
 * fatal error exits 1 with its code, a bad flag exits 2, SIGINT/SIGTERM stop cleanly with 0.
 */

import { parseArgs } from 'node:util';
import {
  DEFAULT_COMMAND_TIMEOUT_MS,
  type EtcdClusterOptions,
  Mirror,
  MirrorError,
  type MirrorLogger,
  type MirrorOptions,
  MirrorOptionsError,
  StatusReporter,
  describeCluster,
  resolveMirrorOptions,
} from '../mirror/index.js';

export const MIRROR_USAGE = `usage: ferry mirror [options] <destination endpoints>
  --endpoints HOSTS         source endpoints, comma-separated                [127.0.0.1:2379]
  --prefix P                key prefix to mirror                             ['']
  --dest-prefix P           destination prefix to mirror the prefix to       [the source prefix]
  --no-dest-prefix          mirror key-values to the root of the destination
  --max-txn-ops N           operations per destination transaction (≥ 4), the checkpoint included [128]
  --rev R                   skip the initial sync and watch from revision R + 1
  --cacert, --cert, --key FILE            source TLS
  --insecure-transport[=false]            without TLS files, plain gRPC (default true)
  --user NAME[:PASSWORD], --password PW   source authentication
  --dest-cacert, --dest-cert, --dest-key FILE   destination TLS
  --dest-insecure-transport[=false]       as above, for the destination
  --dest-user NAME[:PASSWORD], --dest-password PW   destination authentication
  --keep-leases             mirror leases: leased keys get a destination lease with the same TTL
  --exact-prefix            make the destination prefix equal the source's: delete keys there the
                            source lacks (needs a dedicated prefix no other mirror overlaps)
  --exclusive               refuse to run beside any mirror whose destination range overlaps
  --name NAME               the mirror's checkpoint name in the destination
                            [derived from the source cluster id and the prefixes]
  --command-timeout D       deadline per etcd request, e.g. 5s, 1500ms        [10s]
  --status-interval S       seconds between status lines while watching       [10]
  --quiet                   no progress bar or status lines`;

/** etcdctl booleans take `--flag=false`; node's parser does not, so those are rewritten first. */
const BOOLEANS = ['insecure-transport', 'dest-insecure-transport', 'no-dest-prefix', 'keep-leases', 'exact-prefix', 'exclusive', 'quiet'];

function duration(flag: string, v: string | undefined, dfltMs: number): number {
  if (v === undefined) return dfltMs;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(v);
  if (m === null) throw new MirrorOptionsError(`--${flag} must be a duration such as 5s or 1500ms, got '${v}'`);
  const unit = m[2] ?? 's';
  return Math.round(Number(m[1]) * (unit === 'ms' ? 1 : unit === 's' ? 1000 : 60_000));
}

function integer(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new MirrorOptionsError(`--${flag} must be a non-negative integer, got '${v}'`);
  return Number(v);
}

function credentials(userFlag: string, user: string | undefined, password: string | undefined): { user?: string; password?: string } {
  if (user === undefined) {
    if (password !== undefined) throw new MirrorOptionsError(`--${userFlag} is needed with its password`);
    return {};
  }
  const colon = user.indexOf(':');
  if (colon >= 0) {
    if (password !== undefined) throw new MirrorOptionsError(`--${userFlag} already carries a password: do not give one separately`);
    return { user: user.slice(0, colon), password: user.slice(colon + 1) };
  }
  // A daemon cannot prompt: the password comes with the flag or beside it.
  if (password === undefined) throw new MirrorOptionsError(`--${userFlag} ${user} needs a password: --${userFlag} ${user}:PASSWORD or the password flag`);
  return { user, password };
}

export interface ParsedMirrorArgs {
  options: MirrorOptions;
  statusIntervalMs: number;
  quiet: boolean;
}

export function parseMirrorArgs(argv: string[]): ParsedMirrorArgs {
  const booleans = new Map<string, boolean>();
  const args: string[] = [];
  for (const a of argv) {
    const m = /^--([a-z-]+)=(true|false)$/.exec(a);
    if (m !== null && BOOLEANS.includes(m[1]!)) booleans.set(m[1]!, m[2] === 'true');
    else args.push(a);
  }
  const { values, positionals } = parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: {
      endpoints: { type: 'string', multiple: true },
      prefix: { type: 'string' },
      'dest-prefix': { type: 'string' },
      'no-dest-prefix': { type: 'boolean' },
      'max-txn-ops': { type: 'string' },
      rev: { type: 'string' },
      cacert: { type: 'string' },
      cert: { type: 'string' },
      key: { type: 'string' },
      'insecure-transport': { type: 'boolean' },
      'insecure-skip-tls-verify': { type: 'boolean' },
      user: { type: 'string' },
      password: { type: 'string' },
      'dest-cacert': { type: 'string' },
      'dest-cert': { type: 'string' },
      'dest-key': { type: 'string' },
      'dest-insecure-transport': { type: 'boolean' },
      'dest-user': { type: 'string' },
      'dest-password': { type: 'string' },
      'keep-leases': { type: 'boolean' },
      'exact-prefix': { type: 'boolean' },
      exclusive: { type: 'boolean' },
      'allow-overlap': { type: 'boolean' },
      name: { type: 'string' },
      'command-timeout': { type: 'string' },
      'dial-timeout': { type: 'string' },
      'status-interval': { type: 'string' },
      quiet: { type: 'boolean' },
    },
  });
  const flag = (name: string): boolean | undefined => booleans.get(name) ?? (values[name as keyof typeof values] as boolean | undefined);
  if (positionals.length !== 1) throw new MirrorOptionsError(`give exactly one destination (its endpoints, comma-separated), got ${positionals.length}`);
  if (values['allow-overlap'] !== undefined) {
    throw new MirrorOptionsError('--allow-overlap is gone: mirrors may overlap by default (merging, conflicts counted); drop the flag, or give --exclusive to refuse overlap');
  }
  if (values['insecure-skip-tls-verify'] === true) throw new MirrorOptionsError('--insecure-skip-tls-verify is not supported: give the server CA with --cacert');
  // The gRPC client has no connection deadline of its own; a request's deadline covers connecting.
  if (values['dial-timeout'] !== undefined) throw new MirrorOptionsError('--dial-timeout is not supported: connecting is part of each request, whose deadline is --command-timeout');
  const commandTimeoutMs = duration('command-timeout', values['command-timeout'], DEFAULT_COMMAND_TIMEOUT_MS);
  // A zero deadline fails every request at once, forever; the bounds are mirrors.command-timeout's.
  if (commandTimeoutMs < 100 || commandTimeoutMs > 600_000) throw new MirrorOptionsError(`--command-timeout must be between 100ms and 10m, got '${values['command-timeout']}'`);
  const list = (v: string | string[] | undefined, dflt: string[]): string[] =>
    v === undefined ? dflt : (Array.isArray(v) ? v : [v]).flatMap((s) => s.split(',')).map((s) => s.trim()).filter((s) => s !== '');
  const source: EtcdClusterOptions = {
    endpoints: list(values.endpoints, ['127.0.0.1:2379']),
    cacert: values.cacert,
    cert: values.cert,
    key: values.key,
    insecureTransport: flag('insecure-transport') ?? true,
    ...credentials('user', values.user, values.password),
    commandTimeoutMs,
  };
  const destination: EtcdClusterOptions = {
    endpoints: list(positionals[0], []),
    cacert: values['dest-cacert'],
    cert: values['dest-cert'],
    key: values['dest-key'],
    insecureTransport: flag('dest-insecure-transport') ?? true,
    ...credentials('dest-user', values['dest-user'], values['dest-password']),
    commandTimeoutMs,
  };
  const options = resolveMirrorOptions(
    {
      name: values.name,
      prefix: values.prefix,
      'dest-prefix': values['dest-prefix'],
      'no-dest-prefix': flag('no-dest-prefix'),
      'max-txn-ops': integer('max-txn-ops', values['max-txn-ops']),
      rev: integer('rev', values.rev),
      'keep-leases': flag('keep-leases'),
      exclusive: flag('exclusive'),
      'exact-prefix': flag('exact-prefix'),
    },
    { source, destination },
    (k) => (k === 'destination' ? 'the destination argument' : `--${k}`),
  );
  const statusS = integer('status-interval', values['status-interval']) ?? 10;
  return { options, statusIntervalMs: Math.max(1, statusS) * 1000, quiet: flag('quiet') ?? false };
}

/** Human-readable log lines on stderr: `time level message key=value …`. */
export function stderrLog(): MirrorLogger {
  const line = (level: string) => (fields: Record<string, unknown>, msg: string) => {
    const kv = Object.entries(fields)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
      .join(' ');
    process.stderr.write(`${new Date().toISOString()} ${level} ${msg}${kv === '' ? '' : ` ${kv}`}\n`);
  };
  return { debug: () => undefined, info: line('info'), warn: line('warn'), error: line('error') };
}

export async function mirrorCommand(argv: string[]): Promise<number> {
  let parsed: ParsedMirrorArgs;
  try {
    parsed = parseMirrorArgs(argv);
  } catch (err) {
    const code = (err as { code?: string }).code ?? '';
    if (err instanceof MirrorOptionsError || code.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`ferry mirror: ${(err as Error).message}\n${MIRROR_USAGE}\n`);
      return 2;
    }
    throw err;
  }
  const { options, statusIntervalMs, quiet } = parsed;
  const log = stderrLog();
  let mirror: Mirror;
  try {
    mirror = new Mirror(options, log);
  } catch (err) {
    if (err instanceof MirrorOptionsError) {
      process.stderr.write(`ferry mirror: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  log.info({ name: options.name ?? undefined, source: describeCluster(options.source), prefix: options.prefix, destination: describeCluster(options.destination), destPrefix: options.destPrefix, mode: options.mode }, 'mirror starting');
  const tty = process.stderr.isTTY === true;
  let drawn = false;
  const reporter = new StatusReporter(
    () => mirror.name,
    mirror.stats,
    (text, kind) => {
      if (kind === 'progress' && tty) {
        process.stderr.write(`\r${text}\u001b[K`);
        drawn = true;
        return;
      }
      if (drawn) process.stderr.write('\n');
      drawn = false;
      process.stderr.write(`${new Date().toISOString()} ${text}\n`);
    },
    { progressMs: tty ? 250 : 1000, statusMs: statusIntervalMs },
  );
  mirror.on('synced', () => {
    if (drawn) process.stderr.write('\n');
    drawn = false;
  });
  if (!quiet) reporter.start();
  const stop = (): void => mirror.stop();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    await mirror.run();
    log.info({ name: mirror.name, appliedRevision: mirror.stats.appliedRevision }, 'mirror stopped');
    return 0;
  } catch (err) {
    if (drawn) process.stderr.write('\n');
    const e = err as MirrorError;
    process.stderr.write(`ferry mirror: ${e.code ?? 'ERR_MIRROR'}: ${e.message}\n`);
    return err instanceof MirrorOptionsError ? 2 : 1;
  } finally {
    reporter.stop();
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}
