/**
 * Reads, validates and freezes the configuration, once, at start-up. Nothing else reads the file.
 * Every error names the key's path and the rule; an unknown key gets a did-you-mean hint.
 */

import { readFileSync } from 'node:fs';
import { availableParallelism, cpus, hostname } from 'node:os';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { unreadable } from './config-files.js';
import { type ResolvedRouting, resolveRouting } from './routing.js';
import { configSchema, type RawConfig } from './schema.js';
import { FerryError } from '../errors.js';

export class ConfigError extends FerryError {
  readonly code = 'ERR_CONFIG';
  readonly retriable = false;
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
  }
}

export interface FerryConfig {
  readonly raw: RawConfig;
  readonly service: {
    readonly ports: readonly number[];
    readonly addresses: readonly string[];
    /** `service.protocol` */
    readonly protocol: 'TCP' | 'HTTP_2';
    readonly workerThreads: number;
    readonly maxConcurrentRecords: number;
    readonly ackDeadlineMs: number;
    readonly maxFrameSize: number;
    readonly maxInFlightPerConnection: number;
    readonly slowReaderMs: number;
    readonly dispatchDelayMs: number;
    /** `service.prompt-below`: records/s per worker under which batches go at once (0 = never) */
    readonly promptBelowPerS: number;
    /** `service.worker-busy`: the busy share per worker at work before another is put to work (0 = all, always) */
    readonly workerBusy: number;
    /** how long start-up waits for the destination to answer */
    readonly startupTimeoutMs: number;
    /** CPUs worker i is pinned to: cpus[i % length]; empty = no pinning */
    readonly cpus: readonly number[];
    /** source authentication (`service.security`); null = LOGIN is answered 52 */
    readonly security: SourceSecuritySettings | null;
    /** TLS on the service port (`service.tls`); null = plain TCP */
    readonly tls: SourceTlsSettings | null;
  };
  readonly destination: AerospikeDestination | FileDestination;
  readonly logging: RawConfig['logging'];
}

export interface AerospikeDestination {
  readonly kind: 'aerospike';
  readonly seeds: ReadonlyArray<{ readonly host: string; readonly port: number; readonly tlsName: string | undefined }>;
  readonly clusterName: string | undefined;
  /** `services.ip-map`: a peer's advertised address → the address to connect to */
  readonly ipMap: Readonly<Record<string, string>>;
  /** `services.use-services-alternate`: tend with the nodes' alternate addresses (peers-*-alt) */
  readonly servicesAlternate: boolean;
  /** user and password file are undefined only in pki mode */
  readonly credentials: { readonly user: string | undefined; readonly passwordFile: string | undefined; readonly mode: 'internal' | 'external' | 'external-insecure' | 'pki' } | null;
  readonly tls: { readonly caFile: string | undefined; readonly certFile: string | undefined; readonly keyFile: string | undefined; readonly tlsName: string | undefined } | null;
  readonly connectionsPerNode: number;
  readonly minConnectionsPerNode: number;
  readonly idleTimeoutMs: number;
  readonly tendIntervalMs: number;
  readonly pipelineDepth: number;
  readonly connectTimeoutMs: number;
  readonly writeTimeoutMs: number;
  /** `routing`, `bin-transforms`, `namespaces`, `skip-sets` and `namespace-mapping`, resolved */
  readonly routing: ResolvedRouting;
  /** `aerospike.transform` as a file: URL (a relative path is taken from the working directory); null = none */
  readonly transform: string | null;
  readonly lut: 'keep' | 'strip';
  readonly durableDelete: 'auto' | 'keep' | 'strip';
  /** `aerospike.last-write-wins`; null = off */
  readonly lastWriteWins: { readonly bin: string; readonly tombstoneTtl: number } | null;
  /** `aerospike.dead-letters`; null = off */
  readonly deadLetters: DeadLetterConfig | null;
}

export interface DeadLetterConfig {
  readonly path: string;
  readonly maxBytes: number;
  readonly maxFiles: number;
  readonly format: 'json' | 'msgpack';
  readonly sync: boolean;
  /** this instance's name in dead letters: the fleet's advertised address, else the host name */
  readonly instance: string;
}

export interface SourceSecuritySettings {
  /** each password is read from its file at start-up; `key` is the file's key path, for errors */
  readonly users: ReadonlyArray<{ readonly username: string; readonly passwordFile: string; readonly key: string }>;
  readonly sessionTtlS: number;
}

/**
 * `service.tls`, resolved: which files hold what. Reading and loading them happens at start-up
 * (src/source/source-tls.ts), so `check-config --syntax-only` works away from the host.
 */
