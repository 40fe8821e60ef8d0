/**
 * End to end: records for a namespace the destination lacks are answered 20 (namespace not found)
 * and parked as dead letters (whole: the LUT Ferry strips from its writes included); `ferry replay` with a configuration that maps the namespace writes
 * them, and the official client finds every key at its last version. Then: dry runs and filters
 * send nothing, a second replay is harmless, and a full dead-letter store (a cap of a few KiB, a
 * full disk: a 64 KiB tmpfs the test mounts, which needs root; a folder that cannot be created)
 * never stalls or crashes Ferry: the source still gets its answer.
 */

import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { XdrSource } from '../../src/cli/load/xdr-source.js';
import { useDestination } from '../support/destination.js';
import { FERRY_BIN, FerryProcess, testConfig } from '../support/ferry-process.js';
import { loadOptions } from '../support/load.js';
import { verifyFinalState } from '../support/verify-state.js';

const LOST = 'lost-ns';
const scratch = mkdtempSync(join(tmpdir(), 'ferry-dead-letters-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Resolve once `ready()` holds (the test's own timeout bounds it). */
async function until(ready: () => boolean): Promise<void> {
  while (!ready()) await new Promise((r) => setTimeout(r, 20));
}

/**
 * Ship changes for the missing namespace through `ferry`; every shipment must be answered 20, some
 * parked and the others dropped. Returns how many were parked.
 */
async function partlyParked(ferry: FerryProcess, over: Parameters<typeof loadOptions>[1]): Promise<number> {
  const stats = await new XdrSource(loadOptions(ferry.port, { namespace: LOST, probeEvery: 0, ...over })).run();
  expect(stats.byCode[20]).toBe(stats.ships);
  const written = await ferry.metric(`ferry_dead_letters_total{namespace="${LOST}",code="20"}`);
  const dropped = await ferry.metric('ferry_dead_letters_dropped_total');
  expect(written).toBeGreaterThan(0);
  expect(dropped).toBeGreaterThan(0);
  expect(written + dropped).toBe(stats.ships);
  return written;
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function replay(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [FERRY_BIN, 'replay', ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : ((err as { code?: number }).code ?? -1), stdout, stderr });
    });
  });
}

/** The dead letters in `dir`'s files, parsed, and the files. */
function deadLetters(dir: string): { files: string[]; letters: Array<Record<string, unknown>> } {
  const files = readdirSync(dir)
    .filter((f) => f.startsWith('dead-letters-'))
    .map((f) => join(dir, f));
  const letters = files.flatMap((f) =>
    readFileSync(f, 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>),
  );
  return { files, letters };
}

