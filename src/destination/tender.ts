/**
 * Cluster tending, in the main thread (docs/wire.md §4).
 *
 *   start: seeds (first that answers wins) ─▶ LOGIN (when credentials are set) ─▶ cluster-name check
 *          ─▶ peers ─▶ replicas ─▶ publish the partition map
 *   every interval: each node: node, peers-generation, partition-generation
 *          peers-generation moved     ─▶ refetch peers, add the new nodes
 *          partition-generation moved ─▶ refetch replicas, rebuild owners
 *          a node fails twice running, or answers with another id ─▶ drop it
 *   published: node table + owners per namespace ─▶ PartitionMapWriter (SAB) ─▶ workers
 *
 * The session token is shared with the workers through SessionTokenShare; the tender logs in again
 * before the TTL runs out, and whenever a worker asks (a connection was told 80 or 66).
 */

import type { Logger } from 'pino';
import { PARTITIONS } from '../protocol/index.js';
import { InfoFormatError, masters, parsePeers, parseReplicas } from './cluster-info.js';
import { type Credentials, LoginError, type Session, authenticateMessage, logIn } from './login.js';
import { type LinkAddress, LinkError, NodeLink, type TlsSettings } from './node-link.js';
import { addFirstSeed } from './seeds.js';
import { MAX_NAMESPACES, MAX_NODES, type MapDescription, NO_NODE, type NodeAddress, type PartitionMapWriter, type SessionTokenShare } from '../threads/index.js';
import { FerryError } from '../errors.js';
import { hostPort } from '../host-port.js';
import { LogLimiter } from '../management/logger.js';

export interface TenderOptions {
  seeds: LinkAddress[];
  clusterName: string | undefined;
  tls: TlsSettings | null;
  /** a peer's advertised host → the host to connect to (`aerospike.services.ip-map`) */
  ipMap: Readonly<Record<string, string>>;
  /** ask for the nodes' alternate addresses, peers-*-alt (`aerospike.services.use-services-alternate`) */
  servicesAlternate: boolean;
  credentials: Credentials | null;
  intervalMs: number;
  timeoutMs: number;
  /** last-write-wins writes deletes as tombstones, with a TTL: check that each namespace takes TTLs */
  tombstones: boolean;
}

interface NodeState {
  id: string;
  slot: number;
  addr: LinkAddress;
  link: NodeLink;
  peersGeneration: number;
  partitionGeneration: number;
  failures: number;
  /** namespace → this node's master bitmap */
  replicas: Map<string, Buffer>;
}

export class TenderError extends FerryError {
  readonly code = 'ERR_DESTINATION_CLUSTER';
  readonly retriable = false;
}

export class Tender {
  private readonly nodes = new Map<string, NodeState>();
  private readonly slots: Array<NodeState | null> = [];
  private readonly namespaces: string[] = [];
  private timer: NodeJS.Timeout | null = null;
  private session: Session | null = null;
  private sessionExpires = 0;
  private tending: Promise<void> | null = null;
  edition = '';
  /** tends done, for tests and metrics */
  rounds = 0;
  /** rounds failed in a row, the start's included: an outage, said to be over when one works */
  private failedRounds = 0;
  /** namespaces whose TTL settings have been read (with tombstones on) */
  private readonly ttlChecked = new Set<string>();

  constructor(
    private readonly opts: TenderOptions,
    private readonly map: PartitionMapWriter,
    private readonly share: SessionTokenShare,
    private readonly log: Logger,
    /** bounds `tend failed` lines over an outage (a round a tend interval); tests give it a clock */
    private readonly warnings = new LogLimiter(),
  ) {}

  get nodeCount(): number {
    return this.nodes.size;
  }

  nodeIds(): string[] {
    return [...this.nodes.keys()];
  }

