/**
 * `ferry fleet status --config FILE [--json]`: the members of the file's fleet, read from etcd:
 * id, state, advertised address, uptime and records/s. Exit 0 with the list (even an empty one),
 * 1 when etcd cannot be read, 2 for a usage or configuration problem.
 */

import { parseArgs } from 'node:util';
import { loadRunConfigFile } from '../config/index.js';
import { FleetError, type MemberRecord, listMembers, openFleet } from '../coordination/fleet.js';
import { UsageError } from './xdr-load-command.js';

export const FLEET_USAGE = `usage: ferry fleet status --config FILE [--json]
  lists the members of the fleet configured in FILE (its fleet: section): id, state, address,
  uptime and records/s; --json prints them as a JSON array`;

export async function fleetCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== 'status') throw new UsageError(`${sub === undefined ? 'fleet: a subcommand is needed' : `fleet: unknown subcommand '${sub}'`}\n${FLEET_USAGE}`);
  const { values } = parseArgs({ args: rest, strict: true, options: { config: { type: 'string', short: 'c' }, json: { type: 'boolean', default: false } } });
  const file = values.config ?? '/etc/ferry/ferry.yml';
  const section = loadRunConfigFile(file).raw.fleet;
  if (section === undefined) throw new UsageError(`${file} has no fleet section`);
  const { client, settings } = openFleet(section);
  try {
    const members = await listMembers(client, settings.name);
    process.stdout.write(values.json ? `${JSON.stringify(members)}\n` : renderMembers(settings.name, members, new Date()));
    return 0;
  } catch (err) {
    if (!(err instanceof FleetError)) throw err;
    process.stderr.write(`ferry fleet status: ${err.message}\n`);
    return 1;
  } finally {
    client.close();
  }
}

/** 3d04h, 1h02m, 4m05s, 7s */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const [d, h, m] = [Math.floor(s / 86400), Math.floor((s % 86400) / 3600), Math.floor((s % 3600) / 60)];
  const pad = (n: number): string => String(n).padStart(2, '0');
  if (d > 0) return `${d}d${pad(h)}h`;
  if (h > 0) return `${h}h${pad(m)}m`;
  if (m > 0) return `${m}m${pad(s % 60)}s`;
  return `${s}s`;
}

export function renderMembers(fleet: string, members: readonly MemberRecord[], now: Date): string {
  const rows = [
    ['ID', 'STATE', 'ADDRESS', 'UPTIME', 'RECORDS/S', 'UPDATED'],
    ...members.map((m) => [
      m.id,
      m.state,
      m.address,
      formatDuration(now.getTime() - Date.parse(m.startedAt)),
      String(m.recordsPerSecond),
      `${formatDuration(now.getTime() - Date.parse(m.updatedAt))} ago`,
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines = rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
  return `fleet ${fleet}: ${members.length} member${members.length === 1 ? '' : 's'}\n${lines.join('\n')}\n`;
}
