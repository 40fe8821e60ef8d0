/**
 * systemd integration: readiness and status notifications (sd_notify), the watchdog, and per-thread
 * CPU affinity.
 *
 * Two implementations behind one interface:
 *
 *   native    native/build/Release/ferry_native.node, built by `npm ci` (see native/binding.gyp).
 *             notify() sends the datagram from this process, so the unit needs only
 *             NotifyAccess=main, from any thread. setThreadAffinity() pins the calling thread.
 *   fallback  used when the addon is not built or cannot load. notify() runs `systemd-notify`, a
 *             child process, so the unit needs NotifyAccess=all; without systemd-notify on PATH
 *             nothing is sent. setThreadAffinity() does nothing and returns false.
 *
 * `integration.native` and `integration.reason` say which one is in use and why; log them at
 * start-up. systemd's variables (NOTIFY_SOCKET, WATCHDOG_USEC, WATCHDOG_PID) are read at each call,
 * not at load, so tests and re-executions see the environment as it is.
 */

import { spawnSync } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { FerryError } from '../errors.js';
import { ADDON_PATH, loadAddon } from '../native-addon.js';

/** systemd-notify waits (BARRIER=1) up to 5 s for the manager to take its message; allow a little more. */
const SYSTEMD_NOTIFY_TIMEOUT_MS = 6_000;

export class SystemdError extends FerryError {
  readonly code = 'ERR_SYSTEMD';
  /** True when trying again later may succeed (the manager's queue was full). */
  readonly retriable: boolean;
  constructor(message: string, options: { cause?: unknown; retriable?: boolean } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SystemdError';
    this.retriable = options.retriable ?? false;
  }
}

export interface SystemdIntegration {
  /** True when the native addon is in use; false for the pure-TypeScript fallback. */
  readonly native: boolean;
  /** Why this implementation is in use: 'native addon', 'forced', or the addon's load error. */
  readonly reason: string;
  /**
   * Sends `state` (e.g. "READY=1", "STATUS=…", "STOPPING=1", "WATCHDOG=1"; several separated by
   * "\n") to the service manager. Returns false when nothing was sent because there is nowhere or
   * no way to send it (NOTIFY_SOCKET unset; fallback without systemd-notify). Throws SystemdError
   * when a send was attempted and failed.
   */
  notify(state: string): boolean;
  /**
   * Pins the calling thread (only that thread) to `cpus`. Returns false when unsupported (the
   * fallback); throws SystemdError when the kernel refuses (e.g. EINVAL: none of them allowed).
   */
  setThreadAffinity(cpus: number[]): boolean;
  /** The watchdog interval systemd expects pings within, in µs; 0 when the watchdog is off for us. */
  watchdogUsec(): number;
}

export interface LoadOptions {
  /** Use the pure-TypeScript fallback even when the addon loads. */
  forceFallback?: boolean;
  /** The addon's path; defaults to native/build/Release/ferry_native.node in this package. */
  addonPath?: string;
}

/** Loads the native integration, or the fallback when the addon cannot load. Never throws. */
export function loadSystemdIntegration(options: LoadOptions = {}): SystemdIntegration {
  if (options.forceFallback === true) return new FallbackIntegration('forced');
  const path = options.addonPath ?? ADDON_PATH;
  const loaded = loadAddon(path);
  if ('reason' in loaded) return new FallbackIntegration(loaded.reason);
  const addon = loaded.exports;
  if (!isNativeAddon(addon)) return new FallbackIntegration(`native addon at ${path} has an unexpected shape`);
  if (!addon.supported) return new FallbackIntegration('native addon unsupported on this platform');
  return new NativeIntegration(addon);
}

/** What ferry_native.node exports (native/src/ferry_native.cc). */
interface NativeAddon {
  readonly supported: boolean;
  notify(state: string): boolean;
  watchdogUsec(): number;
  setThreadAffinity(cpus: number[]): void;
  threadId(): number;
}

