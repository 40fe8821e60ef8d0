// The native addon itself (native/src/ferry_native.cc): it is built by `npm ci`, loads in the main
// thread and in worker threads, and each call does what systemd and the kernel expect.

import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ADDON_PATH, NotifyReceiver, PROBE, cpusAllowedOf, probe, type ProbeResult } from './helpers.js';

interface Addon {
  supported: boolean;
  notify(state: string): boolean;
  watchdogUsec(): number;
  setThreadAffinity(cpus: number[]): void;
  threadId(): number;
  limitMallocArenas(n: number): boolean;
}

function loadAddon(): Addon {
  // Fail with the remedy rather than a bare MODULE_NOT_FOUND.
  expect(existsSync(ADDON_PATH), `${ADDON_PATH} missing: npm ci (or node-gyp rebuild --directory native) did not build it`).toBe(true);
  return createRequire(import.meta.url)(ADDON_PATH) as Addon;
}

/** Runs the probe fixture in a worker thread of this very process (the addon is already loaded here). */
function inWorker(calls: unknown[][]): Promise<ProbeResult[]> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(PROBE, { workerData: { addonPath: ADDON_PATH, calls } });
    worker.once('message', (results: ProbeResult[]) => resolve(results));
    worker.once('error', reject);
  });
}

function probeValue(result: ProbeResult | undefined): unknown {
  if (result === undefined || !result.ok) throw new Error(`call failed: ${JSON.stringify(result)}`);
  return result.value;
}

describe('ferry_native.node', () => {
  it('is built and loads in the main thread', () => {
    const addon = loadAddon();
    expect(addon.supported).toBe(true);
    expect(typeof addon.notify).toBe('function');
    // The main thread's kernel thread id is the process id.
    expect(addon.threadId()).toBe(process.pid);
  });

  it('loads in several worker threads at once, next to the main thread (context-aware)', async () => {
    loadAddon();
    const results = await Promise.all([inWorker([['threadId']]), inWorker([['threadId']]), inWorker([['threadId']])]);
    const tids = results.map((r) => probeValue(r[0]));
    for (const tid of tids) {
      expect(typeof tid).toBe('number');
      expect(tid).not.toBe(process.pid);
    }
    expect(new Set(tids).size).toBe(3);
  });

  it('limitMallocArenas sets a cap between 1 and 1024 and refuses anything else', () => {
    const addon = loadAddon();
    expect(addon.limitMallocArenas(1)).toBe(true);
    for (const bad of [0, 1.5, -1, 1025, Number.NaN]) expect(() => addon.limitMallocArenas(bad)).toThrow(/n must be an integer between 1 and 1024/);
    expect(() => (addon.limitMallocArenas as (n: unknown) => boolean)('2')).toThrow(TypeError);
  });

  it('setThreadAffinity pins only the calling thread', async () => {
    const addon = loadAddon();
    const mainBefore = cpusAllowedOf(addon.threadId());
    const [setResult, allowed] = await inWorker([['setThreadAffinity', [0]], ['cpusAllowed']]);
    expect(setResult).toEqual({ ok: true, value: null });
    expect(probeValue(allowed)).toBe('0');
    expect(cpusAllowedOf(addon.threadId())).toBe(mainBefore);
  });

  it('setThreadAffinity rejects bad input and reports the kernel error by errno', async () => {
    const [empty, notNumbers, negative, offline] = await inWorker([
      ['setThreadAffinity', []],
      ['setThreadAffinity', ['0']],
      ['setThreadAffinity', [-1]],
      // No host has CPU 65535 online: the kernel refuses a mask with no usable CPU.
      ['setThreadAffinity', [65535]],
    ]);
    expect(empty).toMatchObject({ ok: false, name: 'TypeError' });
    expect(notNumbers).toMatchObject({ ok: false, name: 'TypeError' });
    expect(negative).toMatchObject({ ok: false, name: 'TypeError' });
    expect(offline).toMatchObject({ ok: false, code: 'EINVAL', message: 'EINVAL: invalid argument, sched_setaffinity' });
  });
});