  /**
   * Find the cluster. A wrong user or password throws (a start-up error, not a retry loop); an
   * unreachable cluster does not: tending keeps trying, and records get the retry code meanwhile.
   */
  async start(): Promise<void> {
    try {
      await this.tend();
    } catch (err) {
      if (err instanceof LoginError && !err.retriable) throw err;
      if (err instanceof TenderError) throw err;
      this.failedRounds = 1;
      this.log.warn({ err: (err as Error).message }, 'destination cluster not reachable yet; will keep trying');
    }
    this.timer = setInterval(() => void this.tendSafely(), this.opts.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    for (const n of this.nodes.values()) n.link.close();
  }

  private async tendSafely(): Promise<void> {
    if (this.tending !== null) return;
    this.tending = this.tend()
      .then(
        () => {
          if (this.failedRounds === 0) return;
          this.log.info({ failedRounds: this.failedRounds }, 'tend recovered');
          this.failedRounds = 0;
        },
        (err: unknown) => {
          // After stop() a round still in flight fails as its links close: not worth a line.
          if (this.timer === null) return;
          this.failedRounds++;
          // One key for the whole outage: its cause may change from round to round, and each line
          // carries the latest.
          const suppressed = this.warnings.admit('tend failed');
          if (suppressed === null) return;
          const fields = { err: (err as Error).message };
          this.log.warn(suppressed > 0 ? { ...fields, suppressed } : fields, 'tend failed');
        },
      )
      .finally(() => {
        this.tending = null;
      });
    await this.tending;
  }

  /** One round. Exposed for tests. */
  async tend(): Promise<void> {
    this.rounds++;
    if (this.nodes.size === 0) await this.seed();
    if (this.opts.credentials !== null && (this.share.reloginRequested() || Date.now() > this.sessionExpires)) await this.login();
    let changed = false;
    const peerSources: NodeState[] = [];
    for (const node of [...this.nodes.values()]) {
      let info: Map<string, string>;
      try {
        info = await node.link.info(['node', 'peers-generation', 'partition-generation']);
      } catch (err) {
        node.failures++;
        if (node.failures >= 2) {
          this.log.warn({ node: node.id, addr: hostPort(node.addr.host, node.addr.port), err: (err as Error).message }, 'destination node stopped answering; dropping it');
          this.drop(node);
          changed = true;
        }
        continue;
      }
      node.failures = 0;
      if (info.get('node') !== node.id) {
        this.log.warn({ node: node.id, now: info.get('node') }, 'destination address answers with another node id; dropping it');
        this.drop(node);
        changed = true;
        continue;
      }
      const pg = Number(info.get('peers-generation'));
      if (pg !== node.peersGeneration) {
        node.peersGeneration = pg;
        peerSources.push(node);
      }
      const rg = Number(info.get('partition-generation'));
      if (rg !== node.partitionGeneration && rg >= 0) {
        node.replicas = await this.fetchReplicas(node);
        node.partitionGeneration = rg;
        changed = true;
      }
    }
    for (const node of peerSources) if (await this.discoverPeers(node)) changed = true;
    if (changed) this.publish();
    if (this.opts.tombstones) await this.checkTombstoneTtl();
  }

  /**
   * A tombstone is a write with a TTL, which a namespace refuses with 22 (forbidden) unless nsup
   * runs (`nsup-period` above 0) or `allow-ttl-without-nsup` is true; Community Edition's default is
   * neither, and every delete would then go to the dead letters. Each namespace is read once, when
   * the cluster first lists it (a failed read is tried again next round); one that refuses TTLs is
   * warned about, with the fix.
   */
  private async checkTombstoneTtl(): Promise<void> {
    for (const ns of this.namespaces) {
      if (this.ttlChecked.has(ns)) continue;
      const node = [...this.nodes.values()].find((n) => n.replicas.has(ns));
      if (node === undefined) continue;
      let value: string;
      try {
        value = (await node.link.info([`namespace/${ns}`])).get(`namespace/${ns}`) ?? '';
      } catch {
        return;
      }
      this.ttlChecked.add(ns);
      const settings = new Map(value.split(';').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
      const nsupPeriod = settings.get('nsup-period');
      const allow = settings.get('allow-ttl-without-nsup');
      // A server that does not say (an error, an old version) is not guessed about.
      if (nsupPeriod === undefined || allow === undefined || Number(nsupPeriod) > 0 || allow === 'true') continue;
      this.log.warn(
        { namespace: ns, nsupPeriod: Number(nsupPeriod), allowTtlWithoutNsup: false },
        `namespace ${ns} refuses TTLs, so it refuses every tombstone (22, forbidden) and each delete goes to the dead letters: set nsup-period above 0 or allow-ttl-without-nsup true on the destination namespace, or turn last-write-wins tombstones off`,
      );
    }
  }

  private async seed(): Promise<void> {
    const errors = await addFirstSeed(
      this.opts.seeds,
      (addr) => this.addNode(addr, undefined),
      (err) => (err instanceof LoginError && !err.retriable) || err instanceof TenderError,
    );
    if (errors !== null) throw new LinkError(`no seed answered: ${errors.join('; ')}`);
  }

  /** LOGIN through `addr` (or any known node) and share the token with the workers. */
  private async login(addr?: LinkAddress): Promise<void> {
    const creds = this.opts.credentials!;
    const via = addr ?? (this.nodes.values().next().value as NodeState | undefined)?.addr ?? this.opts.seeds[0]!;
    const { session, renewAt } = await logIn(via, this.opts.tls, this.opts.timeoutMs, creds);
    this.session = session;
    this.sessionExpires = renewAt;
    this.share.publish(creds.user, session.token);
    this.log.info({ user: creds.user, ttlSeconds: session.ttlSeconds }, 'logged in to the destination');
  }

  private greeting = (): Buffer | null => (this.session === null ? null : authenticateMessage(this.opts.credentials!.user, this.session.token));

  /** Connect, log in if needed, check the cluster name, learn id, generations and replicas. */
  private async addNode(addr: LinkAddress, expectedId: string | undefined): Promise<NodeState> {
    if (this.opts.credentials !== null && this.session === null) await this.login(addr);
    const link = new NodeLink(addr, this.opts.tls, this.opts.timeoutMs, this.greeting);
    let info: Map<string, string>;
    try {
      info = await link.info(['node', 'cluster-name', 'edition', 'features', 'peers-generation', 'partition-generation']);
    } catch (err) {
      link.close();
      throw err;
    }
    const id = info.get('node') ?? '';
    if (id === '' || (expectedId !== undefined && id !== expectedId)) {
      link.close();
      throw new LinkError(`${hostPort(addr.host, addr.port)}: node id '${id}' is not the expected '${expectedId ?? 'non-empty'}'`);
    }
    const name = info.get('cluster-name');
    if (this.opts.clusterName !== undefined && name !== this.opts.clusterName) {
      link.close();
      throw new TenderError(`${hostPort(addr.host, addr.port)} belongs to cluster '${name ?? ''}', not '${this.opts.clusterName}' (aerospike.cluster-name)`);
    }
    if (this.edition === '') this.edition = info.get('edition') ?? '';
    const existing = this.nodes.get(id);
    if (existing !== undefined) {
      link.close();
      return existing;
    }
    const slot = this.freeSlot();
    const node: NodeState = { id, slot, addr, link, peersGeneration: Number.NaN, partitionGeneration: Number.NaN, failures: 0, replicas: new Map() };
    this.nodes.set(id, node);
    this.slots[slot] = node;
    this.log.info({ node: id, addr: hostPort(addr.host, addr.port), slot }, 'destination node added');
    return node;
  }

  private freeSlot(): number {
    for (let i = 0; i < this.slots.length; i++) if (this.slots[i] === null) return i;
    if (this.slots.length >= MAX_NODES) throw new TenderError(`more than ${MAX_NODES} destination nodes`);
    this.slots.push(null);
    return this.slots.length - 1;
  }

  private drop(node: NodeState): void {
    node.link.close();
    this.nodes.delete(node.id);
    this.slots[node.slot] = null;
  }

  private async fetchReplicas(node: NodeState): Promise<Map<string, Buffer>> {
    const info = await node.link.info(['replicas']);
    const value = info.get('replicas') ?? '';
    if (value.startsWith('ERROR')) {
      const old = await node.link.info(['replicas-master']);
      return parseReplicas(old.get('replicas-master') ?? '');
    }
    return parseReplicas(value);
  }

  /** Add the peers a node lists that are not known yet. Returns whether any was added. */
  private async discoverPeers(node: NodeState): Promise<boolean> {
    const name = `peers-${this.opts.tls === null ? 'clear' : 'tls'}-${this.opts.servicesAlternate ? 'alt' : 'std'}`;
    let value: string;
    try {
      value = (await node.link.info([name])).get(name) ?? '';
    } catch (err) {
      this.log.warn({ node: node.id, err: (err as Error).message }, 'could not read peers');
      return false;
    }
    let added = false;
    try {
      for (const peer of parsePeers(value).peers) {
        if (this.nodes.has(peer.id)) continue;
        for (const a of peer.addresses) {
          try {
            const n = await this.addNode({ host: this.opts.ipMap[a.host] ?? a.host, port: a.port, tlsName: peer.tlsName ?? node.addr.tlsName }, peer.id);
            n.replicas = await this.fetchReplicas(n);
            added = true;
            break;
          } catch (err) {
            this.log.warn({ peer: peer.id, addr: hostPort(a.host, a.port), err: (err as Error).message }, 'could not add peer');
          }
        }
      }
    } catch (err) {
      if (!(err instanceof InfoFormatError)) throw err;
      this.log.warn({ node: node.id, err: err.message }, 'unreadable peers list');
    }
    return added;
  }

  private publish(): void {
    for (const node of this.nodes.values()) for (const ns of node.replicas.keys()) if (!this.namespaces.includes(ns) && this.namespaces.length < MAX_NAMESPACES) this.namespaces.push(ns);
    const owners = this.namespaces.map((ns) => {
      const table = new Uint8Array(PARTITIONS).fill(NO_NODE);
      for (const node of this.nodes.values()) {
        const bitmap = node.replicas.get(ns);
        if (bitmap === undefined) continue;
        for (let p = 0; p < PARTITIONS; p++) if (masters(bitmap, p)) table[p] = node.slot;
      }
      return table;
    });
    const desc: MapDescription = {
      nodes: this.slots.map((n): NodeAddress | null => (n === null ? null : { id: n.id, host: n.addr.host, port: n.addr.port, tlsName: n.addr.tlsName })),
      namespaces: [...this.namespaces],
    };
    this.map.publish(desc, owners);
    let owned = 0;
    for (const t of owners) for (let p = 0; p < PARTITIONS; p++) if (t[p] !== NO_NODE) owned++;
    this.log.info({ nodes: this.nodeIds(), namespaces: this.namespaces, ownedPartitions: owned }, 'partition map published');
  }
}