function isNativeAddon(value: unknown): value is NativeAddon {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Record<string, unknown>;
  return (
    typeof candidate['supported'] === 'boolean' &&
    typeof candidate['notify'] === 'function' &&
    typeof candidate['watchdogUsec'] === 'function' &&
    typeof candidate['setThreadAffinity'] === 'function' &&
    typeof candidate['threadId'] === 'function'
  );
}

class NativeIntegration implements SystemdIntegration {
  readonly native = true;
  readonly reason = 'native addon';

  constructor(private readonly addon: NativeAddon) {}

  notify(state: string): boolean {
    checkState(state);
    try {
      return this.addon.notify(state);
    } catch (error) {
      throw new SystemdError(`cannot notify systemd: ${messageOf(error)}`, {
        cause: error,
        retriable: errnoCodeOf(error) === 'EAGAIN',
      });
    }
  }

  setThreadAffinity(cpus: number[]): boolean {
    checkCpus(cpus);
    try {
      this.addon.setThreadAffinity(cpus);
    } catch (error) {
      throw new SystemdError(`cannot pin thread to CPUs ${cpus.join(',')}: ${messageOf(error)}`, { cause: error });
    }
    return true;
  }

  watchdogUsec(): number {
    try {
      return this.addon.watchdogUsec();
    } catch (error) {
      throw new SystemdError(messageOf(error), { cause: error });
    }
  }
}

class FallbackIntegration implements SystemdIntegration {
  readonly native = false;
  /** undefined until first needed; null when systemd-notify is not on PATH. */
  private systemdNotify: string | null | undefined;

  constructor(readonly reason: string) {}

  notify(state: string): boolean {
    checkState(state);
    const socket = process.env['NOTIFY_SOCKET'];
    if (socket === undefined || socket === '') return false;
    if (this.systemdNotify === undefined) this.systemdNotify = findOnPath('systemd-notify');
    if (this.systemdNotify === null) return false;
    // systemd-notify sends from its own PID, hence NotifyAccess=all. --pid adds MAINPID=<ours>, so
    // the manager keeps tracking this process. By default it then waits (BARRIER=1) until the
    // manager has read the message, so the message is not dropped as coming from an exited process;
    // that wait is why this is synchronous: it also keeps READY, STATUS and STOPPING in order.
    const result = spawnSync(this.systemdNotify, [`--pid=${process.pid}`, ...state.split('\n').filter((line) => line !== '')], {
      stdio: ['ignore', 'ignore', 'pipe'],
      encoding: 'utf8',
      timeout: SYSTEMD_NOTIFY_TIMEOUT_MS,
    });
    if (result.error !== undefined) {
      throw new SystemdError(`cannot notify systemd: ${this.systemdNotify}: ${result.error.message}`, { cause: result.error });
    }
    if (result.status !== 0) {
      const detail = result.stderr.trim() || (result.signal !== null ? `killed by ${result.signal}` : `exit ${result.status}`);
      throw new SystemdError(`cannot notify systemd: systemd-notify: ${detail}`);
    }
    return true;
  }

  setThreadAffinity(cpus: number[]): boolean {
    checkCpus(cpus);
    return false;
  }

  watchdogUsec(): number {
    return watchdogUsecFromEnvironment(process.env);
  }
}

/** sd_watchdog_enabled(3) in TypeScript: the same rules as the addon's watchdogUsec(). */
export function watchdogUsecFromEnvironment(env: NodeJS.ProcessEnv): number {
  const usecText = env['WATCHDOG_USEC'];
  if (usecText === undefined || usecText === '') return 0;
  if (!/^[0-9]+$/.test(usecText) || Number(usecText) === 0) {
    throw new SystemdError(`WATCHDOG_USEC must be a positive integer of microseconds, got '${usecText}'`);
  }
  // systemd sets WATCHDOG_PID to the main process; a child that inherited the variables must not
  // think the watchdog is its job.
  const pidText = env['WATCHDOG_PID'];
  if (pidText !== undefined && pidText !== '') {
    if (!/^[0-9]+$/.test(pidText) || Number(pidText) === 0) {
      throw new SystemdError(`WATCHDOG_PID must be a positive integer, got '${pidText}'`);
    }
    if (Number(pidText) !== process.pid) return 0;
  }
  return Number(usecText);
}

