/**
 * Fleet membership with a real etcd and three `ferry run` processes (file destinations): each
 * registers once ready, `ferry fleet status` lists them with state, address, uptime and records/s,
 * SIGTERM deregisters at once, SIGKILL is noticed when the lease expires, and a restarted instance
 * registers again under a new id. An etcd unreachable at start-up fails it (exit 3); an outage
 * later leaves replication and readiness alone, and the instance registers again afterwards.
 */

import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { XdrSource } from '../../src/cli/load/xdr-source.js';
import { renderMembers } from '../../src/cli/fleet-command.js';
import type { MemberRecord } from '../../src/coordination/fleet.js';
import { ensureBuilt } from '../support/built.js';
import { freePort } from '../support/free-port.js';
import { type EtcdServer, startEtcd } from '../support/etcd.js';
import { FERRY_BIN, FerryProcess } from '../support/ferry-process.js';
import { loadOptions } from '../support/load.js';

const LEASE_TTL = 3;
const FLEET = 'test-fleet';

let etcd: EtcdServer;
const dir = mkdtempSync(join(tmpdir(), 'ferry-fleet-'));

function config(port: number, name: string): Record<string, unknown> {
  return {
    service: { port, address: '127.0.0.1', 'worker-threads': 1, manage: { address: '127.0.0.1', port: 0 } },
    file: { path: join(dir, `${name}.jsonl`), sync: false },
    fleet: { endpoints: [etcd.endpoint], name: FLEET, advertise: `127.0.0.1:${port}`, 'lease-ttl': LEASE_TTL },
    logging: { levels: { root: 'info' } },
  };
}

/** `ferry fleet status` as an operator runs it; returns its exit code and output. */
function fleetStatus(file: string, json: boolean): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [FERRY_BIN, 'fleet', 'status', '--config', file, ...(json ? ['--json'] : [])], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

let statusFile: string;

async function members(): Promise<MemberRecord[]> {
  const r = await fleetStatus(statusFile, true);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as MemberRecord[];
}

