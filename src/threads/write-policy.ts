/**
 * The write policy main hands the workers at start and on every reload: one seqlocked snapshot
 * (snapshot.ts) that all workers read, polled once per batch (one atomic load while it is unchanged).
 *
 *   SharedArrayBuffer (POLICY_BYTES): snapshot header, then JSON PolicySettings
 */

import { SnapshotCell, isRecord, isStringPairList, jsonCodec } from './snapshot.js';

const POLICY_BYTES = 256 * 1024;

export interface PolicySettings {
  stripLut: boolean;
  stripDurableDelete: boolean;
  /** where each record goes and what of it: `aerospike.routing`, `namespaces`, `namespace-mapping`… */
  routing: RoutingSettings;
  /** the transform module every worker loads (`aerospike.transform`); null = none */
  transform: TransformSettings | null;
  /** last-write-wins by the source's LUT (`aerospike.last-write-wins`); null = off */
  lastWriteWins: LastWriteWinsSettings | null;
}

export interface LastWriteWinsSettings {
  /** the bin holding each record's version */
  bin: string;
  /** seconds a delete's tombstone lives; 0 = deletes are not turned into tombstones */
  tombstoneTtl: number;
}

/**
 * The routing rules with their inheritance already resolved (set over namespace over default):
 * a worker only compiles them into byte tables.
 */
export interface RoutingSettings {
  /** records of namespaces not listed */
  fallback: RouteRule;
  namespaces: ReadonlyArray<{ name: string; rule: RouteRule; sets: ReadonlyArray<{ name: string; rule: RouteRule }> }>;
  /** records of these sets are answered done and not written (`aerospike.skip-sets`) */
  skipSets: readonly string[];
}

export interface RouteRule {
  /** answer done, write nothing */
  skip: boolean;
  /** destination namespace; null = the source's */
  namespace: string | null;
  /** destination set; null = the source's */
  set: string | null;
  /** bins kept (null = all), then bins dropped, then renamed [from, to] */
  include: readonly string[] | null;
  exclude: readonly string[];
  rename: ReadonlyArray<readonly [string, string]>;
}

export interface TransformSettings {
  /** file: URL of the module */
  url: string;
  /** bumped on every reload: the module is imported again (a cache-busting query) */
  version: number;
}

/** The rule that changes nothing. */
export const IDENTITY_RULE: RouteRule = { skip: false, namespace: null, set: null, include: null, exclude: [], rename: [] };

function isStringList(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string' && x !== '');
}

function nameOrNull(v: unknown): v is string | null {
  return v === null || (typeof v === 'string' && v !== '');
}

function ruleOf(raw: unknown, at: string): RouteRule | string {
  if (!isRecord(raw)) return `${at} must be a map`;
  const { skip, namespace, set, include, exclude, rename } = raw;
  if (typeof skip !== 'boolean') return `${at}.skip must be a boolean`;
  if (!nameOrNull(namespace) || !nameOrNull(set)) return `${at}.namespace and .set must be names or null`;
  if (include !== null && !isStringList(include)) return `${at}.include must be null or a list of bin names`;
  if (!isStringList(exclude)) return `${at}.exclude must be a list of bin names`;
  if (!isStringPairList(rename)) return `${at}.rename must be a list of [from, to] bin names`;
  return { skip, namespace, set, include, exclude, rename };
}

function routingOf(raw: unknown): RoutingSettings | string {
  if (!isRecord(raw)) return 'routing must be a map';
  const fallback = ruleOf(raw.fallback, 'routing.fallback');
  if (typeof fallback === 'string') return fallback;
  if (!isStringList(raw.skipSets)) return 'routing.skipSets must be a list of set names';
  if (!Array.isArray(raw.namespaces)) return 'routing.namespaces must be a list';
  const namespaces: Array<RoutingSettings['namespaces'][number]> = [];
  for (const ns of raw.namespaces as unknown[]) {
    if (!isRecord(ns) || typeof ns.name !== 'string' || !Array.isArray(ns.sets)) return 'routing.namespaces: each must be { name, rule, sets }';
    const rule = ruleOf(ns.rule, `routing.namespaces.${ns.name}`);
    if (typeof rule === 'string') return rule;
    const sets: Array<{ name: string; rule: RouteRule }> = [];
    for (const set of ns.sets as unknown[]) {
      if (!isRecord(set) || typeof set.name !== 'string') return `routing.namespaces.${ns.name}.sets: each must be { name, rule }`;
      const r = ruleOf(set.rule, `routing.namespaces.${ns.name}.sets.${set.name}`);
      if (typeof r === 'string') return r;
      sets.push({ name: set.name, rule: r });
    }
    namespaces.push({ name: ns.name, rule, sets });
  }
  return { fallback, namespaces, skipSets: raw.skipSets };
}

function transformOf(raw: unknown): TransformSettings | null | string {
  if (raw === null) return null;
  if (!isRecord(raw) || typeof raw.url !== 'string' || !raw.url.startsWith('file:')) return 'transform.url must be a file: URL';
  if (typeof raw.version !== 'number' || !Number.isInteger(raw.version) || raw.version < 0) return 'transform.version must be a count';
  return { url: raw.url, version: raw.version };
}

function lastWriteWinsOf(raw: unknown): LastWriteWinsSettings | null | string {
  if (raw === null) return null;
  if (!isRecord(raw)) return 'lastWriteWins must be null or a map';
  const { bin, tombstoneTtl } = raw;
  if (typeof bin !== 'string' || bin === '') return 'lastWriteWins.bin must be a bin name';
  if (typeof tombstoneTtl !== 'number' || !Number.isInteger(tombstoneTtl) || tombstoneTtl < 0 || tombstoneTtl > 0xfffffffd) return 'lastWriteWins.tombstoneTtl must be seconds (0 = off)';
  return { bin, tombstoneTtl };
}

const policyCodec = jsonCodec<PolicySettings>('write policy', (raw) => {
  if (!isRecord(raw)) return 'not a map';
  const { stripLut, stripDurableDelete } = raw;
  if (typeof stripLut !== 'boolean' || typeof stripDurableDelete !== 'boolean') return 'stripLut and stripDurableDelete must be booleans';
  const routing = routingOf(raw.routing);
  if (typeof routing === 'string') return routing;
  const transform = transformOf(raw.transform);
  if (typeof transform === 'string') return transform;
  const lastWriteWins = lastWriteWinsOf(raw.lastWriteWins);
  if (typeof lastWriteWins === 'string') return lastWriteWins;
  return { stripLut, stripDurableDelete, routing, transform, lastWriteWins };
});

export function newPolicyBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(POLICY_BYTES);
}

export function policyCell(sab: SharedArrayBuffer): SnapshotCell<PolicySettings> {
  return new SnapshotCell(sab, policyCodec);
}