describe('dead letters and ferry replay', () => {
  const ctx = useDestination();

  it('parks records the destination rejects for good, and replay writes them once the namespace is mapped', async () => {
    const dir = join(scratch, 'parked');
    const set = `dl-${process.pid}`;
    // The LUT is stripped from destination writes; the dead letters still carry it.
    const ferry = await FerryProcess.start(testConfig(ctx.dest, { aerospike: { lut: 'strip', 'dead-letters': { path: dir } } }));
    let source: XdrSource;
    let shipped = 0;
    try {
      source = new XdrSource(loadOptions(ferry.port, { namespace: LOST, set, keys: 100, changes: 300, throttle: 500, object: 'I,S:12', probeEvery: 0, seed: 7 }));
      const stats = await source.run();
      shipped = stats.ships;
      // Throttled, so that most changes ship on their own (XDR ships only a key's latest version).
      expect(shipped).toBeGreaterThan(0);
      // The documented answer: the destination's code, passed back once the record is parked.
      expect(stats.byCode[20]).toBe(shipped);
      expect(stats.abandons).toBe(shipped);
      expect(stats.orderViolations).toBe(0);
      expect(await ferry.metric(`ferry_dead_letters_total{namespace="${LOST}",code="20"}`)).toBe(shipped);
      expect(await ferry.metric('ferry_dead_letters_dropped_total')).toBe(0);
      expect(await ferry.metric('ferry_replies_total{code="20"}')).toBe(shipped);
    } finally {
      expect(await ferry.stop()).toBe(0);
    }

    const { files, letters } = deadLetters(dir);
    expect(files.length).toBeGreaterThan(0);
    expect(letters).toHaveLength(shipped);
    for (const l of letters) {
      expect(l).toMatchObject({ msg: 'write', namespace: LOST, set, code: 20, message: 'namespace not found' });
      expect(typeof l['digest']).toBe('string');
      expect(typeof l['lut']).toBe('number');
      expect(typeof l['instance']).toBe('string');
      expect(Number.isNaN(Date.parse(l['at'] as string))).toBe(false);
      expect(typeof l['xdr']).toBe('string');
    }
    // Nothing reached the destination.
    expect(await ctx.client.exists(['test', set, 0])).toBe(false);

    const unmapped = join(scratch, 'unmapped.yml');
    writeFileSync(unmapped, stringify(testConfig(ctx.dest, { aerospike: { 'dead-letters': { path: join(scratch, 'again') } } })));
    const mapped = join(scratch, 'mapped.yml');
    writeFileSync(mapped, stringify(testConfig(ctx.dest, { aerospike: { 'namespace-mapping': { [LOST]: 'test' }, 'dead-letters': { path: join(scratch, 'again') } } })));

    // A dry run and filters that select nothing send nothing.
    const dry = await replay([...files, '--config', mapped, '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain(`read ${shipped} dead letters`);
    expect(dry.stdout).toContain(`dry run: would send ${shipped}`);
    for (const filter of [
      ['--code', '13'],
      ['--namespace', 'other'],
      ['--set', 'other'],
      ['--since', new Date(Date.now() + 3_600_000).toISOString()],
      ['--until', '2020-01-01T00:00:00Z'],
    ]) {
      const r = await replay([...files, '--config', mapped, ...filter]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`${shipped} filtered out`);
    }
    expect(await ctx.client.exists(['test', set, 0])).toBe(false);

    // The cause not fixed yet: every record fails again, into a new dead-letter file.
    const failed = await replay([...files, '--config', unmapped, '--namespace', LOST, '--code', '20']);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toContain('written: 0');
    expect(failed.stdout).toMatch(new RegExp(`failed again: ${shipped}\n\\s+${shipped} {2}code 20 \\(namespace not found\\)\n`));
    const again = /failed records written to (.+)\n/.exec(failed.stdout)?.[1];
    expect(again).toBeDefined();
    const refailed = readFileSync(again!, 'utf8').trim().split('\n');
    expect(refailed).toHaveLength(shipped);
    expect(JSON.parse(refailed[0]!)).toMatchObject({ namespace: LOST, code: 20 });

    // Mapped: every record is written, and every key holds its last version.
    const done = await replay([...files, '--config', mapped, '--since', '2020-01-01T00:00:00Z']);
    expect(done.stderr).toBe('');
    expect(done.code).toBe(0);
    expect(done.stdout).toMatch(new RegExp(`written: ${shipped}\n\\s+${shipped} {2}namespace ${LOST}`));
    expect(done.stdout).toContain('failed again: 0');
    const first = await verifyFinalState(ctx.client, source, 'test');
    expect(first.mismatches.slice(0, 5)).toEqual([]);
    const keys = new Set(letters.map((l) => l['digest'])).size;
    expect(first.checked).toBe(keys);

    // Replaying twice is harmless; the refailed file replays as well as the originals.
    const twice = await replay([again!, '--config', mapped]);
    expect(twice.code).toBe(0);
    expect(twice.stdout).toContain(`written: ${shipped}`);
    const second = await verifyFinalState(ctx.client, source, 'test');
    expect(second.mismatches.slice(0, 5)).toEqual([]);
    expect(second.checked).toBe(keys);

    // Under last-write-wins, an older version replayed after a newer one is turned away (27, done):
    // the dead letters replayed newest first leave every key at its last version all the same.
    const guarded = join(scratch, 'guarded.yml');
    writeFileSync(guarded, stringify(testConfig(ctx.dest, { aerospike: { 'namespace-mapping': { [LOST]: 'test' }, 'last-write-wins': { bin: 'ver' } } })));
    const reversed = join(scratch, 'reversed.jsonl');
    writeFileSync(reversed, `${letters.map((l) => JSON.stringify(l)).reverse().join('\n')}\n`);
    expect(shipped).toBeGreaterThan(keys);
    const stale = await replay([reversed, '--config', guarded]);
    expect(stale.code).toBe(0);
    expect(stale.stdout).toContain(`written: ${keys}`);
    expect(stale.stdout).toMatch(new RegExp(`already done: ${shipped - keys}\n\\s+${shipped - keys} {2}code 27`));
    const third = await verifyFinalState(ctx.client, source, 'test');
    expect(third.mismatches.slice(0, 5)).toEqual([]);
  });

  it('a full store drops new dead letters, counted and reported, and the source is answered all the same', async () => {
    const dir = join(scratch, 'capped');
    const ferry = await FerryProcess.start(
      testConfig(ctx.dest, { service: { 'worker-threads': 1 }, aerospike: { 'dead-letters': { path: dir, 'max-bytes': 4096, 'max-files': 2 } } }),
    );
    try {
      const written = await partlyParked(ferry, { set: `dl-cap-${process.pid}`, keys: 50, changes: 200, object: 'S:300', seed: 8 });
      const { files, letters } = deadLetters(dir);
      expect(files).toHaveLength(2);
      for (const f of files) expect(statSync(f).size).toBeLessThanOrEqual(4096);
      expect(letters).toHaveLength(written);
      await until(() => ferry.logs.some((l) => l.msg === 'worker problem' && String(l['reason']).includes('dead-letter store full')));
      // Still ready (traffic flows), with the full store listed as a warning.
      const ready = await fetch(`http://127.0.0.1:${ferry.managePort}/health/ready`);
      expect(ready.status).toBe(200);
      const body = (await ready.json()) as { warnings?: string[] };
      expect(body.warnings?.some((w) => w.includes('dead-letter store full'))).toBe(true);
    } finally {
      expect(await ferry.stop()).toBe(0);
    }
  });

  it('a folder that cannot be made drops dead letters without stalling', async () => {
    const blocker = join(scratch, 'a-file');
    writeFileSync(blocker, 'not a folder\n');
    const ferry = await FerryProcess.start(testConfig(ctx.dest, { aerospike: { 'dead-letters': { path: join(blocker, 'dead-letters') } } }));
    try {
      const source = new XdrSource(loadOptions(ferry.port, { namespace: LOST, set: `dl-nodir-${process.pid}`, keys: 20, changes: 100, object: 'I', probeEvery: 0, seed: 9 }));
      const stats = await source.run();
      expect(stats.byCode[20]).toBe(stats.ships);
      expect(await ferry.metric('ferry_dead_letters_dropped_total')).toBe(stats.ships);
      expect(await ferry.metric(`ferry_dead_letters_total{namespace="${LOST}",code="20"}`)).toBe(0);
      await until(() => ferry.logs.some((l) => l.msg === 'worker problem' && l['code'] === 'ERR_DEAD_LETTERS' && String(l['reason']).includes('cannot create')));
    } finally {
      expect(await ferry.stop()).toBe(0);
    }
  });

  it('a full disk: what does not fit is dropped, counted and reported, and no half record stays', async () => {
    const disk = join(scratch, 'tiny-disk');
    mkdirSync(disk);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', disk]);
    try {
      const ferry = await FerryProcess.start(testConfig(ctx.dest, { service: { 'worker-threads': 1 }, aerospike: { 'dead-letters': { path: disk } } }));
      try {
        const written = await partlyParked(ferry, { set: `dl-full-${process.pid}`, keys: 60, changes: 60, workload: 'insert', object: 'S:3000', seed: 10 });
        // Every line on the disk is a whole dead letter.
        expect(deadLetters(disk).letters).toHaveLength(written);
        await until(() => ferry.logs.some((l) => l.msg === 'worker problem' && l['code'] === 'ERR_DEAD_LETTERS' && String(l['reason']).includes('ENOSPC')));
      } finally {
        expect(await ferry.stop()).toBe(0);
      }
    } finally {
      execFileSync('umount', [disk]);
    }
  });
});
