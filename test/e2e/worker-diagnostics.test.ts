/**
 * A failure inside a worker thread reaches the main thread: logged once with the worker id and
 * the reason, counted, and reflected in /health/ready until it clears.
 */

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { FerryProcess, type LogLine } from '../support/ferry-process.js';

let ferry: FerryProcess | null = null;

afterEach(async () => {
  await ferry?.stop('SIGKILL');
  ferry = null;
});

function fileConfig(path: string): Record<string, unknown> {
  return {
    service: { port: 0, address: '127.0.0.1', manage: { address: '127.0.0.1', port: 0 } },
    file: { path },
    logging: { levels: { root: 'info' } },
  };
}

async function until(cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const problems = (f: FerryProcess, worker: number): LogLine[] => f.logs.filter((l) => l.msg === 'worker problem' && l['worker'] === worker);

async function readiness(f: FerryProcess): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${f.managePort}/health/ready`);
  return { status: res.status, body: await res.text() };
}

it('a file destination that cannot be opened is logged once by main with the worker id, counted, and keeps Ferry unready', async () => {
  const path = '/proc/ferry-no-such-dir/changes.jsonl';
  ferry = await FerryProcess.start(fileConfig(path));
  const f = ferry;
  // The file destination runs one worker (one file, one writer).
  await until(() => problems(f, 0).length > 0, 15_000, 'the worker to report the problem');
  const line = problems(f, 0)[0]!;
  expect(line['code']).toBe('ERR_DESTINATION_OPEN');
  expect(String(line['reason'])).toContain(path);
  expect(String(line['reason'])).toMatch(/ENOENT|EACCES|EPERM/);
  const ready = await readiness(f);
  expect(ready.status).toBe(503);
  expect(ready.body).toContain(`worker 0: cannot open ${path}`);
  // The worker keeps retrying every second; the same problem is not logged again.
  await until(async () => (await f.metric('ferry_worker_problems_active{worker="0"}')) === 1, 5000, 'the active-problem gauge');
  await new Promise((r) => setTimeout(r, 2500));
  expect(problems(f, 0)).toHaveLength(1);
  expect(await f.metric('ferry_worker_problems_total{worker="0",code="ERR_DESTINATION_OPEN"}')).toBe(1);
});

it('the problem clears when the file can be opened again, and Ferry becomes ready', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-diag-'));
  // A plain file where the destination's folder should be: the folder cannot be made.
  const blocker = join(dir, 'out');
  writeFileSync(blocker, 'not a folder');
  ferry = await FerryProcess.start(fileConfig(join(blocker, 'changes.jsonl')));
  const f = ferry;
  await until(() => problems(f, 0).length > 0, 15_000, 'the problem to be reported');
  expect(String(problems(f, 0)[0]!['reason'])).toMatch(/ENOTDIR|EEXIST/);
  expect((await readiness(f)).status).toBe(503);
  rmSync(blocker);
  await until(() => f.logs.some((l) => l.msg === 'worker problem cleared' && l['worker'] === 0), 15_000, 'the problem to clear');
  await until(async () => (await readiness(f)).status === 200, 15_000, 'readiness');
  expect(await f.metric('ferry_worker_problems_active{worker="0"}')).toBe(0);
  rmSync(dir, { recursive: true, force: true });
});
