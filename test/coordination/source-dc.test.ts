/**
 * The DC driver in-process, against a real etcd and a two-node cluster of doubles with security:
 * it logs in, finds a node that joins later through peers and tells it every live member, removes
 * a departed member from every node, and on leave removes itself and claims its own removal.
 */

import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FleetMember } from '../../src/coordination/fleet.js';
import { SourceDc, type SourceDcSettings, removalsPrefix } from '../../src/coordination/source-dc.js';
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
    claimTtlSeconds: 60,
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
      expect(await etcd.client.get(`${removalsPrefix(FLEET)}${two.id}`).string()).toBe('10.0.0.1:8901');
      expect(dc.commands).toEqual({ add: { ok: 4, failed: 0 }, remove: { ok: 2, failed: 0 } });
    } finally {
      await dc.leave();
      await one.stop();
    }
    expect(count(0, '10.0.0.1:8901', 'remove')).toBe(1);
    expect(count(1, '10.0.0.1:8901', 'remove')).toBe(1);
    expect(await etcd.client.get(`${removalsPrefix(FLEET)}${one.id}`).string()).toBe('10.0.0.1:8901');
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
});
