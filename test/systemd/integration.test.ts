// src/management/systemd.ts: the native integration, the pure-TypeScript fallback, and Watchdog.
//
// These tests set NOTIFY_SOCKET and WATCHDOG_* in process.env. In the main thread of a process (vitest's
// default "forks" pool) that changes the C environment too, which is what the native addon reads.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMainThread } from 'node:worker_threads';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SystemdError, Watchdog, loadSystemdIntegration, watchdogUsecFromEnvironment, type SystemdIntegration } from '../../src/management/systemd.js';
import { NotifyReceiver, cpusAllowedOf, findOnPath, parseCpuList } from './helpers.js';

const SYSTEMD_VARIABLES = ['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID'] as const;

let dir: string;
let receiver: NotifyReceiver | undefined;
let savedEnv: Partial<Record<string, string>>;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-systemd-'));
  savedEnv = { PATH: process.env['PATH'] };
  for (const name of SYSTEMD_VARIABLES) {
    savedEnv[name] = process.env[name];
    delete process.env[name];
  }
});

afterEach(async () => {
  for (const [name, value] of Object.entries(savedEnv)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  await receiver?.close();
  receiver = undefined;
  rmSync(dir, { recursive: true, force: true });
});

async function listen(name = join(dir, 'notify.sock')): Promise<NotifyReceiver> {
  receiver = await NotifyReceiver.start(name);
  process.env['NOTIFY_SOCKET'] = name;
  return receiver;
}

describe('loadSystemdIntegration (native)', () => {
  it('uses the addon when it is built', () => {
    const systemd = loadSystemdIntegration();
    expect({ native: systemd.native, reason: systemd.reason }).toEqual({ native: true, reason: 'native addon' });
  });

  it('notifies from this process through the addon', async () => {
    expect(isMainThread, 'process.env reaches the C environment only from a main thread').toBe(true);
    const systemd = loadSystemdIntegration();
    expect(systemd.notify('READY=1')).toBe(false);
    const socket = await listen(`@ferry-test-${process.pid}-${Date.now()}`);
    expect(systemd.notify('READY=1\nSTATUS=listening on 8901')).toBe(true);
    expect(await socket.next()).toEqual({ pid: process.pid, data: 'READY=1\nSTATUS=listening on 8901' });
  });

  it('wraps delivery failures in SystemdError, keeping the errno error as the cause', () => {
    process.env['NOTIFY_SOCKET'] = join(dir, 'nobody.sock');
    const systemd = loadSystemdIntegration();
    let thrown: unknown;
    try {
      systemd.notify('READY=1');
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(SystemdError);
    expect(thrown).toMatchObject({ code: 'ERR_SYSTEMD', retriable: false, cause: { code: 'ENOENT' } });
    expect(() => systemd.notify('')).toThrow(TypeError);
  });

  it('setThreadAffinity returns true, and throws SystemdError when the kernel refuses', () => {
    const systemd = loadSystemdIntegration();
    // Re-apply this thread's own mask: the call is real, but nothing else in this process moves.
    const allowed = cpusAllowedOf(process.pid);
    expect(systemd.setThreadAffinity(parseCpuList(allowed))).toBe(true);
    expect(cpusAllowedOf(process.pid)).toBe(allowed);
    expect(() => systemd.setThreadAffinity([65535])).toThrow(SystemdError);
    expect(() => systemd.setThreadAffinity([])).toThrow(TypeError);
  });

  it('watchdogUsec reads the environment at each call', () => {
    const systemd = loadSystemdIntegration();
    expect(systemd.watchdogUsec()).toBe(0);
    process.env['WATCHDOG_USEC'] = '30000000';
    process.env['WATCHDOG_PID'] = String(process.pid);
    expect(systemd.watchdogUsec()).toBe(30_000_000);
    process.env['WATCHDOG_PID'] = String(process.pid + 1);
    expect(systemd.watchdogUsec()).toBe(0);
    process.env['WATCHDOG_PID'] = 'nope';
    expect(() => systemd.watchdogUsec()).toThrow(SystemdError);
  });

  it('falls back when the addon cannot load, and says why', () => {
    const systemd = loadSystemdIntegration({ addonPath: join(dir, 'absent.node') });
    expect(systemd.native).toBe(false);
    expect(systemd.reason).toMatch(/^native addon not loaded: Cannot find module/);
  });
});

describe('loadSystemdIntegration({ forceFallback: true })', () => {
  const systemdNotify = findOnPath('systemd-notify');

  it('reports itself as the fallback', () => {
    const systemd = loadSystemdIntegration({ forceFallback: true });
    expect({ native: systemd.native, reason: systemd.reason }).toEqual({ native: false, reason: 'forced' });
  });

  it('returns false when NOTIFY_SOCKET is unset', () => {
    expect(loadSystemdIntegration({ forceFallback: true }).notify('READY=1')).toBe(false);
  });

  it(systemdNotify !== undefined ? 'notifies through systemd-notify' : 'cannot notify: systemd-notify is not on PATH', async () => {
    const socket = await listen();
    const systemd = loadSystemdIntegration({ forceFallback: true });
    if (systemdNotify === undefined) {
      // The documented behaviour without systemd-notify: nothing is sent.
      expect(systemd.notify('READY=1')).toBe(false);
      return;
    }
    expect(systemd.notify('READY=1\nSTATUS=fallback')).toBe(true);
    // systemd-notify adds MAINPID= for --pid, and (systemd 252 does) may follow with a BARRIER=1
    // datagram, waiting for the manager to read both; the state itself comes as one datagram.
    const first = await socket.next();
    expect(first.data.split('\n').sort()).toEqual([`MAINPID=${process.pid}`, 'READY=1', 'STATUS=fallback']);
  });

  it('returns false when NOTIFY_SOCKET is set but systemd-notify is not on PATH', async () => {
    await listen();
    process.env['PATH'] = dir;
    expect(loadSystemdIntegration({ forceFallback: true }).notify('READY=1')).toBe(false);
  });

  it(systemdNotify !== undefined ? 'throws SystemdError with systemd-notify’s message when delivery fails' : 'sends nothing to a missing socket without systemd-notify', () => {
    process.env['NOTIFY_SOCKET'] = join(dir, 'nobody.sock');
    const systemd = loadSystemdIntegration({ forceFallback: true });
    if (systemdNotify === undefined) {
      expect(systemd.notify('READY=1')).toBe(false);
      return;
    }
    expect(() => systemd.notify('READY=1')).toThrow(SystemdError);
    expect(() => systemd.notify('READY=1')).toThrow(/systemd-notify: Failed to notify init system: No such file or directory/);
  });

  it('setThreadAffinity reports unsupported, after checking its argument', () => {
    const systemd = loadSystemdIntegration({ forceFallback: true });
    expect(systemd.setThreadAffinity([0])).toBe(false);
    expect(() => systemd.setThreadAffinity([-1])).toThrow(TypeError);
  });

  it('watchdogUsec follows the same rules as the addon', () => {
    const systemd = loadSystemdIntegration({ forceFallback: true });
    expect(systemd.watchdogUsec()).toBe(0);
    process.env['WATCHDOG_USEC'] = '2000000';
    expect(systemd.watchdogUsec()).toBe(2_000_000);
    const pid = process.pid;
    expect(watchdogUsecFromEnvironment({ WATCHDOG_USEC: '5', WATCHDOG_PID: String(pid) })).toBe(5);
    expect(watchdogUsecFromEnvironment({ WATCHDOG_USEC: '5', WATCHDOG_PID: String(pid + 1) })).toBe(0);
    for (const env of [{ WATCHDOG_USEC: '30s' }, { WATCHDOG_USEC: '0' }, { WATCHDOG_USEC: '-1' }, { WATCHDOG_USEC: '5', WATCHDOG_PID: '0' }]) {
      expect(() => watchdogUsecFromEnvironment(env), JSON.stringify(env)).toThrow(SystemdError);
    }
  });
});

describe('Watchdog', () => {
  /** A stand-in integration that records what would be sent. */
  function recorder(usec = 0): Pick<SystemdIntegration, 'notify' | 'watchdogUsec'> & { sent: string[] } {
    const sent: string[] = [];
    return { sent, notify: (state) => {
        sent.push(state);
        return true;
      }, watchdogUsec: () => usec };
  }

  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('pings at start and every interval only while healthy() holds', () => {
    const systemd = recorder();
    let healthy = true;
    const watchdog = new Watchdog(systemd, { intervalMs: 1_000, healthy: () => healthy });
    watchdog.start();
    expect(systemd.sent).toEqual(['WATCHDOG=1']);
    vi.advanceTimersByTime(3_000);
    expect(systemd.sent).toHaveLength(4);
    healthy = false;
    vi.advanceTimersByTime(5_000);
    expect(systemd.sent).toHaveLength(4);
    expect(watchdog.skipped).toBe(5);
    healthy = true;
    vi.advanceTimersByTime(1_000);
    expect(systemd.sent).toHaveLength(5);
    expect(watchdog.pings).toBe(5);
    watchdog.stop();
    vi.advanceTimersByTime(10_000);
    expect(systemd.sent).toHaveLength(5);
    expect(watchdog.running).toBe(false);
  });

  it('start() twice does not double the pings', () => {
    const systemd = recorder();
    const watchdog = new Watchdog(systemd, { intervalMs: 1_000, healthy: () => true });
    watchdog.start();
    watchdog.start();
    vi.advanceTimersByTime(1_000);
    expect(systemd.sent).toHaveLength(2);
    watchdog.stop();
  });

  it('reports failed pings and throwing health checks to onError, and keeps going', () => {
    const errors: Error[] = [];
    let fail = true;
    const systemd = {
      notify: (): boolean => {
        if (fail) throw new SystemdError('cannot notify systemd: EAGAIN', { retriable: true });
        return true;
      },
    };
    let healthCheckThrows = false;
    const watchdog = new Watchdog(systemd, {
      intervalMs: 100,
      healthy: () => {
        if (healthCheckThrows) throw new Error('health check broke');
        return true;
      },
      onError: (error) => errors.push(error),
    });
    watchdog.start();
    expect(errors.map((e) => e.message)).toEqual(['cannot notify systemd: EAGAIN']);
    fail = false;
    vi.advanceTimersByTime(100);
    expect(watchdog.pings).toBe(1);
    healthCheckThrows = true;
    vi.advanceTimersByTime(100);
    expect(errors.map((e) => e.message)).toEqual(['cannot notify systemd: EAGAIN', 'health check broke']);
    expect(watchdog.pings).toBe(1);
    expect(watchdog.skipped).toBe(1);
    watchdog.stop();
  });

  it('fromEnvironment pings at half of WATCHDOG_USEC, and is undefined when the watchdog is off', () => {
    expect(Watchdog.fromEnvironment(recorder(0), () => true)).toBeUndefined();
    const systemd = recorder(30_000_000);
    const watchdog = Watchdog.fromEnvironment(systemd, () => true);
    expect(watchdog).toBeInstanceOf(Watchdog);
    watchdog?.start();
    vi.advanceTimersByTime(14_999);
    expect(systemd.sent).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(systemd.sent).toHaveLength(2);
    watchdog?.stop();
  });

  it('rejects a non-positive interval', () => {
    expect(() => new Watchdog(recorder(), { intervalMs: 0, healthy: () => true })).toThrow(TypeError);
  });
});

describe('Watchdog over the real notify socket', () => {
  it('delivers WATCHDOG=1 datagrams from this process', async () => {
    const socket = await listen(`@ferry-test-watchdog-${process.pid}-${Date.now()}`);
    const watchdog = new Watchdog(loadSystemdIntegration(), { intervalMs: 10, healthy: () => true });
    watchdog.start();
    expect(await socket.next()).toEqual({ pid: process.pid, data: 'WATCHDOG=1' });
    expect(await socket.next()).toEqual({ pid: process.pid, data: 'WATCHDOG=1' });
    watchdog.stop();
  });
});