describe('notify', () => {
  let dir: string;
  let receiver: NotifyReceiver | undefined;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ferry-notify-'));
  });
  afterEach(async () => {
    await receiver?.close();
    receiver = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it('sends one datagram to a socket in the file system, from the main thread', async () => {
    const socket = join(dir, 'notify.sock');
    receiver = await NotifyReceiver.start(socket);
    const out = await probe('main', [['notify', 'READY=1\nSTATUS=replicating']], { NOTIFY_SOCKET: socket });
    expect(out.results).toEqual([{ ok: true, value: true }]);
    expect(await receiver.next()).toEqual({ pid: out.pid, data: 'READY=1\nSTATUS=replicating' });
  });

  it('sends to an abstract socket (@name), from a worker thread, as the main process', async () => {
    const socket = `@ferry-test-${process.pid}-${Date.now()}`;
    receiver = await NotifyReceiver.start(socket);
    const out = await probe('worker', [['notify', 'WATCHDOG=1'], ['notify', 'STOPPING=1']], { NOTIFY_SOCKET: socket });
    expect(out.results).toEqual([{ ok: true, value: true }, { ok: true, value: true }]);
    // The sender's credentials carry the process id, whatever the thread: NotifyAccess=main suffices.
    expect(await receiver.next()).toEqual({ pid: out.pid, data: 'WATCHDOG=1' });
    expect(await receiver.next()).toEqual({ pid: out.pid, data: 'STOPPING=1' });
  });

  it('returns false when NOTIFY_SOCKET is unset or empty', async () => {
    expect((await probe('main', [['notify', 'READY=1']])).results).toEqual([{ ok: true, value: false }]);
    expect((await probe('main', [['notify', 'READY=1']], { NOTIFY_SOCKET: '' })).results).toEqual([{ ok: true, value: false }]);
  });

  it('throws errno errors when the datagram cannot be delivered', async () => {
    const missing = await probe('main', [['notify', 'READY=1']], { NOTIFY_SOCKET: join(dir, 'missing.sock') });
    expect(missing.results[0]).toMatchObject({ ok: false, code: 'ENOENT' });
    expect(missing.results[0]).toMatchObject({ message: `ENOENT: no such file or directory, sendto '${join(dir, 'missing.sock')}'` });
    const abstract = await probe('main', [['notify', 'READY=1']], { NOTIFY_SOCKET: `@ferry-test-nobody-${process.pid}` });
    expect(abstract.results[0]).toMatchObject({ ok: false, code: 'ECONNREFUSED' });
    const relative = await probe('main', [['notify', 'READY=1']], { NOTIFY_SOCKET: 'relative.sock' });
    expect(relative.results[0]).toMatchObject({ ok: false, code: 'EAFNOSUPPORT' });
    const tooLong = await probe('main', [['notify', 'READY=1']], { NOTIFY_SOCKET: `/${'x'.repeat(200)}` });
    expect(tooLong.results[0]).toMatchObject({ ok: false, code: 'ENAMETOOLONG' });
    const empty = await probe('main', [['notify', '']], { NOTIFY_SOCKET: join(dir, 'missing.sock') });
    expect(empty.results[0]).toMatchObject({ ok: false, name: 'TypeError' });
  });
});

describe('watchdogUsec', () => {
  it('is 0 without WATCHDOG_USEC', async () => {
    expect((await probe('main', [['watchdogUsec']])).results).toEqual([{ ok: true, value: 0 }]);
  });

  it('reads WATCHDOG_USEC, and honours WATCHDOG_PID only when it names this process', async () => {
    const out = await probe(
      'main',
      [['watchdogUsec'], ['setenv', 'WATCHDOG_PID', '$PID'], ['watchdogUsec'], ['setenv', 'WATCHDOG_PID', '1'], ['watchdogUsec']],
      { WATCHDOG_USEC: '30000000' },
    );
    expect(out.results.map(probeValue)).toEqual([30_000_000, null, 30_000_000, null, 0]);
  });

  it('throws ERR_SYSTEMD_ENVIRONMENT on malformed values', async () => {
    const malformed: Record<string, string>[] = [{ WATCHDOG_USEC: '30s' }, { WATCHDOG_USEC: '0' }, { WATCHDOG_USEC: '-5' }, { WATCHDOG_USEC: '100', WATCHDOG_PID: 'x' }];
    for (const env of malformed) {
      const out = await probe('main', [['watchdogUsec']], env);
      expect(out.results[0], JSON.stringify(env)).toMatchObject({ ok: false, code: 'ERR_SYSTEMD_ENVIRONMENT' });
    }
  });
});
