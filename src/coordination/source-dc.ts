/**
 * Driving the source DC (`fleet.source`): the source cluster's XDR ships to the addresses its DC
 * lists, so the fleet keeps that list equal to its members, on every source node:
 *
 *   set-config:context=xdr;dc=<dc>;node-address-port=<host:port>;action=add|remove
 *
 * The command is per node, so this tends the source cluster (seeds, then peers-clear-std or
 * peers-tls-std) to know its nodes. Each round, in order:
 *   - members that left since the last round (a SIGTERM revoked their lease, or it expired) are
 *     claimed through etcd: a transaction creates `__ferry/fleet/<fleet>/removals/<id>` only if it
 *     is absent, so exactly one instance wins and sends `remove` to every node;
 *   - every live member's address is sent `add` on each node not yet told (a node that joins later
 *     hears of every member; add is idempotent on the node).
 * A leaving instance claims its own removal and sends `remove` itself before its lease is revoked,
 * so the survivors find the claim taken. A failed command is counted and retried the next round,
 * with backoff; all of it runs on timers, off the data path.
 */

import { Pause } from './pause.js';
import type { Etcd3 } from 'etcd3';
import { ConfigError, readConfigFile, readFirstLine } from '../config/index.js';
import { FerryError } from '../errors.js';
import { InfoFormatError, type Peer, parsePeers } from '../destination/cluster-info.js';
import { type Credentials, LoginError, type Session, authenticateMessage, loginMessage, parseLoginReply } from '../destination/login.js';
import { type LinkAddress, NodeLink, type TlsSettings } from '../destination/node-link.js';
import { addFirstSeed } from '../destination/seeds.js';
import { MessageType } from '../protocol/index.js';
import { type FleetLog, FleetError, type FleetSection, listMembers } from './fleet.js';

/** A source node refused a set-config command, or none of the seeds answered. */
export class SourceDcError extends FerryError {
  readonly code = 'ERR_FLEET_SOURCE';
  readonly retriable = true;
}

export type SourceSection = NonNullable<FleetSection['source']>;

export interface SourceDcSettings {
  readonly fleet: string;
  /** this instance's host:port, as its member record advertises it */
  readonly self: string;
  readonly dc: string;
  readonly seeds: readonly LinkAddress[];
  readonly tls: TlsSettings | null;
  readonly credentials: Credentials | null;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** seconds a removal claim is kept: long after every survivor has seen the member go */
  readonly claimTtlSeconds: number;
}

export type DcAction = 'add' | 'remove';

interface SourceNode {
  readonly id: string;
  readonly addr: LinkAddress;
  readonly link: NodeLink;
  failures: number;
  /** member addresses this node has acknowledged `add` for */
  readonly told: Set<string>;
}

const MAX_BACKOFF_MS = 10_000;

export function removalsPrefix(fleet: string): string {
  return `__ferry/fleet/${fleet}/removals/`;
}

/** `fleet.source` as settings; a TLS or password file that cannot be read is a ConfigError (exit 2). */
export function sourceDcSettings(fleet: FleetSection, source: SourceSection): SourceDcSettings {
  const problems: string[] = [];
  const t = source.tls;
  const read = (path: string | undefined, key: string): Buffer | undefined => (path === undefined ? undefined : readConfigFile(path, `fleet.source.tls.${key}`, problems));
  const tls = t === undefined ? null : { ca: read(t['ca-file'], 'ca-file'), cert: read(t['cert-chain-file'], 'cert-chain-file'), key: read(t['key-file'], 'key-file') };
  const c = source.credentials;
  const password = c?.['password-file'] === undefined ? '' : readFirstLine(c['password-file'], 'fleet.source.credentials.password-file', problems);
  if (problems.length > 0) throw new ConfigError(problems);
  return {
    fleet: fleet.name,
    self: fleet.advertise,
    dc: source.dc,
    seeds: source.seeds.flatMap((seed) => Object.entries(seed).map(([host, o]) => ({ host, port: o?.port ?? 3000, tlsName: o?.['tls-name'] ?? t?.['tls-name'] }))),
    tls,
    credentials: c === undefined ? null : { user: c.username ?? '', password: password ?? '', mode: c['auth-mode'] },
    intervalMs: source['tend-interval'],
    timeoutMs: source.timeout,
    claimTtlSeconds: Math.max(60, fleet['lease-ttl'] * 6),
  };
}

export class SourceDc {
  /** source nodes known, by node id */
  readonly nodes = new Map<string, SourceNode>();
  /** commands sent, by action and result */
  readonly commands = { add: { ok: 0, failed: 0 }, remove: { ok: 0, failed: 0 } };
  /** departed members this instance won the claim for and removed */
  removals = 0;
  /** failed rounds (a seed, etcd or a command) */
  failures = 0;
  /** live members at the last round: id → address */
  private known = new Map<string, string>();
  /** members gone and not yet claimed (etcd failed): id → address */
  private readonly departed = new Map<string, string>();
  /** addresses to remove → the node ids still to tell */
  private readonly removing = new Map<string, Set<string>>();
  private session: Session | null = null;
  private sessionExpires = 0;
  private stopped = false;
  private readonly pause = new Pause();
  private loop: Promise<void> | null = null;

