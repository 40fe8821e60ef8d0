/**
 * `ferry replay FILE... --config CFG [filters] [--dry-run]`: sends dead letters again into the
 * configured destination, once the cause is fixed (a namespace created or mapped, a limit raised).
 *
 *   files ─▶ parked records ─▶ filters ─▶ ReplaySender (the daemon's write path) ─▶ report
 *                                             └─ failed again ─▶ a new dead-letter file
 *
 * Replaying twice is harmless: a write of the same record is idempotent, and under last-write-wins
 * the guard keeps a replayed older version from replacing a newer one (answered 27, counted done).
 * Exit 0 when every selected record was written, 1 when some were not (failed again, or a file
 * held lines that are not dead letters), 2 for bad input (options, configuration, unreadable file).
 */

import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { loadConfigFile } from '../config/index.js';
import { changeRecordJson } from '../destination/change-record.js';
import { deadLetterOf, type ParkedRecord } from '../destination/dead-letter-record.js';
import { readDeadLetterFile } from '../destination/dead-letter-file.js';
import { ResultCode, SourceAction, resultCodeText, sourceActionOf } from '../protocol/index.js';
import { Outcome } from '../threads/index.js';
import { ReplaySender } from './replay-sender.js';
import { UsageError } from './xdr-load-command.js';

export const REPLAY_USAGE = `usage: ferry replay FILE... --config CFG [options]
  sends the dead letters in FILE... (written by ferry run, aerospike.dead-letters) again into the
  destination CFG configures, with its namespace mapping and write policy as they are now
  --namespace N    only records of source namespace N (repeatable)
  --set S          only records of set S (repeatable)
  --code C         only records parked with result code C (repeatable)
  --since T        only records parked at or after T (ISO 8601 time, or Unix ms)
  --until T        only records parked before T
  --dry-run        read and filter, report what would be sent, send nothing
  records that fail again go to a new dead-letter file, whose path is printed;
  exit 0: all written; 1: some not; 2: bad input`;

/** Progress on stderr once a replay has taken this long. */
const PROGRESS_AFTER_MS = 1000;
const PROGRESS_EVERY_MS = 1000;

const OUTCOME_NAMES: Record<number, string> = {
  [Outcome.ConnectionLost]: 'connection lost',
  [Outcome.Timeout]: 'timeout',
  [Outcome.NoConnection]: 'no connection',
};

interface Filters {
  namespaces: Set<string> | null;
  sets: Set<string> | null;
  codes: Set<number> | null;
  since: number;
  until: number;
}

export async function replayCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      namespace: { type: 'string', multiple: true },
      set: { type: 'string', multiple: true },
      code: { type: 'string', multiple: true },
      since: { type: 'string' },
      until: { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
    },
  });
  if (positionals.length === 0) throw new UsageError(`replay: name at least one dead-letter file\n${REPLAY_USAGE}`);
  if (values.config === undefined) throw new UsageError(`replay: --config is required (the destination to replay into)\n${REPLAY_USAGE}`);
  const filters: Filters = {
    namespaces: values.namespace === undefined ? null : new Set(values.namespace),
    sets: values.set === undefined ? null : new Set(values.set),
    codes: values.code === undefined ? null : new Set(values.code.map((c) => codeOf(c))),
    since: values.since === undefined ? Number.NEGATIVE_INFINITY : timeOf('--since', values.since),
    until: values.until === undefined ? Number.POSITIVE_INFINITY : timeOf('--until', values.until),
  };
  const config = loadConfigFile(values.config);
  const d = config.destination;
  if (d.kind !== 'aerospike') throw new UsageError(`replay: ${values.config} configures no aerospike destination`);

  let bad = 0;
  const all: ParkedRecord[] = [];
  for (const file of positionals) {
    let read: ReturnType<typeof readDeadLetterFile>;
    try {
      read = readDeadLetterFile(file);
    } catch (err) {
      throw new UsageError(`replay: cannot read ${file}: ${(err as Error).message}`);
    }
    bad += read.bad;
    for (const line of read.firstBad) process.stderr.write(`ferry replay: not a dead letter: ${line}\n`);
    for (const r of read.records) all.push(r);
  }
  const selected = all.filter((r) => matches(r, filters));
  const out = process.stdout;
  out.write(`read ${all.length} dead letter${all.length === 1 ? '' : 's'} from ${positionals.length} file${positionals.length === 1 ? '' : 's'}${bad > 0 ? ` (${bad} not dead letters)` : ''}; ${all.length - selected.length} filtered out\n`);
  if (values['dry-run']) {
    out.write(`dry run: would send ${selected.length}\n${tally(selected.map((r) => `namespace ${r.namespace}, code ${r.code}`))}`);
    return bad > 0 ? 1 : 0;
  }
  if (selected.length === 0) return bad > 0 ? 1 : 0;

  const log = pino({ level: 'error', base: { name: 'ferry-replay' } }, pino.destination(2));
  const sender = new ReplaySender(d, log);
  try {
    if (!(await sender.connect(config.service.startupTimeoutMs))) {
      process.stderr.write(`ferry replay: no destination node answered (aerospike.seeds: ${d.seeds.map((x) => `${x.host}:${x.port}`).join(', ')})\n`);
      return 1;
    }
    const outcomes = await withProgress(sender, selected.length, () => sender.send(selected));
    const written: string[] = [];
    const done: string[] = [];
    const failed: Array<{ record: ParkedRecord; code: number }> = [];
    selected.forEach((r, i) => {
      const o = outcomes[i]!;
      if (o === ResultCode.Ok) written.push(`namespace ${r.namespace}`);
      else if (o === ResultCode.FilteredOut || (o < 256 && sourceActionOf(o) === SourceAction.Done)) done.push(`code ${o} (${o === ResultCode.FilteredOut ? 'the destination holds a newer version' : 'nothing to do'})`);
      else failed.push({ record: r, code: o });
    });
    out.write(`written: ${written.length}\n${tally(written)}`);
    if (done.length > 0) out.write(`already done: ${done.length}\n${tally(done)}`);
    out.write(`failed again: ${failed.length}\n${tally(failed.map((f) => `code ${f.code} (${OUTCOME_NAMES[f.code] ?? resultCodeText(f.code)})`))}`);
    if (failed.length > 0) {
      const dir = d.deadLetters?.path ?? join('data', 'dead-letters');
      const file = writeFailures(dir, d.deadLetters?.instance ?? 'replay', failed);
      out.write(`failed records written to ${file}\n`);
    }
    return failed.length > 0 || bad > 0 ? 1 : 0;
  } finally {
    await sender.close();
  }
}