/** Poll `ferry fleet status` until `pred` holds (generous timeout: etcd and processes on a busy host). */
async function waitForMembers(pred: (m: MemberRecord[]) => boolean, what: string, timeoutMs = 30_000): Promise<MemberRecord[]> {
  const until = Date.now() + timeoutMs;
  let last: MemberRecord[] = [];
  while (Date.now() < until) {
    last = await members();
    if (pred(last)) return last;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what}: not within ${timeoutMs} ms; last seen ${JSON.stringify(last)}`);
}

async function waitFor(cond: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const addresses = (m: MemberRecord[]): string[] => m.map((x) => x.address).sort();

beforeAll(async () => {
  ensureBuilt('cli/fleet-command.ts', 'cli/fleet-command.js');
  ensureBuilt('coordination/fleet.ts', 'coordination/fleet.js');
  ensureBuilt('cli/run-command.ts', 'cli/run-command.js');
  etcd = await startEtcd({ name: 'fleet' });
  // Any instance's file names the fleet; this one has no running instance behind it.
  statusFile = join(dir, 'status.yml');
  writeFileSync(statusFile, stringify(config(await freePort(), 'status')));
});

afterAll(async () => {
  await etcd?.close();
});

describe('fleet membership', () => {
  it('three instances register, report, leave on SIGTERM, expire on SIGKILL and come back', async () => {
    const ports = [await freePort(), await freePort(), await freePort()];
    const running = await FerryProcess.startAll(ports.map((p, i) => config(p, `ferry-${i}`)));
    const [a, b, c] = running as [FerryProcess, FerryProcess, FerryProcess];
    let restarted: FerryProcess | null = null;
    try {
      const all = ports.map((p) => `127.0.0.1:${p}`).sort();
      const listed = await waitForMembers((m) => addresses(m).join() === all.join(), 'all three registered');
      for (const m of listed) {
        expect(m.state).toBe('ready');
        expect(m.id).toMatch(/^.+-[0-9a-f]{8}$/);
        expect(Date.parse(m.startedAt)).toBeLessThanOrEqual(Date.parse(m.updatedAt));
        expect(m.recordsPerSecond).toBe(0);
      }
      expect(new Set(listed.map((m) => m.id)).size).toBe(3);
      expect(await a.metric('ferry_fleet_registered')).toBe(1);

      // Records through one instance show as its records/s while they flow.
      const aAddress = `127.0.0.1:${a.port}`;
      let seen: MemberRecord | undefined;
      const watching = waitForMembers((m) => (seen = m.find((x) => x.address === aAddress && x.recordsPerSecond > 0)) !== undefined, 'records/s of the loaded instance', 60_000);
      let watched = false;
      void watching.finally(() => (watched = true)).catch(() => undefined);
      while (!watched) {
        const stats = await new XdrSource(loadOptions(a.port, { keys: 1000, changes: 20_000, probeEvery: 0, set: 'fleet' })).run();
        expect(stats.abandons).toBe(0);
      }
      await watching;
      expect(seen!.recordsPerSecond).toBeGreaterThan(0);

      // The table an operator reads names every member with its state, address and uptime.
      const human = await fleetStatus(statusFile, false);
      expect(human.code).toBe(0);
      expect(human.stdout).toMatch(new RegExp(`^fleet ${FLEET}: 3 members\\nID +STATE +ADDRESS +UPTIME +RECORDS/S +UPDATED\\n`));
      for (const address of all) expect(human.stdout).toMatch(new RegExp(`ready +${address.replace(/\./g, '\\.')} +\\d+[smhd]`));
      expect(await b.metric('ferry_fleet_members')).toBe(3);

      // SIGTERM: deregistered before the drain completes, so the very next listing lacks it.
      expect(await b.stop('SIGTERM')).toBe(0);
      expect(b.logs.some((l) => l.msg === 'left the fleet')).toBe(true);
      expect(addresses(await members())).toEqual(all.filter((x) => x !== `127.0.0.1:${b.port}`));

      // SIGKILL: nothing deregisters; the lease expires within its TTL.
      await c.stop('SIGKILL');
      await waitForMembers((m) => addresses(m).join() === aAddress, 'the killed instance gone', (LEASE_TTL + 10) * 1000);

      // A restarted instance registers again, under a new id.
      const oldId = listed.find((m) => m.address === `127.0.0.1:${c.port}`)!.id;
      restarted = await FerryProcess.start(config(c.port, 'ferry-2-again'));
      const back = await waitForMembers((m) => m.length === 2 && m.some((x) => x.address === `127.0.0.1:${c.port}`), 'the restarted instance registered');
      expect(back.find((m) => m.address === `127.0.0.1:${c.port}`)!.id).not.toBe(oldId);
    } finally {
      await Promise.all([...running, ...(restarted === null ? [] : [restarted])].map((p) => p.stop('SIGTERM')));
    }
  }, 120_000);

  it('an unreachable fleet etcd fails start-up with exit 3 within service.startup-timeout', async () => {
    const port = await freePort();
    const cfg = config(port, 'unreachable') as { service: Record<string, unknown>; fleet: Record<string, unknown> };
    cfg.fleet['endpoints'] = [`127.0.0.1:${await freePort()}`];
    cfg.service['startup-timeout'] = 2000;
    const p = FerryProcess.launch(cfg);
    expect(await p.exitCode()).toBe(3);
    const fatal = p.logs.find((l) => l.msg.startsWith('cannot start'));
    expect(fatal?.['code']).toBe('ERR_STARTUP_TIMEOUT');
    expect(fatal?.msg).toMatch(/fleet etcd/);
  }, 30_000);

  it('an etcd outage after start leaves replication alone; the instance registers again when etcd is back', async () => {
    const own = await startEtcd({ name: 'fleet-outage' });
    const port = await freePort();
    const cfg = config(port, 'outage') as { fleet: Record<string, unknown> };
    cfg.fleet['endpoints'] = [own.endpoint];
    cfg.fleet['command-timeout'] = 1000;
    const p = await FerryProcess.start(cfg);
    try {
      await waitFor(async () => (await p.metric('ferry_fleet_registered')) === 1, 'registered');
      await own.kill();
      await waitFor(async () => (await p.metric('ferry_fleet_registered')) === 0 && (await p.metric('ferry_fleet_failures_total')) > 0, 'the outage noticed');
      // Records flow as before, and the service stays ready.
      const stats = await new XdrSource(loadOptions(p.port, { keys: 1000, changes: 5000, probeEvery: 0, set: 'outage' })).run();
      expect(stats.abandons).toBe(0);
      expect(stats.changes).toBe(5000);
      expect(stats.unacknowledged).toBe(0);
      expect(stats.retries).toBe(0);
      expect((await fetch(`http://127.0.0.1:${p.managePort}/health/ready`)).status).toBe(200);
      expect(p.logs.some((l) => l.msg === 'fleet membership: etcd request failed; retrying' && l['code'] === 'ERR_FLEET_UNAVAILABLE')).toBe(true);
      await own.restart();
      await waitFor(async () => (await p.metric('ferry_fleet_registered')) === 1, 'registered again', 60_000);
      const records = await own.client.getAll().prefix(`__ferry/fleet/${FLEET}/members/`).strings();
      expect(Object.values(records).map((v) => (JSON.parse(v) as MemberRecord).address)).toEqual([`127.0.0.1:${port}`]);
    } finally {
      await p.stop('SIGTERM');
      await own.close();
    }
  }, 120_000);

  it('renders durations and an empty fleet', () => {
    const now = new Date('2026-01-02T03:04:05Z');
    expect(renderMembers('f', [], now)).toBe('fleet f: 0 members\nID  STATE  ADDRESS  UPTIME  RECORDS/S  UPDATED\n');
    const m: MemberRecord = { id: 'h-1', address: '10.0.0.1:8901', startedAt: '2026-01-01T02:03:04Z', state: 'paused', recordsPerSecond: 12, updatedAt: '2026-01-02T03:04:03Z' };
    expect(renderMembers('f', [m], now)).toBe('fleet f: 1 member\nID   STATE   ADDRESS        UPTIME  RECORDS/S  UPDATED\nh-1  paused  10.0.0.1:8901  1d01h   12         2s ago\n');
  });
});
