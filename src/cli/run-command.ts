/**
 * `ferry run --config FILE`: the daemon.
 *   SIGTERM/SIGINT  drain (answer everything in flight within the ack deadline) and exit 0; while
 *                   starting, close what was opened and exit 0; a second one exits at once
 *   SIGHUP          re-read the file; apply what can change live (mirrors included: added,
 *                   removed and changed ones), log what needs a restart; an invalid file is
 *                   refused whole and Ferry keeps running as it was
 * Under systemd (Type=notify) it reports READY, RELOADING, STOPPING and STATUS, and feeds the
 * watchdog only while the main loop and every worker are alive.
 */

import { constants } from 'node:os';
import { parseArgs } from 'node:util';
import type { Logger } from 'pino';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { ConfigError, type RunConfig, checkReferencedFiles, loadConfigFile, loadRunConfigFile, managementToken } from '../config/index.js';
import { FleetMember, openFleet } from '../coordination/fleet.js';
import { SourceDc, sourceDcSettings } from '../coordination/source-dc.js';
import { Ferry } from '../main.js';
import { hostPort } from '../host-port.js';
import { limitMallocArenas } from '../malloc-arenas.js';
import { registerFleetMetrics } from '../management/fleet-metrics.js';
import { ManagementServer } from '../management/http-server.js';
import { Logging } from '../management/logger.js';
import { registerMirrorMetrics } from '../management/mirror-metrics.js';
import { MirrorError, MirrorGroup, type MirrorOptions, type MirrorsReloadReport, resolveMirrorsSection } from '../mirror/index.js';
import type { RawConfig } from '../config/schema.js';
import { Watchdog, loadSystemdIntegration } from '../management/systemd.js';
import { loadCopySpans } from '../threads/index.js';
import { ExitCode, StartAbortedError, StartupError, waitForStartup } from '../startup.js';
import { takeHeldSignal } from './early-signals.js';
import { missingNodeFlags } from './node-flags.js';

/** The configuration `ferry run` reads without --config. */
const DEFAULT_CONFIG = '/etc/ferry/ferry.yml';

export const RUN_USAGE = `usage: ferry [run] [--config FILE]
  --config, -c FILE   the configuration to run           [${DEFAULT_CONFIG}]
                      (an XDR Proxy's aerospike-xdr-proxy.yml works as it is)
Starts the replication daemon. SIGTERM or SIGINT drains and exits 0; SIGHUP re-reads the file.
Check a file first with: ferry check-config FILE`;