function codeOf(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0 || n > 255) throw new UsageError(`replay: --code ${text}: a result code is an integer 0–255`);
  return n;
}

function timeOf(option: string, text: string): number {
  const ms = /^\d+$/.test(text) ? Number(text) : Date.parse(text);
  if (Number.isNaN(ms)) throw new UsageError(`replay: ${option} ${text}: give an ISO 8601 time (2026-11-29T12:00:00Z) or Unix ms`);
  return ms;
}

function matches(r: ParkedRecord, f: Filters): boolean {
  if (f.namespaces !== null && !f.namespaces.has(r.namespace)) return false;
  if (f.sets !== null && (r.set === null || !f.sets.has(r.set))) return false;
  if (f.codes !== null && !f.codes.has(r.code)) return false;
  return r.at >= f.since && r.at < f.until;
}

/** "  3  namespace test" lines, most first. */
function tally(keys: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const k of keys) counts.set(k, (counts.get(k) ?? 0) + 1);
  return [...counts.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `  ${String(n).padStart(8)}  ${k}\n`)
    .join('');
}

/** Records that failed again, as dead letters in a new file of `dir`; returns its path. */
function writeFailures(dir: string, instance: string, failed: ReadonlyArray<{ record: ParkedRecord; code: number }>): string {
  mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const file = join(dir, `replay-failed-${stamp}.jsonl`);
  const fd = openSync(file, 'wx', 0o640);
  try {
    const now = Date.now();
    const text = failed.map((f) => `${changeRecordJson(deadLetterOf(f.record.xdr, f.code, instance, -1, now))}\n`).join('');
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
  return file;
}

/** Run `work`, showing progress on stderr (records, rate, ETA) once it takes over a second. */
async function withProgress<T>(sender: ReplaySender, total: number, work: () => Promise<T>): Promise<T> {
  const started = performance.now();
  let answered = 0;
  sender.onAnswer = (n) => {
    answered = n;
  };
  const tty = process.stderr.isTTY === true;
  let shown = false;
  const timer = setInterval(() => {
    const elapsed = performance.now() - started;
    if (elapsed < PROGRESS_AFTER_MS) return;
    const rate = answered / (elapsed / 1000);
    const eta = rate > 0 ? Math.ceil((total - answered) / rate) : 0;
    const pct = Math.floor((answered / total) * 100);
    const bar = '#'.repeat(Math.floor(pct / 5)).padEnd(20, '.');
    process.stderr.write(`${tty ? '\r' : ''}replay [${bar}] ${answered}/${total} ${Math.round(rate)}/s ETA ${eta}s${tty ? '' : '\n'}`);
    shown = true;
  }, PROGRESS_EVERY_MS);
  try {
    return await work();
  } finally {
    clearInterval(timer);
    if (shown && tty) process.stderr.write('\n');
  }
}
