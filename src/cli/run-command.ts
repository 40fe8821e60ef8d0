/**
 * `ferry run --config FILE`: the daemon.
 *   SIGTERM/SIGINT  drain (answer everything in flight within the ack deadline) and exit 0
 *   SIGHUP          re-read the file; apply what can change live, log what needs a restart; an
 *                   invalid file is refused whole and Ferry keeps running as it was
 * Under systemd (Type=notify) it reports READY, RELOADING, STOPPING and STATUS, and feeds the
 * watchdog only while the main loop and every worker are alive.
 */

import { parseArgs } from 'node:util';
import { ConfigError, loadConfigFile } from '../config/index.js';
import { Ferry } from '../main.js';
import { Watchdog, loadSystemdIntegration } from '../management/systemd.js';

export async function runCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, strict: true, options: { config: { type: 'string', short: 'c' } } });
  const file = values.config ?? '/etc/ferry/ferry.yml';
  const config = loadConfigFile(file);
  const unsupported: string[] = [];
  if (config.raw.aerospike?.credentials !== undefined) unsupported.push('aerospike.credentials (destination authentication)');
  if (config.raw.aerospike?.tls !== undefined) unsupported.push('aerospike.tls');
  if (config.raw.service.tls !== undefined) unsupported.push('service.tls');
  if (unsupported.length > 0) {
    process.stderr.write(`ferry: this build does not support: ${unsupported.join(', ')}\n`);
    return 2;
  }
  const ferry = new Ferry(config);
  const log = ferry.logging.get('server');
  const systemd = loadSystemdIntegration();
  const notify = (state: string): void => {
    try {
      systemd.notify(state);
    } catch (err) {
      log.warn({ err: (err as Error).message, state }, 'systemd notification failed');
    }
  };
  log.info({ native: systemd.native, reason: systemd.reason, cpuAffinity: config.service.cpus.length > 0 ? config.service.cpus : false }, 'systemd integration');
  const watchdog = Watchdog.fromEnvironment(systemd, () => ferry.healthy(), (err) => log.warn({ err: err.message }, 'watchdog ping failed'));
  watchdog?.start();

  const bound = await ferry.start();
  notify(`READY=1\nSTATUS=replicating; listening on ${bound.map((b) => `${b.address}:${b.port}`).join(', ')}`);

  const reload = async (): Promise<void> => {
    notify('RELOADING=1');
    try {
      const next = loadConfigFile(file);
      const report = await ferry.reload(next);
      log.info(report, report.needsRestart.length > 0 ? 'configuration reloaded; some changes need a restart' : 'configuration reloaded');
    } catch (err) {
      const problems = err instanceof ConfigError ? err.problems : [(err as Error).message];
      log.error({ problems }, 'reload refused: the file is invalid; still running on the previous configuration');
    }
    notify('READY=1');
  };
  const onHup = (): void => void reload();
  process.on('SIGHUP', onHup);

  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      resolve();
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
  process.off('SIGHUP', onHup);
  notify(`STOPPING=1\nSTATUS=draining ${ferry.inFlight()} records`);
  await ferry.stop();
  watchdog?.stop();
  return 0;
}
