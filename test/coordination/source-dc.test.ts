/**
 * The DC driver in-process, against a real etcd and a two-node cluster of doubles with security:
 * it logs in, finds a node that joins later through peers and tells it every live member, removes
 * a departed member from every node, and on leave removes itself and claims its own removal.
 */

import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FleetMember } from '../../src/coordination/fleet.js';
import { SourceDc, type SourceDcSettings, listingsPrefix, removalsPrefix } from '../../src/coordination/source-dc.js';
import { DoubleCluster } from '../double/cluster.js';
import { type EtcdServer, startEtcd } from '../support/etcd.js';

const FLEET = 'dc-unit';
const DC = 'dc2';

let etcd: EtcdServer;
let cluster: DoubleCluster;
const clients: Etcd3[] = [];

interface Line {
  msg: string;
  fields: Record<string, unknown>;
}

function logTo(lines: Line[]): { info: (f: Record<string, unknown>, m: string) => void; warn: (f: Record<string, unknown>, m: string) => void } {
  const add = (fields: Record<string, unknown>, msg: string): void => void lines.push({ msg, fields });
  return { info: add, warn: add };
}

function member(address: string, fleet = FLEET): FleetMember {
  const client = new Etcd3({ hosts: etcd.endpoint });
  clients.push(client);
  return new FleetMember(client, { name: fleet, advertise: address, leaseTtlSeconds: 5 }, { state: () => 'ready', records: () => 0 }, logTo([]));
}

const command = (address: string, action: 'add' | 'remove'): string => `context=xdr;dc=${DC};node-address-port=${address};action=${action}`;
const count = (node: number, address: string, action: 'add' | 'remove'): number => cluster.nodes[node]!.xdrCommands.filter((c) => c === command(address, action)).length;