export interface SourceTlsSettings {
  /** PEM private key and certificate chain, or a PKCS#12 key store: exactly one of the two */
  readonly keyFile: string | null;
  readonly certChainFile: string | null;
  readonly keyStoreFile: string | null;
  readonly keyStorePasswordFile: string | null;
  /** PEM CA certificates that client certificates are checked against */
  readonly caFile: string | null;
  readonly requireClientCert: boolean;
  /** a client certificate's CN or a subject-alternative name must be one of these; empty = any */
  readonly allowedPeerNames: readonly string[];
  readonly minVersion: 'TLSv1.2' | 'TLSv1.3';
  readonly maxVersion: 'TLSv1.2' | 'TLSv1.3';
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
    const element = typeof p === 'number' ? elementOf(node) : null;
    if (element !== null) {
      node = element;
      continue;
    }
    const shape = shapeOf(node);
    if (shape === null) return [];
    const next = shape[String(p)];
    if (next === undefined) return [];
    node = next;
  }
  const shape = shapeOf(node);
  return shape === null ? [] : Object.keys(shape);
}

interface SchemaDef {
  type?: string;
  element?: z.ZodType;
  shape?: Record<string, z.ZodType>;
  innerType?: unknown;
  in?: { def?: { type?: string } };
  out?: unknown;
}

/**
 * The schema inside a wrapper: optional, default, or a pipe. A pipe's input is the schema, except
 * after a preprocess step (a transform in front), where the schema is its output.
 */
function unwrap(def: SchemaDef): unknown {
  if (def.innerType !== undefined) return def.innerType;
  if (def.type !== 'pipe') return undefined;
  return def.in?.def?.type === 'transform' ? def.out : def.in;
}

/** The element schema of an array (through wrappers), for keys inside lists. */
function elementOf(t: z.ZodType): z.ZodType | null {
  let cur: unknown = t;
  for (let i = 0; i < 12 && cur !== null && typeof cur === 'object'; i++) {
    const def = (cur as { def?: SchemaDef }).def;
    if (def === undefined) return null;
    if (def.type === 'array' && def.element !== undefined) return def.element;
    cur = unwrap(def);
  }
  return null;
}

export function shapeOf(t: z.ZodType): Record<string, z.ZodType> | null {
  let cur: unknown = t;
  for (let i = 0; i < 12 && cur !== null && typeof cur === 'object'; i++) {
    const def = (cur as { def?: SchemaDef }).def;
    if (def === undefined) return null;
    if (def.type === 'object' && def.shape !== undefined) return def.shape;
    cur = unwrap(def);
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
    out.push(`${pathOf(issue.path)}: ${messageOf(issue)}`);
  }
  // A number past 2^53 also fails the integer check's own safe-integer bound: say the key's bound only.
  return out.filter((line, i) => !line.includes(`${Number.MAX_SAFE_INTEGER}`) || !out.some((other, j) => j !== i && other.split(': ')[0] === line.split(': ')[0]));
}

/** An issue in words an operator reads without the schema beside them. */
function messageOf(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_type' && issue.expected === 'int') return 'expected a whole number';
  if (issue.code === 'invalid_union' && issue.errors.length > 0) {
    // One of the alternatives took the value's type and refused its content: that refusal is the
    // one that says what is wrong (a port out of range in a list of ports).
    const typed = issue.errors.find((branch) => branch.length > 0 && branch[0]!.code !== 'invalid_type');
    if (typed !== undefined) return `${pathOf(typed[0]!.path) === '' ? '' : `${pathOf(typed[0]!.path)}: `}${messageOf(typed[0]!)}`;
    const expected = issue.errors.flatMap((branch) => (branch[0]?.code === 'invalid_type' ? [branch[0].expected === 'array' ? 'a list' : branch[0].expected] : []));
    const received = /received (\S+)/.exec(issue.errors[0]?.[0]?.message ?? '')?.[1];
    if (expected.length > 0) return `expected ${[...new Set(expected)].join(' or ')}${received === undefined ? '' : `, received ${received}`}`;
  }
  return issue.message;
}

/** What `ferry run` starts: the XDR service when a destination is configured, and any mirrors. */
export interface RunConfig {
  readonly raw: RawConfig;
  /** null when the file configures etcd mirrors only */
  readonly xdr: FerryConfig | null;
  readonly logging: RawConfig['logging'];
}

/**
 * The XDR Proxy's `message-transformer` (a Java class in its usr-lib folder) cannot run here: say
 * what does the same in Ferry rather than "unknown key".
 */
function refuseMessageTransformer(doc: unknown): void {
  if (doc === null || typeof doc !== 'object') return;
  const top = doc as Record<string, unknown>;
  const at = 'message-transformer' in top ? 'message-transformer' : typeof top.aerospike === 'object' && top.aerospike !== null && 'message-transformer' in top.aerospike ? 'aerospike.message-transformer' : null;
  if (at === null) return;
  throw new ConfigError([
    `${at}: the XDR Proxy's Java message transformer is not supported; Ferry's equivalent is aerospike.transform: ./path/to/module.js (an ESM module, docs/transforms.md), or the declarative aerospike.routing / bin-transforms / namespaces / skip-sets rules (README, "Routing and transforms")`,
  ]);
}

