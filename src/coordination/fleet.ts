/**
 * Fleet membership in etcd. Each running instance keeps one record under a lease:
 *
 *   __ferry/fleet/<fleet>/members/<instance-id>  →  JSON MemberRecord
 *
 * The instance id is the host name plus a random suffix drawn at each start, so a restarted
 * instance is a new member and the record of its previous run can only be its own. The lease is
 * kept alive by the client; the record is rewritten every few seconds under the same lease with the
 * instance's state and records/s (a put, which does not touch the lease). A SIGTERM revokes the
 * lease before the drain, so the record disappears at once; a crashed instance's record disappears
 * when its lease expires.
 *
 * Nothing here is on the data path: the loop runs on timers, a failure is logged (rate-limited),
 * counted and retried with backoff, and the service keeps replicating meanwhile.
 */

import { Pause } from './pause.js';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Etcd3, Lease } from 'etcd3';
import { ConfigError } from '../config/index.js';
import type { RawConfig } from '../config/schema.js';
import { FerryError } from '../errors.js';
import { openEtcd } from '../mirror/etcd-client.js';
import { MirrorError } from '../mirror/errors.js';
import { clusterOptions } from '../mirror/mirror-group.js';

/** etcd could not be reached or refused a fleet request; the loop retries it. */
export class FleetError extends FerryError {
  readonly code = 'ERR_FLEET_UNAVAILABLE';
  readonly retriable = true;
}

/** What one member says about itself. */
export interface MemberRecord {
  readonly id: string;
  /** host:port the source's XDR should connect to */
  readonly address: string;
  /** ISO 8601 */
  readonly startedAt: string;
  readonly state: MemberState;
  readonly recordsPerSecond: number;
  /** ISO 8601: the last refresh */
  readonly updatedAt: string;
}

/** ready: serving; paused: paused through the management API; not-ready: e.g. no destination. */
export type MemberState = 'ready' | 'paused' | 'not-ready';

/** What the membership reads from the running service. */
export interface MemberSource {
  state(): MemberState;
  /** records received since start (a counter: records/s is its rate between refreshes) */
  records(): number;
}

export interface FleetSettings {
  readonly name: string;
  readonly advertise: string;
  readonly leaseTtlSeconds: number;
}

export interface FleetLog {
  info(fields: Record<string, unknown>, msg: string): void;
  warn(fields: Record<string, unknown>, msg: string): void;
}

export type FleetSection = NonNullable<RawConfig['fleet']>;

/**
 * The `fleet:` section as settings and an etcd client (built as the mirrors build theirs). A
 * password, key or certificate file that cannot be read is a configuration error (exit 2).
 */
export function openFleet(section: FleetSection): { client: Etcd3; settings: FleetSettings } {
  try {
    const cluster = clusterOptions(section, 'fleet', section['command-timeout']);
    const client = openEtcd(cluster, (name) => `fleet.${name}`);
    return { client, settings: { name: section.name, advertise: section.advertise, leaseTtlSeconds: section['lease-ttl'] } };
  } catch (err) {
    if (err instanceof MirrorError) throw new ConfigError([err.message]);
    throw err;
  }
}

export function membersPrefix(fleet: string): string {
  return `__ferry/fleet/${fleet}/members/`;
}

/** Every member's record, by id; a value that is not a member record is skipped. */
export async function listMembers(client: Etcd3, fleet: string): Promise<MemberRecord[]> {
  let values: Record<string, string>;
  try {
    values = await client.getAll().prefix(membersPrefix(fleet)).strings();
  } catch (err) {
    throw new FleetError(`cannot list the members of fleet '${fleet}': ${(err as Error).message}`, { cause: err });
  }
  const out: MemberRecord[] = [];
  for (const value of Object.values(values)) {
    try {
      const r = JSON.parse(value) as Partial<MemberRecord>;
      if (typeof r.id === 'string' && typeof r.address === 'string' && typeof r.startedAt === 'string') out.push(r as MemberRecord);
    } catch {
      // a foreign value under the prefix is not a member
    }
  }
  return out.sort((a, b) => a.id.localeCompare(b.id));
}

const MAX_REFRESH_MS = 5000;
const MIN_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 10_000;
/** a failure is logged at most this often (each is counted) */
const WARN_EVERY_MS = 10_000;

