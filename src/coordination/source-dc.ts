/**
 * Driving the source DC (`fleet.source`): the source cluster's XDR ships to the addresses its DC
 * lists, so the fleet keeps that list equal to its members, on every source node:
 *
 *   set-config:context=xdr;dc=<dc>;node-address-port=<host:port>;action=add|remove
 *
 * The command is per node, so this tends the source cluster (seeds, then peers-clear-std or
 * peers-tls-std) to know its nodes. What the fleet has put in the DC is recorded in etcd, outside
 * any lease, so it outlives whoever put it there:
 *
 *   __ferry/fleet/<fleet>/dc/<host:port>        → member id   written before the first `add`
 *   __ferry/fleet/<fleet>/removals/<host:port>  → remover     a claim, under the remover's lease
 *
 * Each round, in order:
 *   - this instance lists its own address (once; again if it was removed while its lease lapsed);
 *   - every listed address that no live member advertises is an orphan: its member left (a SIGKILL,
 *     an expired lease), perhaps before any instance now running started. One instance claims it
 *     through a transaction (the claim must be absent and the listing unchanged since it was read),
 *     sends `remove` to every node, then deletes listing and claim in one transaction. A claimer
 *     that dies loses its lease and the claim with it, so another instance takes the removal over;
 *   - every listed address of a live member is sent `add` on each node not yet told (a node that
 *     joins later hears of every member; add is idempotent on the node).
 * A leaving instance claims its own removal and sends `remove` itself before its lease is revoked.
 * A failed command is counted and retried the next round, with backoff; all of it runs on timers,
 * off the data path.
 */

import { Pause } from './pause.js';
import type { Etcd3, Lease } from 'etcd3';
import { ConfigError, readConfigFile, readFirstLine } from '../config/index.js';
import { FerryError } from '../errors.js';
import { hostPort } from '../host-port.js';
import { InfoFormatError, type Peer, parsePeers } from '../destination/cluster-info.js';
import { type Credentials, type Session, authenticateMessage, logIn } from '../destination/login.js';
import { type LinkAddress, NodeLink, type TlsSettings } from '../destination/node-link.js';
import { addFirstSeed } from '../destination/seeds.js';
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
  /** seconds a removal claim outlives a claimer that died (the fleet's lease TTL) */
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

/** Where the addresses the fleet put in the source DC are listed. */
export function listingsPrefix(fleet: string): string {
  return `__ferry/fleet/${fleet}/dc/`;
}

/** A listed address as read: who listed it, and the revisions that say whether it changed. */
interface Listing {
  readonly member: string;
  readonly created: string;
  readonly modified: string;
}

/** An orphan this instance claimed: the listing it read, and the nodes still to tell. */
interface Removal {
  readonly listing: Listing;
  readonly pending: Set<string>;
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
    claimTtlSeconds: fleet['lease-ttl'],
  };
}