function parseRaw(doc: unknown): RawConfig {
  refuseMessageTransformer(doc);
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
  const destination = raw.aerospike !== undefined ? aerospikeDestination(raw.aerospike, s['ack-deadline'], raw.fleet?.advertise ?? hostname()) : fileDestination(raw.file!);
  const cfg: FerryConfig = {
    raw,
    service: {
      ports,
      addresses,
      protocol: s.protocol,
      // One writer keeps a file destination's changes in arrival order.
      workerThreads: destination.kind === 'file' ? 1 : (s['worker-threads'] ?? defaultWorkerThreads()),
      maxConcurrentRecords: s['max-concurrent-records'],
      ackDeadlineMs: s['ack-deadline'],
      maxFrameSize: s['max-frame-size'],
      maxInFlightPerConnection: Math.min(s['max-in-flight-per-connection'], s['max-concurrent-records']),
      slowReaderMs: s['slow-reader-timeout'],
      dispatchDelayMs: s['dispatch-delay'],
      promptBelowPerS: s['prompt-below'],
      workerBusy: s['worker-busy'],
      startupTimeoutMs: s['startup-timeout'],
      cpus: s['cpu-affinity'] === true ? Array.from({ length: availableParallelism() }, (_, i) => i) : s['cpu-affinity'] === false ? [] : s['cpu-affinity'],
      security: sourceSecurity(s.security, s.protocol),
      tls: sourceTls(s.tls),
    },
    destination,
    logging: raw.logging,
  };
  return deepFreeze(cfg);
}

function aerospikeDestination(a: NonNullable<RawConfig['aerospike']>, ackDeadlineMs: number, instance: string): AerospikeDestination {
  const seeds = a.seeds.flatMap((seed) => Object.entries(seed).map(([host, o]) => ({ host, port: o?.port ?? 3000, tlsName: o?.['tls-name'] })));
  const c = a.credentials;
  const t = a.tls;
  return {
    kind: 'aerospike',
    seeds,
    clusterName: a['cluster-name'],
    ipMap: a.services?.['ip-map'] ?? {},
    servicesAlternate: a.services?.['use-services-alternate'] ?? false,
    credentials: c === undefined ? null : { user: c.username, passwordFile: c['password-file'], mode: c['auth-mode'] },
    tls: t === undefined ? null : { caFile: t['ca-file'], certFile: t['cert-chain-file'], keyFile: t['key-file'], tlsName: t['tls-name'] },
    connectionsPerNode: a['connections-per-node'],
    minConnectionsPerNode: Math.min(a['min-connections-per-node'] ?? a['connections-per-node'], a['connections-per-node']),
    idleTimeoutMs: a['idle-timeout'],
    tendIntervalMs: a['tend-interval'],
    pipelineDepth: a['pipeline-depth'],
    connectTimeoutMs: a.timeouts.connect,
    // A destination write must time out before the source's ack deadline does.
    writeTimeoutMs: Math.min(a.timeouts.write, ackDeadlineMs),
    routing: resolveRouting(a),
    transform: a.transform === undefined ? null : pathToFileURL(isAbsolute(a.transform) ? a.transform : resolve(a.transform)).href,
    lut: a.lut,
    durableDelete: a['durable-delete'],
    lastWriteWins: lastWriteWinsOf(a['last-write-wins']),
    deadLetters: deadLettersOf(a['dead-letters'], instance),
  };
}

function deadLettersOf(d: NonNullable<RawConfig['aerospike']>['dead-letters'], instance: string): DeadLetterConfig | null {
  if (!d.enabled) return null;
  const state = process.env['STATE_DIRECTORY']?.split(':')[0];
  const path = d.path ?? (state === undefined || state === '' ? join('data', 'dead-letters') : join(state, 'dead-letters'));
  return { path, maxBytes: d['max-bytes'], maxFiles: d['max-files'], format: d.format, sync: d.sync, instance };
}

function lastWriteWinsOf(l: NonNullable<RawConfig['aerospike']>['last-write-wins']): AerospikeDestination['lastWriteWins'] {
  if (l === undefined) return null;
  return { bin: l.bin, tombstoneTtl: l.tombstones ? l['tombstone-ttl'] : 0 };
}

