/**
 * Reads, validates and freezes the configuration, once, at start-up. Nothing else reads the file.
 * Every error names the key's path and the rule; an unknown key gets a did-you-mean hint.
 */

import { readFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { configSchema, type RawConfig } from './schema.js';

export class ConfigError extends Error {
  readonly code = 'ERR_CONFIG';
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
  }
}

export interface FerryConfig {
  readonly raw: RawConfig;
  readonly service: {
    readonly ports: readonly number[];
    readonly addresses: readonly string[];
    readonly workerThreads: number;
    readonly maxConcurrentRecords: number;
    readonly ackDeadlineMs: number;
    readonly maxFrameSize: number;
    readonly maxInFlightPerConnection: number;
    /** CPUs worker i is pinned to: cpus[i % length]; empty = no pinning */
    readonly cpus: readonly number[];
  };
  readonly destination: AerospikeDestination | FileDestination;
  readonly logging: RawConfig['logging'];
}

export interface AerospikeDestination {
  readonly kind: 'aerospike';
  readonly host: string;
  readonly port: number;
  readonly connectionsPerNode: number;
  readonly pipelineDepth: number;
  readonly connectTimeoutMs: number;
  readonly writeTimeoutMs: number;
  readonly namespaceMap: ReadonlyArray<readonly [string, string]>;
  readonly lut: 'keep' | 'strip';
  readonly durableDelete: 'auto' | 'keep' | 'strip';
}

export interface FileDestination {
  readonly kind: 'file';
  readonly path: string;
  readonly format: 'json' | 'msgpack';
  readonly sync: boolean;
}

function pathOf(path: ReadonlyArray<PropertyKey>): string {
  return path.map((p) => String(p)).join('.') || '(top level)';
}

/** Edit distance, for "did you mean" on unknown keys. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

function knownKeysAt(path: ReadonlyArray<PropertyKey>): string[] {
  let node: z.ZodType = configSchema;
  for (const p of path) {
    const shape = shapeOf(node);
    if (shape === null) return [];
    const next = shape[String(p)];
    if (next === undefined) return [];
    node = next;
  }
  const shape = shapeOf(node);
  return shape === null ? [] : Object.keys(shape);
}

function shapeOf(t: z.ZodType): Record<string, z.ZodType> | null {
  let cur: unknown = t;
  for (let i = 0; i < 8 && cur !== null && typeof cur === 'object'; i++) {
    const def = (cur as { def?: { type?: string; shape?: Record<string, z.ZodType>; innerType?: unknown; in?: unknown } }).def;
    if (def === undefined) return null;
    if (def.type === 'object' && def.shape !== undefined) return def.shape;
    cur = def.innerType ?? def.in;
  }
  return null;
}

export function describeIssues(error: z.ZodError): string[] {
  const out: string[] = [];
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      const known = knownKeysAt(issue.path);
      for (const key of issue.keys) {
        const best = known.map((k) => [k, distance(key, k)] as const).sort((a, b) => a[1] - b[1])[0];
        const hint = best !== undefined && best[1] <= Math.max(2, Math.floor(key.length / 3)) ? ` (did you mean '${best[0]}'?)` : known.length > 0 ? ` (known keys: ${known.join(', ')})` : '';
        out.push(`${pathOf([...issue.path, key])}: unknown key${hint}`);
      }
      continue;
    }
    out.push(`${pathOf(issue.path)}: ${issue.message}`);
  }
  return out;
}

/** What `ferry run` starts: the XDR service when a destination is configured, and any mirrors. */
export interface RunConfig {
  readonly raw: RawConfig;
  /** null when the file configures etcd mirrors only */
  readonly xdr: FerryConfig | null;
  readonly logging: RawConfig['logging'];
}

function parseRaw(doc: unknown): RawConfig {
  const parsed = configSchema.safeParse(doc ?? {});
  if (!parsed.success) throw new ConfigError(describeIssues(parsed.error));
  return parsed.data;
}

/** Validate an already-parsed document that configures the XDR service. */
export function buildConfig(doc: unknown): FerryConfig {
  const raw = parseRaw(doc);
  if (raw.aerospike === undefined && raw.file === undefined) throw new ConfigError(['aerospike: the XDR service needs a destination: an aerospike or a file section']);
  return fromRaw(raw);
}

/** Validate an already-parsed document for `ferry run`: XDR, mirrors, or both. */
export function buildRunConfig(doc: unknown): RunConfig {
  const raw = parseRaw(doc);
  const xdr = raw.aerospike !== undefined || raw.file !== undefined ? fromRaw(raw) : null;
  return deepFreeze({ raw, xdr, logging: raw.logging });
}

function fromRaw(raw: RawConfig): FerryConfig {
  const s = raw.service;
  const ports = Array.isArray(s.port) ? s.port : [s.port];
  const addresses = Array.isArray(s.address) ? s.address : [s.address];
  const destination = raw.aerospike !== undefined ? aerospikeDestination(raw.aerospike, s['ack-deadline']) : fileDestination(raw.file!);
  const cfg: FerryConfig = {
    raw,
    service: {
      ports,
      addresses,
      // One writer keeps a file destination's changes in arrival order.
      workerThreads: destination.kind === 'file' ? 1 : (s['worker-threads'] ?? cpus().length),
      maxConcurrentRecords: s['max-concurrent-records'],
      ackDeadlineMs: s['ack-deadline'],
      maxFrameSize: s['max-frame-size'],
      maxInFlightPerConnection: Math.min(s['max-in-flight-per-connection'], s['max-concurrent-records']),
      cpus: s['cpu-affinity'] === true ? Array.from({ length: availableParallelism() }, (_, i) => i) : s['cpu-affinity'] === false ? [] : s['cpu-affinity'],
    },
    destination,
    logging: raw.logging,
  };
  return deepFreeze(cfg);
}

function aerospikeDestination(a: NonNullable<RawConfig['aerospike']>, ackDeadlineMs: number): AerospikeDestination {
  const [host, seedOpts] = Object.entries(a.seeds[0]!)[0] ?? [];
  if (host === undefined) throw new ConfigError(['aerospike.seeds.0: a seed needs a host name']);
  return {
    kind: 'aerospike',
    host,
    port: seedOpts?.port ?? 3000,
    connectionsPerNode: a['connections-per-node'],
    pipelineDepth: a['pipeline-depth'],
    connectTimeoutMs: a.timeouts.connect,
    // A destination write must time out before the source's ack deadline does.
    writeTimeoutMs: Math.min(a.timeouts.write, ackDeadlineMs),
    namespaceMap: Object.entries(a['namespace-mapping']),
    lut: a.lut,
    durableDelete: a['durable-delete'],
  };
}

function fileDestination(f: NonNullable<RawConfig['file']>): FileDestination {
  return { kind: 'file', path: f.path, format: f.format, sync: f.sync };
}

export function loadConfigFile(file: string): FerryConfig {
  return loadFile(file, buildConfig);
}

export function loadRunConfigFile(file: string): RunConfig {
  return loadFile(file, buildRunConfig);
}

function loadFile<T>(file: string, build: (doc: unknown) => T): T {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([`${file}: cannot read: ${(err as Error).message}`]);
  }
  const doc = parseDocument(text);
  if (doc.errors.length > 0) throw new ConfigError(doc.errors.map((e) => `${file}: ${e.message}`));
  try {
    return build(doc.toJS());
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigError(err.problems.map((p) => `${file}: ${p}`));
    throw err;
  }
}

function deepFreeze<T>(o: T): T {
  if (o !== null && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}