export class SourceDc {
  /** source nodes known, by node id */
  readonly nodes = new Map<string, SourceNode>();
  /** commands sent, by action and result */
  readonly commands = { add: { ok: 0, failed: 0 }, remove: { ok: 0, failed: 0 } };
  /** orphaned addresses this instance won the claim for */
  removals = 0;
  /** failed rounds (a seed, etcd or a command) */
  failures = 0;
  /** live members at the last round: id → address (for the log) */
  private known = new Map<string, string>();
  /** listings at the last round: address → create revision (a new one is told to every node) */
  private readonly listed = new Map<string, string>();
  /** orphans this instance claimed and is removing, by address */
  private readonly removing = new Map<string, Removal>();
  /** orphans seen claimed by another instance (logged once each) */
  private readonly othersRemove = new Set<string>();
  private claimLease: Lease | null = null;
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
   * sends it again), send `remove` to every known node (retrying within a few timeouts), and delete
   * the listing. What could not be done is left to a survivor: the listing stays an orphan.
   */
  async leave(): Promise<void> {
    const started = this.loop !== null;
    this.stopped = true;
    this.pause.wake();
    await this.loop;
    if (started) await this.removeSelf();
    for (const n of this.nodes.values()) n.link.close();
    const lease = this.claimLease;
    this.claimLease = null;
    await lease?.revoke().catch(() => undefined);
  }

  private async removeSelf(): Promise<void> {
    const self = this.settings.self;
    const dc = this.settings.dc;
    let listing: Listing | undefined;
    try {
      listing = (await this.readListings()).get(self);
      if (listing !== undefined && !(await this.claim(self, listing))) listing = undefined;
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'source DC: could not claim this instance’s removal; a survivor removes it');
      return;
    }
    if (listing === undefined) {
      this.log.warn({ dc, address: self }, 'source DC: this instance is not listed or its removal is claimed by another; left to it');
      return;
    }
    this.removing.set(self, { listing, pending: new Set(this.nodes.keys()) });
    const deadline = performance.now() + this.settings.timeoutMs * 3;
    let backoffMs = 100;
    while (!(await this.sendRemovals()) && performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, backoffMs));
      backoffMs = Math.min(1000, backoffMs * 2);
    }
    const left = this.removing.get(self);
    if (left === undefined) this.log.info({ dc, address: self, nodes: this.nodes.size }, 'source DC: removed this instance');
    else this.log.warn({ dc, address: self, nodes: [...left.pending] }, 'source DC: these nodes were not told this instance left; a survivor tells them');
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
    for (const [id, address] of this.known) if (!live.has(id)) this.log.info({ member: id, address }, 'source DC: member left');
    this.known = live;
    const listings = await this.readListings();
    if (addresses.has(this.settings.self) && !listings.has(this.settings.self)) {
      // Before any node hears of this address, so a crash cannot leave it in the DC unlisted.
      const listing = await this.listSelf();
      if (listing !== null) listings.set(this.settings.self, listing);
    }
    this.noteListings(listings);
    for (const [address, r] of this.removing) {
      // A member came back on the address before every node forgot it: keep it, tell nodes again.
      if (!addresses.has(address) && listings.get(address)?.modified === r.listing.modified) continue;
      this.removing.delete(address);
      await this.release(address);
      for (const n of this.nodes.values()) n.told.delete(address);
      this.log.info({ address }, 'source DC: removal abandoned: the address is in use again');
    }
    for (const [address, listing] of listings) {
      if (addresses.has(address) || this.removing.has(address)) continue;
      if (await this.claim(address, listing)) {
        this.removals++;
        this.log.info({ member: listing.member, address, dc: this.settings.dc }, 'source DC: member left; removing it from every source node');
        this.removing.set(address, { listing, pending: new Set(this.nodes.keys()) });
      } else if (!this.othersRemove.has(address)) {
        this.othersRemove.add(address);
        this.log.info({ member: listing.member, address }, 'source DC: member left; another instance removes it');
      }
    }
    for (const a of this.othersRemove) if (!listings.has(a) || addresses.has(a)) this.othersRemove.delete(a);
    let clean = await this.sendRemovals();
    for (const node of this.nodes.values()) {
      for (const address of addresses) {
        if (node.told.has(address) || !listings.has(address)) continue;
        if (await this.command(node, address, 'add')) node.told.add(address);
        else clean = false;
      }
    }
    return clean;
  }

  /** A listing created anew (its address removed and listed again) must reach every node again. */
  private noteListings(listings: Map<string, Listing>): void {
    for (const [address, created] of this.listed) {
      if (listings.get(address)?.created === created) continue;
      this.listed.delete(address);
      for (const n of this.nodes.values()) n.told.delete(address);
    }
    for (const [address, l] of listings) this.listed.set(address, l.created);
  }

  private async readListings(): Promise<Map<string, Listing>> {
    const prefix = listingsPrefix(this.settings.fleet);
    try {
      const r = await this.client.getAll().prefix(prefix).exec();
      return new Map(r.kvs.map((kv) => [kv.key.toString('utf8').slice(prefix.length), { member: kv.value.toString('utf8'), created: kv.create_revision, modified: kv.mod_revision }]));
    } catch (err) {
      throw new FleetError(`cannot read the source DC listings: ${(err as Error).message}`, { cause: err });
    }
  }

  /** List this instance's address if no listing exists; the listing as written, or null if another did. */
  private async listSelf(): Promise<Listing | null> {
    const key = `${listingsPrefix(this.settings.fleet)}${this.settings.self}`;
    try {
      const r = await this.client.if(key, 'Create', '==', 0).then(this.client.put(key).value(this.selfId)).commit();
      if (!r.succeeded) return null;
      const rev = r.header.revision;
      return { member: this.selfId, created: rev, modified: rev };
    } catch (err) {
      throw new FleetError(`cannot list this instance in the source DC: ${(err as Error).message}`, { cause: err });
    }
  }

  /** The lease claims are kept under: kept alive while this instance runs, gone when it dies. */
  private async lease(): Promise<string> {
    if (this.claimLease === null) {
      const lease = this.client.lease(this.settings.claimTtlSeconds);
      lease.on('lost', () => {
        if (this.claimLease === lease) this.claimLease = null;
      });
      this.claimLease = lease;
    }
    return this.claimLease.grant();
  }

  /** Claim the removal of `address` if unclaimed and its listing unchanged; true when this instance did. */
  private async claim(address: string, listing: Listing): Promise<boolean> {
    const fleet = this.settings.fleet;
    const key = `${removalsPrefix(fleet)}${address}`;
    try {
      const leaseId = await this.lease();
      const r = await this.client
        .if(key, 'Create', '==', 0)
        .and(`${listingsPrefix(fleet)}${address}`, 'Mod', '==', listing.modified)
        .then(this.client.put(key).value(this.settings.self).lease(leaseId))
        .commit();
      return r.succeeded;
    } catch (err) {
      throw new FleetError(`cannot claim the removal of '${address}': ${(err as Error).message}`, { cause: err });
    }
  }

  /** Every node forgot `address`: delete its listing (if unchanged) and the claim, together. */
  private async finish(address: string, listing: Listing): Promise<void> {
    const fleet = this.settings.fleet;
    const listingKey = `${listingsPrefix(fleet)}${address}`;
    const claimKey = `${removalsPrefix(fleet)}${address}`;
    await this.client
      .if(listingKey, 'Mod', '==', listing.modified)
      .then(this.client.delete().key(listingKey), this.client.delete().key(claimKey))
      .else(this.client.delete().key(claimKey))
      .commit();
  }

  /** Drop a claim this instance no longer acts on. */
  private async release(address: string): Promise<void> {
    await this.client.delete().key(`${removalsPrefix(this.settings.fleet)}${address}`);
  }

  /** Send pending removals; true when none is left. */
  private async sendRemovals(): Promise<boolean> {
    for (const [address, r] of this.removing) {
      for (const id of [...r.pending]) {
        const node = this.nodes.get(id);
        // A node gone from the cluster has nothing to forget.
        if (node === undefined || (await this.command(node, address, 'remove'))) r.pending.delete(id);
      }
      if (r.pending.size > 0) continue;
      try {
        await this.finish(address, r.listing);
      } catch (err) {
        this.log.warn({ address, err: (err as Error).message }, 'source DC: removed from every node but the listing could not be deleted; retrying');
        continue;
      }
      this.removing.delete(address);
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
            this.log.warn({ peer: peer.id, addr: hostPort(a.host, a.port), err: (err as Error).message }, 'source DC: could not add a source node');
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
      throw new SourceDcError(`${hostPort(addr.host, addr.port)}: node id '${id}' is not the expected '${expectedId ?? 'non-empty'}'`);
    }
    this.nodes.set(id, { id, addr, link, failures: 0, told: new Set() });
    // A node that joins during a removal may have heard of the address before: it is told too.
    for (const r of this.removing.values()) r.pending.add(id);
    this.log.info({ node: id, addr: hostPort(addr.host, addr.port) }, 'source DC: source node added');
  }

  private drop(node: SourceNode, why: string): void {
    node.link.close();
    this.nodes.delete(node.id);
    this.log.warn({ node: node.id, addr: `${node.addr.host}:${node.addr.port}`, why }, 'source DC: source node dropped');
  }

  private async login(addr: LinkAddress): Promise<void> {
    const creds = this.settings.credentials!;
    const { session, renewAt } = await logIn(addr, this.settings.tls, this.settings.timeoutMs, creds);
    this.session = session;
    this.sessionExpires = renewAt;
    this.log.info({ user: creds.user }, 'source DC: logged in to the source cluster');
  }

  private greeting = (): Buffer | null => (this.session === null ? null : authenticateMessage(this.settings.credentials!.user, this.session.token));

  private sleep(ms: number): Promise<void> {
    return this.stopped ? Promise.resolve() : this.pause.for(ms);
  }
}
