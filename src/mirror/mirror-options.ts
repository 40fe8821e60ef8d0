/**
 * A mirror's options, in one shape for the command line and the YAML file, validated in one place.
 * Every problem names the option the way the operator wrote it: `--max-txn-ops` on the command line,
 * `mirrors.sources.1.max-txn-ops` in the file.
 */

import { createHash } from 'node:crypto';
import { MirrorOptionsError } from './errors.js';

/** How to reach one etcd cluster (etcdctl's connection flags). */
export interface EtcdClusterOptions {
  /** `host:port` or `http(s)://host:port` */
  readonly endpoints: readonly string[];
  readonly cacert?: string | undefined;
  readonly cert?: string | undefined;
  readonly key?: string | undefined;
  /** etcdctl's `--insecure-transport` (default true): without certificates, speak plain gRPC */
  readonly insecureTransport: boolean;
  readonly user?: string | undefined;
  readonly password?: string | undefined;
  /** per-request deadline; a request past it is a transient failure */
  readonly commandTimeoutMs: number;
}

/**
 * What a mirror may do to destination keys it shares with other mirrors.
 * `merge` (the default): overlap with other merge mirrors is the point; conflicts are counted.
 * `exclusive`: refuse to run beside any mirror whose destination range overlaps this one's.
 * `exact`: exclusive, and a sync deletes every destination key under the prefix the source lacks.
 */
export type MirrorMode = 'merge' | 'exclusive' | 'exact';

export interface MirrorOptions {
  /**
   * identifies the mirror's checkpoint in the destination: `__ferry/mirror/<name>/checkpoint`;
   * null: derived at start from the source cluster's id and the prefix mapping
   */
  readonly name: string | null;
  readonly source: EtcdClusterOptions;
  readonly destination: EtcdClusterOptions;
  readonly prefix: string;
  readonly destPrefix: string;
  readonly maxTxnOps: number;
  /** 0: start from the checkpoint (or an initial sync); N: skip the sync and watch from N + 1 */
  readonly rev: number;
  readonly keepLeases: boolean;
  readonly mode: MirrorMode;
}

/** What the operator wrote, before defaults (kebab-case, as in the YAML file and etcdctl's flags). */
export interface MirrorSpec {
  name?: string | undefined;
  prefix?: string | undefined;
  'dest-prefix'?: string | undefined;
  'no-dest-prefix'?: boolean | undefined;
  'max-txn-ops'?: number | undefined;
  rev?: number | undefined;
  'keep-leases'?: boolean | undefined;
  exclusive?: boolean | undefined;
  'exact-prefix'?: boolean | undefined;
}

export const DEFAULT_MAX_TXN_OPS = 128;
export const MIN_TXN_OPS = 4;
export const DEFAULT_COMMAND_TIMEOUT_MS = 10_000;
const NAME = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * The default name: one per source cluster and prefix mapping, so mirrors of different clusters
 * into one destination never share a checkpoint unless told to (`--name`).
 */
export function defaultMirrorName(sourceClusterId: string, prefix: string, destPrefix: string): string {
  return `m-${createHash('sha256').update(sourceClusterId).update('\0').update(prefix).update('\0').update(destPrefix).digest('hex').slice(0, 12)}`;
}

/** The default name before it included the source cluster: a checkpoint found under it is adopted. */
export function legacyMirrorName(prefix: string, destPrefix: string): string {
  return `m-${createHash('sha256').update(prefix).update('\0').update(destPrefix).digest('hex').slice(0, 12)}`;
}

/**
 * Resolve a spec into options, or throw one MirrorOptionsError listing every problem.
 * `label(key)` renders an option's name for messages.
 */
export function resolveMirrorOptions(
  spec: MirrorSpec,
  clusters: { source: EtcdClusterOptions; destination: EtcdClusterOptions },
  label: (key: string) => string,
): MirrorOptions {
  const problems: string[] = [];
  const prefix = spec.prefix ?? '';
  if (spec['no-dest-prefix'] === true && spec['dest-prefix'] !== undefined && spec['dest-prefix'] !== '') {
    problems.push(`${label('no-dest-prefix')} and ${label('dest-prefix')} exclude each other`);
  }
  const destPrefix = spec['no-dest-prefix'] === true ? '' : (spec['dest-prefix'] ?? prefix);
  const maxTxnOps = spec['max-txn-ops'] ?? DEFAULT_MAX_TXN_OPS;
  // A key's write takes up to three ops (the key, its ownership marker, a new lease mapping), and
  // every transaction carries the checkpoint.
  if (!Number.isInteger(maxTxnOps) || maxTxnOps < MIN_TXN_OPS || maxTxnOps > 1_000_000) problems.push(`${label('max-txn-ops')} must be an integer between ${MIN_TXN_OPS} and 1000000, got ${maxTxnOps}`);
  const rev = spec.rev ?? 0;
  if (!Number.isSafeInteger(rev) || rev < 0) problems.push(`${label('rev')} must be an integer ≥ 0, got ${rev}`);
  const name = spec.name ?? null;
  if (name !== null && !NAME.test(name)) problems.push(`${label('name')} must be 1–64 of A–Z a–z 0–9 . _ -, got '${name}'`);
  // Exact mode deletes whatever else is under the destination prefix: the whole destination, at the root.
  if (spec['exact-prefix'] === true && destPrefix === '') {
    problems.push(`${label('exact-prefix')} needs a dedicated, non-empty destination prefix: at the root it would delete every key the destination holds`);
  }
  if (destPrefix.startsWith('__ferry/mirror/')) {
    problems.push(`${label('dest-prefix')} must not be under the reserved prefix __ferry/mirror/`);
  }
  for (const [side, c] of [
    ['source', clusters.source],
    ['destination', clusters.destination],
  ] as const) {
    const flag = side === 'source' ? 'endpoints' : 'destination';
    if (c.endpoints.length === 0) problems.push(`${label(flag)} needs at least one endpoint`);
    for (const e of c.endpoints) if (!/^(https?:\/\/)?[^\s/:]+(:\d{1,5})?$/.test(e) && !/^(https?:\/\/)?\[[0-9a-fA-F:]+\](:\d{1,5})?$/.test(e)) problems.push(`${label(flag)}: '${e}' is not host:port`);
    if ((c.user === undefined) !== (c.password === undefined)) problems.push(`${label(side === 'source' ? 'user' : 'dest-user')} needs both a user name and a password`);
    if ((c.cert === undefined) !== (c.key === undefined)) problems.push(`${label(side === 'source' ? 'cert' : 'dest-cert')} and ${label(side === 'source' ? 'key' : 'dest-key')} go together`);
  }
  if (problems.length > 0) throw new MirrorOptionsError(problems.join('; '));
  return Object.freeze({
    name,
    source: clusters.source,
    destination: clusters.destination,
    prefix,
    destPrefix,
    maxTxnOps,
    rev,
    keepLeases: spec['keep-leases'] ?? false,
    mode: spec['exact-prefix'] === true ? 'exact' : spec.exclusive === true ? 'exclusive' : 'merge',
  });
}

/** What tells two mirrors apart before their names are known: an explicit name, or source and mapping. */
export function mirrorIdentity(o: MirrorOptions): string {
  return o.name ?? `${[...o.source.endpoints].sort().join(',')} ${JSON.stringify(o.prefix)}→${JSON.stringify(o.destPrefix)}`;
}

/** A cluster's identity for logs and messages (never the password). */
export function describeCluster(c: EtcdClusterOptions): string {
  return c.endpoints.join(',');
}