async function waitFor(cond: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`${what}: not within ${timeoutMs} ms; node commands: ${JSON.stringify(cluster.nodes.map((n) => n.xdrCommands))}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function waitForAsync(cond: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const keys = (prefix: string): Promise<string[]> => etcd.client.getAll().prefix(prefix).keys();

function settingsFor(fleet: string, self: string): SourceDcSettings {
  const seed = cluster.seeds()[0]!;
  return {
    fleet,
    self,
    dc: DC,
    seeds: [{ host: seed.host, port: seed.port, tlsName: undefined }],
    tls: null,
    credentials: { user: 'xdr-admin', password: 'secret', mode: 'internal' },
    intervalMs: 100,
    timeoutMs: 1000,
    claimTtlSeconds: 2,
  };
}

beforeAll(async () => {
  etcd = await startEtcd({ name: 'source-dc' });
  cluster = await DoubleCluster.start({ nodes: 2, security: { users: { 'xdr-admin': 'secret' } } });
});

afterAll(async () => {
  for (const c of clients) c.close();
  await cluster?.close();
  await etcd?.close();
});

describe('SourceDc', () => {
  it('tells a later node every member, removes a departed member everywhere, and removes itself on leave', async () => {
    await cluster.kill(1);
    const one = member('10.0.0.1:8901');
    const two = member('10.0.0.2:8901');
    one.start();
    two.start();
    await waitFor(() => one.registered && two.registered, 'both registered');
    // The second member's own driver would list it; this test drives the first one only.
    await etcd.client.put(`${listingsPrefix(FLEET)}10.0.0.2:8901`).value(two.id);
    const settings = settingsFor(FLEET, '10.0.0.1:8901');
    const lines: Line[] = [];
    const dcClient = new Etcd3({ hosts: etcd.endpoint });
    clients.push(dcClient);
    const dc = new SourceDc(dcClient, settings, one.id, logTo(lines));
    dc.start();
    try {
      await waitFor(() => count(0, '10.0.0.1:8901', 'add') === 1 && count(0, '10.0.0.2:8901', 'add') === 1, 'both members added on node 0');
      expect(lines.some((l) => l.msg === 'source DC: logged in to the source cluster')).toBe(true);

      // A node that joins later hears of every live member.
      await cluster.restart(1);
      await waitFor(() => count(1, '10.0.0.1:8901', 'add') === 1 && count(1, '10.0.0.2:8901', 'add') === 1, 'both members added on the joining node');
      expect(dc.nodes.size).toBe(2);

      // A member gone from etcd is claimed and removed from every node, once.
      await two.stop();
      await waitFor(() => count(0, '10.0.0.2:8901', 'remove') === 1 && count(1, '10.0.0.2:8901', 'remove') === 1, 'the departed member removed');
      expect(dc.removals).toBe(1);
      // Done: the listing and the claim are gone together.
      await waitForAsync(async () => (await keys(listingsPrefix(FLEET))).join() === `${listingsPrefix(FLEET)}10.0.0.1:8901`, 'the listing deleted');
      expect(await keys(removalsPrefix(FLEET))).toEqual([]);
      expect(dc.commands).toEqual({ add: { ok: 4, failed: 0 }, remove: { ok: 2, failed: 0 } });
    } finally {
      await dc.leave();
      await one.stop();
    }
    expect(count(0, '10.0.0.1:8901', 'remove')).toBe(1);
    expect(count(1, '10.0.0.1:8901', 'remove')).toBe(1);
    expect(await keys(listingsPrefix(FLEET))).toEqual([]);
    expect(await keys(removalsPrefix(FLEET))).toEqual([]);
    expect(lines.some((l) => l.msg === 'source DC: removed this instance')).toBe(true);
  }, 60_000);

  it('retries a refused command with backoff until the node accepts it', async () => {
    const one = member('10.0.0.9:8901', 'dc-retry');
    one.start();
    await waitFor(() => one.registered, 'registered');
    cluster.nodes[0]!.xdrRefusals = 2;
    const lines: Line[] = [];
    const dcClient = new Etcd3({ hosts: etcd.endpoint });
    clients.push(dcClient);
    const dc = new SourceDc(dcClient, settingsFor('dc-retry', '10.0.0.9:8901'), one.id, logTo(lines));
    dc.start();
    try {
      await waitFor(() => count(0, '10.0.0.9:8901', 'add') === 1 && count(1, '10.0.0.9:8901', 'add') === 1, 'added on both nodes');
      expect(dc.commands.add).toEqual({ ok: 2, failed: 2 });
      expect(dc.failures).toBe(2);
      const refused = lines.filter((l) => l.msg === 'source DC: command failed; retrying');
      expect(refused.map((l) => [l.fields['code'], l.fields['action'], l.fields['err']])).toEqual([
        ['ERR_FLEET_SOURCE', 'add', `node ${cluster.nodes[0]!.nodeId} answered 'ERROR:4:refused by the test'`],
        ['ERR_FLEET_SOURCE', 'add', `node ${cluster.nodes[0]!.nodeId} answered 'ERROR:4:refused by the test'`],
      ]);
    } finally {
      await dc.leave();
      await one.stop();
    }
  }, 60_000);

  it('removes a member that died before any instance now running started, and takes over a removal whose claimer died', async () => {
    const fleet = 'dc-orphans';
    // Listed by instances that are gone: one died while no other ran; the other's remover died
    // holding the claim (its lease expires on its own).
    await etcd.client.put(`${listingsPrefix(fleet)}10.0.0.7:8901`).value('gone-1');
    await etcd.client.put(`${listingsPrefix(fleet)}10.0.0.8:8901`).value('gone-2');
    const deadClaimer = etcd.client.lease(2, { autoKeepAlive: false });
    await deadClaimer.put(`${removalsPrefix(fleet)}10.0.0.8:8901`).value('10.0.0.99:8901');
    const one = member('10.0.0.3:8901', fleet);
    one.start();
    await waitFor(() => one.registered, 'registered');
    const lines: Line[] = [];
    const dcClient = new Etcd3({ hosts: etcd.endpoint });
    clients.push(dcClient);
    const dc = new SourceDc(dcClient, settingsFor(fleet, '10.0.0.3:8901'), one.id, logTo(lines));
    dc.start();
    try {
      await waitFor(() => [0, 1].every((n) => count(n, '10.0.0.7:8901', 'remove') === 1 && count(n, '10.0.0.3:8901', 'add') === 1), 'the orphan removed, this instance added');
      expect(lines.some((l) => l.msg === 'source DC: member left; another instance removes it' && l.fields['member'] === 'gone-2')).toBe(true);
      // The dead claimer's lease expires: the removal is taken over, once.
      await waitFor(() => [0, 1].every((n) => count(n, '10.0.0.8:8901', 'remove') === 1), 'the abandoned removal taken over');
      await waitForAsync(async () => (await keys(listingsPrefix(fleet))).join() === `${listingsPrefix(fleet)}10.0.0.3:8901`, 'the orphans’ listings deleted');
      expect(await keys(removalsPrefix(fleet))).toEqual([]);
      expect(dc.removals).toBe(2);
      expect([0, 1].map((n) => count(n, '10.0.0.7:8901', 'remove') + count(n, '10.0.0.8:8901', 'remove'))).toEqual([2, 2]);
    } finally {
      await dc.leave();
      await one.stop();
    }
  }, 60_000);
});
