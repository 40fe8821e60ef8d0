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

export interface MirrorOptions {
  /** identifies the mirror's checkpoint in the destination: `__ferry/mirror/<name>/checkpoint` */
  readonly name: string;
  readonly source: EtcdClusterOptions;
  readonly destination: EtcdClusterOptions;
  readonly prefix: string;
  readonly destPrefix: string;
  readonly maxTxnOps: number;
  /** 0: start from the checkpoint (or an initial sync); N: skip the sync and watch from N + 1 */
  readonly rev: number;
  readonly keepLeases: boolean;
  readonly allowOverlap: boolean;
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
  'allow-overlap'?: boolean | undefined;
}

export const DEFAULT_MAX_TXN_OPS = 128;
export const DEFAULT_COMMAND_TIMEOUT_MS = 10_000;
const NAME = /^[A-Za-z0-9._-]{1,64}$/;

/** Stable default name: two mirrors with the same prefix mapping into one destination share it. */
export function defaultMirrorName(prefix: string, destPrefix: string): string {
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
  // One op of every transaction is the checkpoint, so at least one more is needed for data.
  if (!Number.isInteger(maxTxnOps) || maxTxnOps < 2 || maxTxnOps > 1_000_000) problems.push(`${label('max-txn-ops')} must be an integer between 2 and 1000000, got ${maxTxnOps}`);
  const rev = spec.rev ?? 0;
  if (!Number.isSafeInteger(rev) || rev < 0) problems.push(`${label('rev')} must be an integer ≥ 0, got ${rev}`);
  const name = spec.name ?? defaultMirrorName(prefix, destPrefix);
  if (!NAME.test(name)) problems.push(`${label('name')} must be 1–64 of A–Z a–z 0–9 . _ -, got '${name}'`);
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
    allowOverlap: spec['allow-overlap'] ?? false,
  });
}

/** A cluster's identity for logs and messages (never the password). */
export function describeCluster(c: EtcdClusterOptions): string {
  return c.endpoints.join(',');
}
