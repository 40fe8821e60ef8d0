/**
 * Driving the source DC (`fleet.source`) with a real etcd, three `ferry run` processes and a
 * stand-in source node (the double, which records the XDR set-config commands it is sent): each
 * instance adds itself once ready; a SIGKILLed instance is removed by exactly one survivor once its
 * lease expires; a SIGTERMed one removes itself and no survivor removes it again; a restarted
 * instance is added again.
 */

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listMembers } from '../../src/coordination/fleet.js';
import { listingsPrefix, removalsPrefix } from '../../src/coordination/source-dc.js';
import { AerospikeDouble } from '../double/server.js';
import { ensureBuilt } from '../support/built.js';
import { freePort } from '../support/free-port.js';
import { type EtcdServer, startEtcd } from '../support/etcd.js';
import { FerryProcess } from '../support/ferry-process.js';

const LEASE_TTL = 3;
const FLEET = 'dc-fleet';
const DC = 'ferry';

let etcd: EtcdServer;
let source: AerospikeDouble;
const dir = mkdtempSync(join(tmpdir(), 'ferry-fleet-dc-'));

function config(port: number, name: string): Record<string, unknown> {
  return {
    service: { port, address: '127.0.0.1', 'worker-threads': 1, manage: { address: '127.0.0.1', port: 0 } },
    file: { path: join(dir, `${name}.jsonl`), sync: false },
    fleet: {
      endpoints: [etcd.endpoint],
      name: FLEET,
      advertise: `127.0.0.1:${port}`,
      'lease-ttl': LEASE_TTL,
      source: { seeds: [{ '127.0.0.1': { port: source.port } }], dc: DC, 'tend-interval': 200 },
    },
    logging: { levels: { root: 'info' } },
  };
}

const command = (address: string, action: 'add' | 'remove'): string => `context=xdr;dc=${DC};node-address-port=${address};action=${action}`;
const count = (address: string, action: 'add' | 'remove'): number => source.xdrCommands.filter((c) => c === command(address, action)).length;

async function waitFor(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error(`${what}: not within ${timeoutMs} ms; commands seen: ${JSON.stringify(source.xdrCommands)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Whether `p` has seen the member `id` leave. */
const sawLeave = (p: FerryProcess, id: string): boolean => p.logs.some((l) => l['member'] === id && l.msg === 'source DC: member left');
const listed = async (): Promise<string[]> => (await etcd.client.getAll().prefix(listingsPrefix(FLEET)).keys()).map((k) => k.slice(listingsPrefix(FLEET).length)).sort();

beforeAll(async () => {
  ensureBuilt('coordination/source-dc.ts', 'coordination/source-dc.js');
  ensureBuilt('cli/run-command.ts', 'cli/run-command.js');
  etcd = await startEtcd({ name: 'fleet-dc' });
  source = await AerospikeDouble.start();
});

afterAll(async () => {
  await source?.close();
  await etcd?.close();
});

describe('driving the source DC', () => {
  it('adds ready instances, removes a killed one exactly once and a stopped one by itself, adds a restarted one again', async () => {
    const ports = [await freePort(), await freePort(), await freePort()];
    const running = await FerryProcess.startAll(ports.map((p, i) => config(p, `ferry-${i}`)));
    const [a, b, c] = running as [FerryProcess, FerryProcess, FerryProcess];
    const [aAddress, bAddress, cAddress] = ports.map((p) => `127.0.0.1:${p}`) as [string, string, string];
    let restarted: FerryProcess | null = null;
    try {
      // Ready: each instance is in the DC of the source node.
      await waitFor(() => [aAddress, bAddress, cAddress].every((x) => count(x, 'add') >= 1), 'all three added');
      expect(source.xdrCommands.filter((x) => x.endsWith('action=remove'))).toEqual([]);
      expect(await a.metric('ferry_fleet_source_nodes')).toBe(1);
      const ids = new Map((await listMembers(etcd.client, FLEET)).map((m) => [m.address, m.id]));
      const cId = ids.get(cAddress)!;
      const bId = ids.get(bAddress)!;

      // SIGKILL: nothing removes itself; once the lease expires one survivor wins the claim.
      await c.stop('SIGKILL');
      await waitFor(() => count(cAddress, 'remove') >= 1, 'the killed instance removed', (LEASE_TTL + 10) * 1000);
      // Both survivors have seen it go; one claimed the removal and, once done, deleted the listing.
      await waitFor(() => sawLeave(a, cId) && sawLeave(b, cId), 'both survivors saw it leave');
      await waitFor(async () => (await listed()).join() === [aAddress, bAddress].sort().join(), 'the listing deleted');
      expect(count(cAddress, 'remove')).toBe(1);
      expect((await a.metric('ferry_fleet_dc_removals_total')) + (await b.metric('ferry_fleet_dc_removals_total'))).toBe(1);
      expect(await etcd.client.getAll().prefix(removalsPrefix(FLEET)).keys()).toEqual([]);

      // SIGTERM: the instance removes itself before its lease goes; the survivor does not repeat it.
      expect(await b.stop('SIGTERM')).toBe(0);
      expect(count(bAddress, 'remove')).toBe(1);
      expect(b.logs.some((l) => l.msg === 'source DC: removed this instance')).toBe(true);
      await waitFor(() => sawLeave(a, bId), 'the survivor saw it leave');
      expect(await listed()).toEqual([aAddress]);
      expect(count(bAddress, 'remove')).toBe(1);
      expect(await a.metric('ferry_fleet_dc_commands_total{action="add",result="ok"}')).toBeGreaterThanOrEqual(3);
      expect(await a.metric('ferry_fleet_dc_commands_total{action="remove",result="failed"}')).toBe(0);

      // A restarted instance (a new member on the same address) is added again.
      const removedAt = source.xdrCommands.indexOf(command(cAddress, 'remove'));
      restarted = await FerryProcess.start(config(c.port, 'ferry-2-again'));
      await waitFor(() => source.xdrCommands.slice(removedAt + 1).includes(command(cAddress, 'add')), 'the restarted instance added again');
      expect(count(cAddress, 'remove')).toBe(1);
      expect(count(aAddress, 'remove')).toBe(0);
    } finally {
      await Promise.all([...running, ...(restarted === null ? [] : [restarted])].map((p) => p.stop('SIGTERM')));
    }
  }, 120_000);
});