export async function runCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, strict: true, options: { config: { type: 'string', short: 'c' } } });
  const file = values.config ?? DEFAULT_CONFIG;
  const run = loadRunConfigFile(file);
  // Every file the configuration names, checked as check-config does, before anything opens.
  refuseUnreadableFiles(file, run.raw);
  const mirrors = mirrorsOf(run.raw);
  // Listen for SIGTERM/SIGINT before anything starts: one that arrives while starting (a service
  // manager stopping Ferry right after it came up) ends start-up cleanly, not by node's default death.
  const signals = new StopSignals();
  if (run.xdr === null) return runMirrorsOnly(file, run, mirrors, signals);
  const config = run.xdr;
  // Before the worker threads exist: arenas made later are the ones the cap governs.
  const arenas = limitMallocArenas();
  // fleet.cacert, cert, key and password-file are read here; a bad one is a ConfigError (exit 2).
  const fleetEtcd = run.raw.fleet === undefined ? null : openFleet(run.raw.fleet);
  // service.security and service.tls files are read here; a bad one is a ConfigError (exit 2).
  const ferry = new Ferry(config);
  const log = ferry.logging.get('server');
  const fleet =
    fleetEtcd === null
      ? null
      : new FleetMember(
          fleetEtcd.client,
          fleetEtcd.settings,
          { state: () => (ferry.paused() ? 'paused' : ferry.ready().ready ? 'ready' : 'not-ready'), records: () => ferry.stats.records },
          ferry.logging.get('fleet'),
        );
  // fleet.source TLS and password files are read here too (exit 2 when unreadable).
  const fleetSection = run.raw.fleet;
  const source = fleetSection?.source;
  const sourceDc =
    fleet === null || fleetEtcd === null || fleetSection === undefined || source === undefined
      ? null
      : new SourceDc(fleetEtcd.client, sourceDcSettings(fleetSection, source), fleet.id, ferry.logging.get('fleet'));
  if (fleet !== null) registerFleetMetrics(ferry.registry, fleet, sourceDc);
  const systemd = loadSystemdIntegration();
  const notify = (state: string): void => {
    try {
      systemd.notify(state);
    } catch (err) {
      log.warn({ err: (err as Error).message, state }, 'systemd notification failed');
    }
  };
  log.info({ native: systemd.native, reason: systemd.reason, cpuAffinity: config.service.cpus.length > 0 ? config.service.cpus : false }, 'systemd integration');
  log.info({ arenas: arenas.arenas ?? 'glibc default', reason: arenas.reason }, 'malloc arenas');
  // The workers load the same addon file for their copies out of shared memory: say once if they cannot.
  const copies = loadCopySpans();
  if (copies.copySpans === null) log.warn({ reason: copies.reason }, 'workers copy records out of shared memory without the native addon: expect more CPU per record (npx node-gyp rebuild --directory native)');
  const missing = missingNodeFlags();
  if (missing.length > 0) log.warn({ missing }, 'node was started without these flags: expect more CPU per record (the ferry command passes them)');
  const watchdog = Watchdog.fromEnvironment(systemd, () => ferry.healthy(), (err) => log.warn({ err: err.message }, 'watchdog ping failed'));
  watchdog?.start();

  let ready = false;
  let reloadWhenReady = false;
  const reload = async (): Promise<void> => {
    notify('RELOADING=1');
    try {
      const next = loadConfigFile(file);
      // A file Ferry could not start with is refused, whether or not the key can change live.
      refuseUnreadableFiles(file, next.raw);
      // Resolved first: a bad mirrors section refuses the whole reload, like any other bad key.
      const nextMirrors = mirrorsOf(next.raw);
      const report = await ferry.reload(next);
      const mirrorsReport = group === null ? null : await applyMirrors(group, next.raw, nextMirrors);
      log.info({ ...report, mirrors: mirrorsReport }, report.needsRestart.length > 0 ? 'configuration reloaded; some changes need a restart' : 'configuration reloaded');
    } catch (err) {
      const problems = err instanceof ConfigError ? err.problems : [(err as Error).message];
      log.error({ problems }, 'reload refused: the file is invalid; still running on the previous configuration');
    }
    notify('READY=1');
  };
  // Taken from the start: node's default for SIGHUP is to die.
  const onHup = (): void => {
    if (ready) void reload();
    else {
      // Not lost: a reload asked for while starting (a file edited right after a restart) is
      // applied as soon as start-up completes.
      reloadWhenReady = true;
      log.info('SIGHUP while starting: the file is re-read once started');
    }
  };
  process.on('SIGHUP', onHup);
  // One that came while the commands loaded (early-signals.ts) counts as one that came while starting.
  if (takeHeldSignal('SIGHUP') > 0) onHup();
  const stopping = (): boolean => signals.received;
  let group: MirrorGroup | null = null;

  let bound: Array<{ address: string; port: number }>;
  try {
    bound = await ferry.start(stopping);
  } catch (err) {
    process.off('SIGHUP', onHup);
    await fleet?.stop();
    watchdog?.stop();
    return startFailed(err, log, ferry.logging);
  }
  // Always a group, even an empty one: a reload may add mirrors.
  const mirrorGroup = startMirrors(run.raw, mirrors, ferry.logging);
  group = mirrorGroup;
  registerMirrorMetrics(ferry.registry, () => mirrorGroup.stats());
  try {
    await waitForMirrors(mirrorGroup, config.service.startupTimeoutMs, stopping);
    if (fleet !== null) await joinFleet(fleet, config.service.startupTimeoutMs, stopping);
    // Registered: the source DC may now send records here.
    sourceDc?.start();
  } catch (err) {
    const code = startFailed(err, log, ferry.logging);
    process.off('SIGHUP', onHup);
    await fleet?.stop();
    await mirrorGroup.stop();
    await ferry.stop();
    watchdog?.stop();
    return code;
  }
  ready = true;
  notify(`READY=1\nSTATUS=replicating; listening on ${bound.map((b) => hostPort(b.address, b.port)).join(', ')}`);
  if (reloadWhenReady) void reload();

  await signals.stopped;
  process.off('SIGHUP', onHup);
  notify(`STOPPING=1\nSTATUS=draining ${ferry.inFlight()} records`);
  // Leave the fleet first, so new traffic goes elsewhere while this instance drains: out of the
  // source DC, then out of etcd (a survivor seeing the lease go finds the removal already claimed).
  await sourceDc?.leave();
  await fleet?.stop();
  await mirrorGroup.stop();
  await ferry.stop();
  watchdog?.stop();
  return 0;
}