function sourceSecurity(sec: RawConfig['service']['security'], protocol: 'TCP' | 'HTTP_2'): SourceSecuritySettings | null {
  if (sec === undefined) return null;
  // LOGIN and AUTHENTICATE are messages of the TCP protocol; an HTTP/2 request has no place for them.
  if (protocol === 'HTTP_2') throw new ConfigError(['service.security: source login is part of service.protocol TCP; with HTTP_2, leave it out (use service.tls with require-client-cert to admit only known sources)']);
  return {
    users: sec.users.map((u, i) => ({ username: u.username, passwordFile: u['password-file'], key: `service.security.users.${i}.password-file` })),
    sessionTtlS: sec['session-ttl'],
  };
}

const TLS_VERSIONS = ['TLSv1.2', 'TLSv1.3'] as const;

/**
 * Map the XDR Proxy's TLS keys onto what a Node TLS server can do, refusing what it cannot rather
 * than listening with less protection than the file asks for.
 */
function sourceTls(t: RawConfig['service']['tls']): SourceTlsSettings | null {
  if (t === undefined) return null;
  const problems: string[] = [];
  const at = (key: string): string => `service.tls.${key}`;
  const pem = t['key-file'] !== undefined || t['cert-chain-file'] !== undefined;
  const store = t['key-store-file'] !== undefined;
  if (pem && store) problems.push(`${at('key-store-file')}: give either key-file and cert-chain-file (PEM) or key-store-file (PKCS#12), not both`);
  else if (pem && (t['key-file'] === undefined || t['cert-chain-file'] === undefined)) {
    problems.push(`${at(t['key-file'] === undefined ? 'key-file' : 'cert-chain-file')}: key-file and cert-chain-file go together (the PEM private key and its certificate chain)`);
  } else if (!pem && !store) problems.push(`service.tls: the service port needs a certificate: key-file and cert-chain-file (PEM), or key-store-file (PKCS#12)`);
  if (t['key-store-password-file'] !== undefined && !store) problems.push(`${at('key-store-password-file')}: only meaningful with key-store-file`);
  for (const key of ['trust-store-file', 'trust-store-password-file'] as const) {
    if (t[key] !== undefined) problems.push(`${at(key)}: not supported for the service port: give the CA certificates that sign client certificates as PEM in ca-file`);
  }
  if (t['require-client-cert'] && t['ca-file'] === undefined) problems.push(`${at('require-client-cert')}: needs ca-file, the CA certificates client certificates are checked against`);
  const peers = t['allowed-peer-names'] ?? [];
  if (peers.length > 0 && !t['require-client-cert']) problems.push(`${at('allowed-peer-names')}: needs require-client-cert: true (names are checked on a verified client certificate)`);
  const wanted = t.protocols === undefined ? [...TLS_VERSIONS] : (Array.isArray(t.protocols) ? t.protocols : t.protocols.split(/[\s,]+/)).filter((p) => p !== '');
  const versions: Array<(typeof TLS_VERSIONS)[number]> = [];
  for (const p of wanted) {
    const v = TLS_VERSIONS.find((x) => x.toLowerCase() === p.toLowerCase());
    if (v === undefined) problems.push(`${at('protocols')}: '${p}' is not supported; use TLSv1.2 and/or TLSv1.3`);
    else if (!versions.includes(v)) versions.push(v);
  }
  if (t.protocols !== undefined && wanted.length === 0) problems.push(`${at('protocols')}: name at least one of TLSv1.2, TLSv1.3`);
  if (problems.length > 0) throw new ConfigError(problems);
  versions.sort();
  return {
    keyFile: t['key-file'] ?? null,
    certChainFile: t['cert-chain-file'] ?? null,
    keyStoreFile: t['key-store-file'] ?? null,
    keyStorePasswordFile: t['key-store-password-file'] ?? null,
    caFile: t['ca-file'] ?? null,
    requireClientCert: t['require-client-cert'],
    allowedPeerNames: peers,
    minVersion: versions[0] ?? 'TLSv1.2',
    maxVersion: versions[versions.length - 1] ?? 'TLSv1.3',
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
    throw new ConfigError([`${file}: cannot read (${unreadable(err)})`]);
  }
  if (text.trim() === '') throw new ConfigError([`${file}: the file is empty: a configuration needs an aerospike or file section (a destination), or a mirrors section`]);
  // Merge keys (`<<: *defaults`) as the XDR Proxy's YAML 1.1 reader takes them.
  const doc = parseDocument(text, { merge: true });
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

/**
 * One worker per CPU but one: the main thread owns every source socket, frames and routes every
 * record and answers every one, so it needs a core of its own. On two cores one worker measured
 * 5.3 µs of CPU per record at saturation against 7.5 with two, and 40–50% more records/s (bench/
 * RESULTS.md, "Settings compared"): a second worker only adds wake-ups and smaller batches.
 */
function defaultWorkerThreads(): number {
  return Math.max(1, cpus().length - 1);
}