function checkState(state: string): void {
  if (typeof state !== 'string' || state === '') throw new TypeError('notify(state): state must be a non-empty string');
}

function checkCpus(cpus: number[]): void {
  if (!Array.isArray(cpus) || cpus.length === 0 || !cpus.every((cpu) => Number.isInteger(cpu) && cpu >= 0 && cpu <= 65535)) {
    throw new TypeError('setThreadAffinity(cpus): cpus must be a non-empty array of integers between 0 and 65535');
  }
}

function findOnPath(command: string): string | null {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, command);
    try {
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // not in this directory; try the next
    }
  }
  return null;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function errnoCodeOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

export interface WatchdogOptions {
  /** How often to ping, in ms; systemd's advice is half of WATCHDOG_USEC. */
  intervalMs: number;
  /** Asked before every ping; no ping while it returns false (or throws), so systemd restarts us. */
  healthy: () => boolean;
  /** A failed ping or a throwing healthy(); defaults to process.emitWarning. */
  onError?: (error: Error) => void;
}

/**
 * Sends WATCHDOG=1 every `intervalMs` while `healthy()` holds. A stuck event loop sends nothing
 * either, which is the point: systemd then kills and restarts the service (Restart=on-failure).
 * Its timer is unref'd, so it never keeps the process alive on its own.
 */
export class Watchdog {
  private timer: NodeJS.Timeout | undefined;
  private sent = 0;
  private withheld = 0;
  private readonly onError: (error: Error) => void;

  constructor(
    private readonly integration: Pick<SystemdIntegration, 'notify'>,
    private readonly options: WatchdogOptions,
  ) {
    if (!Number.isFinite(options.intervalMs) || options.intervalMs < 1) {
      throw new TypeError(`Watchdog: intervalMs must be a positive number, got ${options.intervalMs}`);
    }
    this.onError = options.onError ?? ((error) => process.emitWarning(error));
  }

  /**
   * A Watchdog pinging at half of WATCHDOG_USEC, or undefined when systemd's watchdog is off for
   * this process.
   */
  static fromEnvironment(
    integration: Pick<SystemdIntegration, 'notify' | 'watchdogUsec'>,
    healthy: () => boolean,
    onError?: (error: Error) => void,
  ): Watchdog | undefined {
    const usec = integration.watchdogUsec();
    if (usec === 0) return undefined;
    return new Watchdog(integration, { intervalMs: Math.max(1, Math.floor(usec / 2000)), healthy, onError });
  }

  /** Pings sent so far. */
  get pings(): number {
    return this.sent;
  }

  /** Pings withheld because healthy() said no. */
  get skipped(): number {
    return this.withheld;
  }

  get running(): boolean {
    return this.timer !== undefined;
  }

  /** Pings at once (if healthy), then every intervalMs. Calling it again does nothing. */
  start(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => this.tick(), this.options.intervalMs);
    this.timer.unref();
    this.tick();
  }

  stop(): void {
    if (this.timer === undefined) return;
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    let healthy: boolean;
    try {
      healthy = this.options.healthy();
    } catch (error) {
      healthy = false;
      this.onError(error instanceof Error ? error : new Error(String(error)));
    }
    if (!healthy) {
      this.withheld++;
      return;
    }
    try {
      if (this.integration.notify('WATCHDOG=1')) this.sent++;
    } catch (error) {
      this.onError(error instanceof Error ? error : new Error(String(error)));
    }
  }
}