  constructor(
    private readonly client: Etcd3,
    private readonly settings: SourceDcSettings,
    /** this instance's member id: its departure is claimed under it */
    private readonly selfId: string,
    private readonly log: FleetLog,
  ) {}

  /** Start once this instance is registered: its first round adds it. */
  start(): void {
    this.loop ??= this.run();
  }

  /**
   * Before the lease is revoked: stop the rounds, claim this instance's removal (so no survivor
   * sends it again) and send `remove` to every known node, retrying within a few timeouts.
   */
  async leave(): Promise<void> {
    const started = this.loop !== null;
    this.stopped = true;
    this.pause.wake();
    await this.loop;
    if (started) {
      const self = this.settings.self;
      try {
        await this.claim(this.selfId);
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'source DC: could not claim this instance’s removal; a survivor may send it again');
      }
      this.removing.set(self, new Set(this.nodes.keys()));
      const deadline = performance.now() + this.settings.timeoutMs * 3;
      let backoffMs = 100;
      while (!(await this.sendRemovals()) && performance.now() < deadline) {
        await new Promise((r) => setTimeout(r, backoffMs));
        backoffMs = Math.min(1000, backoffMs * 2);
      }
      const left = this.removing.get(self);
      if (left === undefined) this.log.info({ dc: this.settings.dc, address: self, nodes: this.nodes.size }, 'source DC: removed this instance');
      else this.log.warn({ dc: this.settings.dc, address: self, nodes: [...left] }, 'source DC: these nodes were not told this instance left');
    }
    for (const n of this.nodes.values()) n.link.close();
  }

  private async run(): Promise<void> {
    let backoffMs = this.settings.intervalMs;
    while (!this.stopped) {
      let clean: boolean;
      try {
        clean = await this.round();
      } catch (err) {
        const e = err instanceof FerryError ? err : new SourceDcError((err as Error).message, { cause: err });
        this.log.warn({ code: e.code, err: e.message }, 'source DC: round failed; retrying');
        clean = false;
      }
      if (clean) backoffMs = this.settings.intervalMs;
      else this.failures++;
      await this.sleep(clean ? this.settings.intervalMs : backoffMs);
      if (!clean) backoffMs = Math.min(MAX_BACKOFF_MS, backoffMs * 2);
    }
  }

  /** One round; true when every command went through. */
  private async round(): Promise<boolean> {
    if (this.nodes.size === 0) await this.seed();
    if (this.settings.credentials !== null && Date.now() > this.sessionExpires) await this.login(this.nodes.values().next().value?.addr ?? this.settings.seeds[0]!);
    await this.tendNodes();
    const members = await listMembers(this.client, this.settings.fleet);
    const live = new Map(members.map((m) => [m.id, m.address]));
    const addresses = new Set(live.values());
    for (const [id, address] of this.known) if (!live.has(id)) this.departed.set(id, address);
    this.known = live;
    for (const [id, address] of this.departed) {
      // Nodes forget the address; a member coming back on it is told again.
      for (const n of this.nodes.values()) n.told.delete(address);
      if (addresses.has(address)) {
        this.log.info({ member: id, address }, 'source DC: a departed member’s address is in use by a live member; kept');
      } else if (await this.claim(id)) {
        this.removals++;
        this.log.info({ member: id, address, dc: this.settings.dc }, 'source DC: member left; removing it from every source node');
        this.removing.set(address, new Set(this.nodes.keys()));
      } else {
        this.log.info({ member: id, address }, 'source DC: member left; another instance removes it');
      }
      this.departed.delete(id);
    }
    for (const a of addresses) this.removing.delete(a);
    let clean = await this.sendRemovals();
    for (const node of this.nodes.values()) {
      for (const address of addresses) {
        if (node.told.has(address)) continue;
        if (await this.command(node, address, 'add')) node.told.add(address);
        else clean = false;
      }
    }
    return clean;
  }

  /** Create the removal claim for `id` if absent; true when this instance created it. */
  private async claim(id: string): Promise<boolean> {
    const key = `${removalsPrefix(this.settings.fleet)}${id}`;
    try {
      const lease = this.client.lease(this.settings.claimTtlSeconds, { autoKeepAlive: false });
      const leaseId = await lease.grant();
      const r = await this.client.if(key, 'Create', '==', 0).then(this.client.put(key).value(this.settings.self).lease(leaseId)).commit();
      return r.succeeded;
    } catch (err) {
      throw new FleetError(`cannot claim the removal of member '${id}': ${(err as Error).message}`, { cause: err });
    }
  }

  /** Send pending removals; true when none is left. */
  private async sendRemovals(): Promise<boolean> {
    for (const [address, pending] of this.removing) {
      for (const id of [...pending]) {
        const node = this.nodes.get(id);
        // A node gone from the cluster has nothing to forget.
        if (node === undefined || (await this.command(node, address, 'remove'))) pending.delete(id);
      }
      if (pending.size === 0) this.removing.delete(address);
    }
    return this.removing.size === 0;
  }

  private async command(node: SourceNode, address: string, action: DcAction): Promise<boolean> {
    const name = `set-config:context=xdr;dc=${this.settings.dc};node-address-port=${address};action=${action}`;
    try {
      const value = (await node.link.info([name])).get(name) ?? '';
      if (value.trim().toLowerCase() !== 'ok') throw new SourceDcError(`node ${node.id} answered '${value}'`);
      this.commands[action].ok++;
      this.log.info({ node: node.id, dc: this.settings.dc, address, action }, 'source DC: command applied');
      return true;
    } catch (err) {
      this.commands[action].failed++;
      this.log.warn({ code: err instanceof FerryError ? err.code : 'ERR_FLEET_SOURCE', node: node.id, dc: this.settings.dc, address, action, err: (err as Error).message }, 'source DC: command failed; retrying');
      return false;
    }
  }

  private async seed(): Promise<void> {
    const errors = await addFirstSeed(this.settings.seeds, (addr) => this.addNode(addr, undefined));
    if (errors !== null) throw new SourceDcError(`no source seed answered: ${errors.join('; ')}`);
  }

  /** Ask each node who it is and who its peers are: drop the silent, add the new. */
  private async tendNodes(): Promise<void> {
    const peersName = this.settings.tls === null ? 'peers-clear-std' : 'peers-tls-std';
    for (const node of [...this.nodes.values()]) {
      let info: Map<string, string>;
      try {
        info = await node.link.info(['node', peersName]);
      } catch (err) {
        if (++node.failures >= 2) this.drop(node, (err as Error).message);
        continue;
      }
      node.failures = 0;
      if (info.get('node') !== node.id) {
        this.drop(node, `answers as node '${info.get('node') ?? ''}'`);
        continue;
      }
      let peers: Peer[];
      try {
        peers = parsePeers(info.get(peersName) ?? '').peers;
      } catch (err) {
        if (!(err instanceof InfoFormatError)) throw err;
        this.log.warn({ node: node.id, err: err.message }, 'source DC: unreadable peers list');
        continue;
      }
      for (const peer of peers) {
        if (this.nodes.has(peer.id)) continue;
        for (const a of peer.addresses) {
          try {
            await this.addNode({ host: a.host, port: a.port, tlsName: peer.tlsName ?? node.addr.tlsName }, peer.id);
            break;
          } catch (err) {
            this.log.warn({ peer: peer.id, addr: `${a.host}:${a.port}`, err: (err as Error).message }, 'source DC: could not add a source node');
          }
        }
      }
    }
  }

  private async addNode(addr: LinkAddress, expectedId: string | undefined): Promise<void> {
    if (this.settings.credentials !== null && this.session === null) await this.login(addr);
    const link = new NodeLink(addr, this.settings.tls, this.settings.timeoutMs, this.greeting);
    let id: string;
    try {
      id = (await link.info(['node'])).get('node') ?? '';
    } catch (err) {
      link.close();
      throw err;
    }
    if (id === '' || (expectedId !== undefined && id !== expectedId) || this.nodes.has(id)) {
      link.close();
      if (this.nodes.has(id)) return;
      throw new SourceDcError(`${addr.host}:${addr.port}: node id '${id}' is not the expected '${expectedId ?? 'non-empty'}'`);
    }
    this.nodes.set(id, { id, addr, link, failures: 0, told: new Set() });
    this.log.info({ node: id, addr: `${addr.host}:${addr.port}` }, 'source DC: source node added');
  }

  private drop(node: SourceNode, why: string): void {
    node.link.close();
    this.nodes.delete(node.id);
    this.log.warn({ node: node.id, addr: `${node.addr.host}:${node.addr.port}`, why }, 'source DC: source node dropped');
  }

  private async login(addr: LinkAddress): Promise<void> {
    const creds = this.settings.credentials!;
    const link = new NodeLink(addr, this.settings.tls, this.settings.timeoutMs, () => null);
    try {
      const r = await link.request(loginMessage(creds));
      if (r.type !== MessageType.Security) throw new LoginError(`login answered with message type ${r.type}`, -1, true);
      this.session = parseLoginReply(r.body);
    } finally {
      link.close();
    }
    const ttl = this.session.ttlSeconds > 0 ? this.session.ttlSeconds : 24 * 3600;
    // Renewed well before expiry; connections already open stay authenticated.
    this.sessionExpires = Date.now() + Math.max(1000, ttl * 750);
    this.log.info({ user: creds.user }, 'source DC: logged in to the source cluster');
  }

  private greeting = (): Buffer | null => (this.session === null ? null : authenticateMessage(this.settings.credentials!.user, this.session.token));

  private sleep(ms: number): Promise<void> {
    return this.stopped ? Promise.resolve() : this.pause.for(ms);
  }
}