/** The `mirrors:` section, resolved; a bad or overlapping mirror is a configuration error (exit 2). */
function mirrorsOf(raw: RawConfig): MirrorOptions[] {
  if (raw.mirrors === undefined) return [];
  try {
    return resolveMirrorsSection(raw.mirrors);
  } catch (err) {
    if (err instanceof MirrorError) throw new ConfigError([`${err.code}: ${err.message}`]);
    throw err;
  }
}

function statusIntervalMs(raw: RawConfig): number {
  return (raw.mirrors?.['status-interval'] ?? 10) * 1000;
}

function startMirrors(raw: RawConfig, mirrors: MirrorOptions[], logging: Logging): MirrorGroup {
  const group = new MirrorGroup(logging.get('mirror'), statusIntervalMs(raw));
  group.start(mirrors);
  return group;
}

function applyMirrors(group: MirrorGroup, raw: RawConfig, mirrors: MirrorOptions[]): Promise<MirrorsReloadReport> {
  return group.apply(mirrors, statusIntervalMs(raw));
}

/**
 * A start-up that did not complete: one fatal line and exit 3 for a failure that may pass, or exit
 * 0 when a stop signal ended it. Anything else (an invalid configuration: exit 2) is rethrown.
 */
function startFailed(err: unknown, log: Logger, logging: Logging): number {
  if (err instanceof StartAbortedError) {
    log.info('stopped while starting');
    logging.flush();
    return ExitCode.Stopped;
  }
  if (!(err instanceof StartupError)) throw err;
  const cause = (err.cause as { code?: unknown } | undefined)?.code;
  log.fatal({ code: err.code, cause: typeof cause === 'string' ? cause : undefined }, `cannot start: ${err.message}`);
  logging.flush();
  return ExitCode.Startup;
}

/**
 * Every mirror must reach both of its etcd clusters (it syncs or watches, and has seen the
 * source's revision) within the start-up timeout; one that fails for good fails start-up now.
 */
async function waitForMirrors(group: MirrorGroup, timeoutMs: number, stopping: () => boolean): Promise<void> {
  const pending = (): string[] =>
    [...group.stats()].filter(([, st]) => !((st.phase === 'syncing' || st.phase === 'watching') && st.headRevision > 0)).map(([name, st]) => `${name} (${st.phase})`);
  const deadline = { at: performance.now() + timeoutMs, timeoutMs };
  await waitForStartup(() => pending().length === 0 || !group.healthy(), deadline, stopping, () => `etcd mirrors did not reach their clusters: ${pending().join(', ')}`);
  if (!group.healthy()) throw new StartupError('ERR_STARTUP_TIMEOUT', `etcd mirrors failed while starting: ${pending().join(', ')}`);
}

/**
 * Register in the fleet once ready; etcd not reached within the start-up timeout fails start-up
 * (exit 3). Later failures are only logged and retried: membership never stops the data path.
 */
async function joinFleet(fleet: FleetMember, timeoutMs: number, stopping: () => boolean): Promise<void> {
  fleet.start();
  const deadline = { at: performance.now() + timeoutMs, timeoutMs };
  await waitForStartup(() => fleet.registered, deadline, stopping, () => 'the fleet etcd did not accept this instance');
}

/** A ConfigError (exit 2 at start, a refused reload later) for each file the configuration names that cannot be used. */
function refuseUnreadableFiles(file: string, raw: RawConfig): void {
  const problems = checkReferencedFiles(raw);
  if (problems.length > 0) throw new ConfigError(problems.map((p) => `${file}: ${p}`));
}