export class FleetMember {
  readonly id = `${hostname()}-${randomBytes(4).toString('hex')}`;
  /** true while this instance's record is in etcd under a live lease */
  registered = false;
  /** members seen at the last refresh (this one included) */
  members = 0;
  /** failed etcd requests */
  failures = 0;
  private readonly startedAt = new Date().toISOString();
  private readonly key: string;
  private readonly refreshMs: number;
  private lease: Lease | null = null;
  private stopped = false;
  private readonly pause = new Pause();
  private loop: Promise<void> | null = null;
  private lastRecords = 0;
  private lastAt = performance.now();
  private warnedAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly client: Etcd3,
    private readonly settings: FleetSettings,
    private readonly source: MemberSource,
    private readonly log: FleetLog,
  ) {
    this.key = `${membersPrefix(settings.name)}${this.id}`;
    // Refreshed several times per TTL, so a reader sees a value at most a few seconds old.
    this.refreshMs = Math.min(MAX_REFRESH_MS, (settings.leaseTtlSeconds * 1000) / 3);
  }

  /** Register now and keep the record fresh until stop(). */
  start(): void {
    this.lastRecords = this.source.records();
    this.lastAt = performance.now();
    this.loop ??= this.run();
  }

  /** Deregister: revoke the lease (the record goes with it) and close the client. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.pause.wake();
    await this.loop;
    const lease = this.lease;
    this.lease = null;
    this.registered = false;
    if (lease !== null) {
      try {
        await lease.revoke();
        this.log.info({ id: this.id, fleet: this.settings.name }, 'left the fleet');
      } catch (err) {
        // The lease then expires on its own within its TTL.
        this.log.warn({ id: this.id, err: (err as Error).message }, 'could not revoke the fleet lease; the membership ends when it expires');
      }
    }
    this.client.close();
  }

  private async run(): Promise<void> {
    let backoffMs = MIN_BACKOFF_MS;
    while (!this.stopped) {
      try {
        await this.refresh();
        backoffMs = MIN_BACKOFF_MS;
        await this.sleep(this.refreshMs);
      } catch (err) {
        this.failed(err);
        await this.sleep(backoffMs);
        backoffMs = Math.min(MAX_BACKOFF_MS, backoffMs * 2);
      }
    }
  }

  /** Grant a lease when there is none, write the record under it, count the members. */
  private async refresh(): Promise<void> {
    if (this.lease === null) {
      const lease = this.client.lease(this.settings.leaseTtlSeconds);
      // A lease that could not be kept alive is gone from etcd: the next round grants a new one.
      lease.on('lost', (err) => {
        // Before registration the failing request reports it itself.
        if (this.lease !== lease || !this.registered) return;
        this.lease = null;
        this.registered = false;
        this.failed(err);
        this.pause.wake();
      });
      this.lease = lease;
      await lease.grant();
    }
    const lease = this.lease;
    await lease.put(this.key).value(JSON.stringify(this.record()));
    if (this.stopped) return;
    if (!this.registered) this.log.info({ id: this.id, fleet: this.settings.name, address: this.settings.advertise }, 'joined the fleet');
    this.registered = true;
    this.members = (await this.client.getAll().prefix(membersPrefix(this.settings.name)).keys()).length;
  }

  private record(): MemberRecord {
    const now = performance.now();
    const records = this.source.records();
    const seconds = (now - this.lastAt) / 1000;
    const recordsPerSecond = seconds > 0 ? Math.round((records - this.lastRecords) / seconds) : 0;
    this.lastRecords = records;
    this.lastAt = now;
    return { id: this.id, address: this.settings.advertise, startedAt: this.startedAt, state: this.source.state(), recordsPerSecond, updatedAt: new Date().toISOString() };
  }

  private failed(err: unknown): void {
    this.failures++;
    this.registered = false;
    // A lease that failed half-way may still be kept alive: drop it, and grant a fresh one.
    if (this.lease !== null) {
      this.lease.release();
      this.lease = null;
    }
    const now = performance.now();
    if (now - this.warnedAt < WARN_EVERY_MS) return;
    this.warnedAt = now;
    const e = err instanceof FleetError ? err : new FleetError((err as Error).message, { cause: err });
    this.log.warn({ code: e.code, err: e.message, failures: this.failures }, 'fleet membership: etcd request failed; retrying');
  }

  private sleep(ms: number): Promise<void> {
    return this.stopped ? Promise.resolve() : this.pause.for(ms);
  }
}