/** A file with mirrors and no XDR destination: run the mirrors until SIGTERM/SIGINT; SIGHUP reloads them. */
async function runMirrorsOnly(file: string, run: RunConfig, mirrors: MirrorOptions[], signals: StopSignals): Promise<number> {
  const logging = new Logging(run.logging);
  const log = logging.get('server');
  const group = startMirrors(run.raw, mirrors, logging);
  const reload = async (): Promise<void> => {
    try {
      const next = loadRunConfigFile(file);
      refuseUnreadableFiles(file, next.raw);
      const report = await applyMirrors(group, next.raw, mirrorsOf(next.raw));
      // Levels change live here too (the file is valid, so they are).
      logging.replaceLevels(next.logging.levels);
      // Starting the XDR service takes a restart.
      const needsRestart = next.xdr !== null ? ['aerospike / file (the XDR service)'] : [];
      log.info({ mirrors: report, needsRestart }, needsRestart.length > 0 ? 'configuration reloaded; some changes need a restart' : 'configuration reloaded');
    } catch (err) {
      const problems = err instanceof ConfigError ? err.problems : [(err as Error).message];
      log.error({ problems }, 'reload refused: the file is invalid; still running on the previous configuration');
    }
  };
  // Taken from the start (node's default for SIGHUP is to die); one that comes while starting is
  // applied once started.
  let ready = false;
  let reloadWhenReady = false;
  const onHup = (): void => {
    if (ready) void reload();
    else reloadWhenReady = true;
  };
  process.on('SIGHUP', onHup);
  // One that came while the commands loaded (early-signals.ts) counts as one that came while starting.
  if (takeHeldSignal('SIGHUP') > 0) onHup();
  // The management port serves the mirrors' metrics, health and log levels (there is nothing to pause).
  const manage = run.raw.service.manage;
  let server: ManagementServer | null = null;
  let address: string | null = null;
  if (manage.enabled) {
    const registry = new Registry();
    collectDefaultMetrics({ register: registry, prefix: 'ferry_' });
    registerMirrorMetrics(registry, () => group.stats());
    const token = managementToken(run.raw);
    server = new ManagementServer(
      {
        registry,
        ready: () => (group.healthy() ? { ready: true, reasons: [] } : { ready: false, reasons: ['a mirror has failed'] }),
        levels: () => logging.levels(),
        setLevels: (levels) => logging.setLevels(levels),
      },
      token,
      logging.get('management'),
    );
  }
  try {
    if (server !== null) {
      const a = await server.listen(manage.port, manage.address);
      address = hostPort(a.address, a.port);
    }
    await waitForMirrors(group, run.raw.service['startup-timeout'], () => signals.received);
  } catch (err) {
    const code = startFailed(err, log, logging);
    process.off('SIGHUP', onHup);
    await server?.close();
    await group.stop();
    return code;
  }
  log.info({ mirrors: group.mirrors.map((m) => m.name), management: address }, 'ferry started (mirrors only)');
  ready = true;
  if (reloadWhenReady) void reload();
  await signals.stopped;
  process.off('SIGHUP', onHup);
  await server?.close();
  await group.stop();
  log.info('stopped');
  logging.flush();
  return group.healthy() ? ExitCode.Stopped : ExitCode.Fault;
}

/**
 * SIGTERM and SIGINT: the first resolves `stopped` (a drain, or the end of start-up); a second one,
 * whatever Ferry is doing, exits at once with 128 + the signal's number (143, 130).
 */
class StopSignals {
  received = false;
  readonly stopped: Promise<void>;

  constructor() {
    this.stopped = new Promise<void>((resolve) => {
      const onSignal = (signal: NodeJS.Signals): void => {
        if (this.received) {
          process.stderr.write(`ferry: second ${signal}: exiting at once\n`);
          process.exit(128 + constants.signals[signal]);
        }
        this.received = true;
        resolve();
      };
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
      // Those that came while the commands loaded (early-signals.ts), in their turn.
      for (const signal of ['SIGTERM', 'SIGINT'] as const) for (let n = takeHeldSignal(signal); n > 0; n--) onSignal(signal);
    });
  }
}
