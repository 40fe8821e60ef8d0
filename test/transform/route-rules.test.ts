/**
 * The routing rules at byte level: what the write policy makes of a record under each rule, decoded
 * and compared with the record it came from; how the configuration resolves into rules; how the
 * worker snapshot refuses malformed ones.
 */

import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { buildConfig } from '../../src/config/index.js';
import { WritePolicy } from '../../src/destination/write-policy.js';
import { type DecodedRecordMessage, FieldType, ParticleType, ScanError, decodeRecordMessage, encodeRecordRequest, newScan, scanRecordMessage } from '../../src/protocol/index.js';
import { IDENTITY_RULE, type PolicySettings, type RouteRule, SnapshotFormatError, newPolicyBuffer, policyCell } from '../../src/threads/index.js';
import { xdrMessage } from '../support/xdr-ship.js';

const PLAIN: PolicySettings = { stripLut: false, stripDurableDelete: false, routing: { fallback: IDENTITY_RULE, namespaces: [], skipSets: [] }, transform: null, lastWriteWins: null };

/** A policy whose one rule applies to namespace `test`, set `s`. */
function setRule(rule: Partial<RouteRule>, extra: Partial<PolicySettings> = {}): PolicySettings {
  return { ...PLAIN, ...extra, routing: { fallback: IDENTITY_RULE, namespaces: [{ name: 'test', rule: IDENTITY_RULE, sets: [{ name: 's', rule: { ...IDENTITY_RULE, ...rule } }] }], skipSets: [] } };
}

/** Apply the policy to a message (proto header included) as the sink does: the route, and the bytes written (null when skipped). */
function written(opts: PolicySettings, msg: Buffer): { route: number; out: Buffer | null; skip: number } {
  const scan = newScan();
  expect(scanRecordMessage(msg, 8, msg.length, scan)).toBe(ScanError.None);
  const policy = new WritePolicy(opts);
  const m = policy.routeOf(msg, scan);
  if (m >= 0 && policy.skipOf(m) >= 0) return { route: m, out: null, skip: policy.skipOf(m) };
  const digest = m >= 0 ? policy.rekey(msg, scan, m) : null;
  const length = policy.outputLength(msg, 8, msg.length, scan, m);
  if (length === 0) return { route: m, out: null, skip: -1 };
  const out = Buffer.alloc(length);
  policy.write(msg, 8, msg.length, scan, m, out, 0, length, digest);
  expect(out.readUIntBE(2, 6)).toBe(length - 8);
  return { route: m, out, skip: -1 };
}

/** The same, decoded. */
function apply(opts: PolicySettings, msg: Buffer): { out: DecodedRecordMessage; skip: number } | { out: null; skip: number } {
  const { out, skip } = written(opts, msg);
  return out === null ? { out: null, skip } : { out: decodeRecordMessage(out, 8, out.length), skip };
}

const bins = (d: DecodedRecordMessage): string[] => d.ops.map((o) => o.name);
const record = { namespace: 'test', set: 's', key: 42, bins: { a: 'A', b: 2, secret: 'x', longer_name: 'L' } };

describe('routing rules at byte level', () => {
  it('a record no rule matches is written byte for byte as it came', () => {
    const msg = xdrMessage({ ...record, set: 'other' });
    const scan = newScan();
    scanRecordMessage(msg, 8, msg.length, scan);
    const policy = new WritePolicy(setRule({ namespace: 'bar' }));
    expect(policy.routeOf(msg, scan)).toBe(-1);
    const out = Buffer.alloc(policy.outputLength(msg, 8, msg.length, scan, -1));
    policy.write(msg, 8, msg.length, scan, -1, out, 0, out.length);
    expect(out).toEqual(msg);
  });

  it('namespace and set replaced; the digest recomputed from the new set and the key', () => {
    const msg = xdrMessage(record);
    const before = decodeRecordMessage(msg, 8, msg.length);
    const { out } = apply(setRule({ namespace: 'archive', set: 'elsewhere' }), msg);
    expect(out!.namespace).toBe('archive');
    expect(out!.set).toBe('elsewhere');
    const key = Buffer.concat([Buffer.of(ParticleType.Integer), Buffer.from('000000000000002a', 'hex')]);
    expect(out!.digest).toEqual(createHash('ripemd160').update('elsewhere').update(key).digest());
    expect({ ...out!, namespace: '', set: '', digest: null, fields: [] }).toEqual({ ...before, namespace: '', set: '', digest: null, fields: [] });
  });

  it('a set is added to a record without one', () => {
    const policy: PolicySettings = { ...PLAIN, routing: { fallback: { ...IDENTITY_RULE, set: 'added' }, namespaces: [], skipSets: [] } };
    const whole = xdrMessage(record);
    const full = decodeRecordMessage(whole, 8, whole.length);
    const fields = full.fields.filter((f) => f.type !== FieldType.Set);
    const msg = Buffer.from(encodeRecordRequest({ info1: full.info1, info2: full.info2, info3: full.info3, generation: 1, fields, ops: full.ops.map((o) => ({ op: o.op, particleType: o.particleType, name: o.name, value: o.value })) }));
    const { out } = apply(policy, msg);
    expect(out!.set).toBe('added');
    expect(out!.fields).toHaveLength(fields.length + 1);
    expect(bins(out!)).toEqual(bins(full));
  });

  it('include keeps only the listed bins, in their order', () => {
    expect(bins(apply(setRule({ include: ['b', 'a'] }), xdrMessage(record)).out!)).toEqual(['a', 'b']);
  });

  it('exclude drops the listed bins; map renames, longer and shorter, values untouched', () => {
    const msg = xdrMessage(record);
    const { out } = apply(setRule({ exclude: ['secret'], rename: [['a', 'a-much-longer'], ['longer_name', 'l']] }), msg);
    expect(bins(out!)).toEqual(['a-much-longer', 'b', 'l']);
    const before = decodeRecordMessage(msg, 8, msg.length);
    expect(out!.ops.map((o) => o.value)).toEqual([before.ops[0]!.value, before.ops[1]!.value, before.ops[3]!.value]);
  });

  it('a write left with no bin is not written; a delete under the same rule is', () => {
    expect(apply(setRule({ include: ['none'] }), xdrMessage(record)).out).toBeNull();
    const del = apply(setRule({ include: ['none'], namespace: 'bar' }), xdrMessage({ ...record, bins: undefined, delete: true })).out!;
    expect(del.namespace).toBe('bar');
    expect(del.ops).toEqual([]);
  });

  it('skip and skip-sets say why', () => {
    expect(apply(setRule({ skip: true }), xdrMessage(record)).skip).toBe(0);
    expect(apply({ ...PLAIN, routing: { ...PLAIN.routing, skipSets: ['s'] } }, xdrMessage(record)).skip).toBe(1);
  });

  it('a rule whose target is the namespace and set it is listed under is no route: the record is written byte for byte', () => {
    const msg = xdrMessage(record);
    expect(written(setRule({ namespace: 'test', set: 's' }), msg)).toEqual({ route: -1, out: msg, skip: -1 });
    const nsLevel: PolicySettings = { ...PLAIN, routing: { fallback: IDENTITY_RULE, namespaces: [{ name: 'test', rule: { ...IDENTITY_RULE, namespace: 'test', set: 's' }, sets: [] }], skipSets: [] } };
    // At namespace level the set is still a target (records of other sets move to it).
    expect(written(nsLevel, msg).route).toBe(0);
    expect(apply(nsLevel, xdrMessage({ ...record, set: 'other' })).out!.set).toBe('s');
  });

  it('bin rules that name no bin of the record write it byte for byte, names of the same length and 32 bytes longer included', () => {
    const long = 'x'.repeat(35);
    const msg = xdrMessage({ ...record, bins: { ...record.bins, [long]: 'X' } });
    const { route, out } = written(setRule({ exclude: ['c', 'xyz', 'secreT'], rename: [['bb', 'q']] }), msg);
    expect(route).toBe(0);
    expect(out).toEqual(msg);
    expect(bins(apply(setRule({ exclude: ['xyz', long] }), msg).out!)).toEqual(['a', 'b', 'secret', 'longer_name']);
    expect(bins(apply(setRule({ rename: [['xyz', 'q'], [long, 'y']] }), msg).out!)).toEqual(['a', 'b', 'secret', 'longer_name', 'y']);
  });

  it('one policy writing records into several buffers in turn (a connection each) writes each as alone', () => {
    const opts = setRule({ namespace: 'bar', rename: [['a', 'a-much-longer']] });
    const msgs = [1, 2, 3, 4, 5, 6].map((key) => xdrMessage({ ...record, key }));
    const policy = new WritePolicy(opts);
    const scan = newScan();
    const outs = [Buffer.alloc(4096), Buffer.alloc(4096, 1), Buffer.alloc(4096, 2)];
    const at = [0, 0, 0];
    const expected: Buffer[][] = [[], [], []];
    msgs.forEach((msg, i) => {
      scanRecordMessage(msg, 8, msg.length, scan);
      const m = policy.routeOf(msg, scan);
      const length = policy.outputLength(msg, 8, msg.length, scan, m);
      policy.write(msg, 8, msg.length, scan, m, outs[i % 3]!, at[i % 3]!, length, policy.rekey(msg, scan, m));
      at[i % 3]! += length;
      expected[i % 3]!.push(written(opts, msg).out!);
    });
    outs.forEach((out, j) => expect(out.subarray(0, at[j]!)).toEqual(Buffer.concat(expected[j]!)));
  });

  it('with last-write-wins: the guard field and version op come after the rules', () => {
    const { out } = apply(setRule({ namespace: 'bar', exclude: ['secret'] }, { lastWriteWins: { bin: 'lww', tombstoneTtl: 0 } }), xdrMessage(record));
    expect(bins(out!)).toEqual(['a', 'b', 'longer_name', 'lww']);
    expect(out!.fields.some((f) => f.type === FieldType.FilterExpression)).toBe(true);
    expect(out!.namespace).toBe('bar');
  });
});

describe('rules from the configuration', () => {
  const seeds = [{ '127.0.0.1': { port: 3000 } }];

  it('a set overrides its namespace, which overrides the top level, routing and bin-transforms each on its own', () => {
    const c = buildConfig({
      aerospike: {
        seeds,
        'namespace-mapping': { test: 'mapped' },
        routing: { namespace: 'everything' },
        'bin-transforms': { exclude: ['x'] },
        namespaces: { test: { 'bin-transforms': { include: ['a'] }, sets: { s: { routing: { set: 'moved' } }, t: { routing: { mode: 'skip' } } } } },
      },
    });
    if (c.destination.kind !== 'aerospike') throw new Error('aerospike expected');
    const r = c.destination.routing;
    expect(r.fallback).toEqual({ ...IDENTITY_RULE, namespace: 'everything', exclude: ['x'] });
    const test = r.namespaces.find((n) => n.name === 'test')!;
    // The namespace's routing is the top level's (it names a namespace, so namespace-mapping does not apply).
    expect(test.rule).toEqual({ ...IDENTITY_RULE, namespace: 'everything', include: ['a'] });
    expect(test.sets.find((s) => s.name === 's')!.rule).toEqual({ ...IDENTITY_RULE, namespace: 'mapped', set: 'moved', include: ['a'] });
    expect(test.sets.find((s) => s.name === 't')!.rule).toEqual({ ...IDENTITY_RULE, skip: true, namespace: 'mapped', include: ['a'] });
  });

  it.each([
    [{ 'bin-transforms': { include: ['a'], exclude: ['b'] } }, 'aerospike.bin-transforms.exclude: give include or exclude, not both'],
    [{ routing: { mode: 'skip', namespace: 'x' } }, 'aerospike.routing.mode: a skipped record goes nowhere'],
    [{ namespaces: { test: { sets: { s: { 'bin-transforms': { map: { a: 'b', c: 'b' } } } } } } }, "aerospike.namespaces.test.sets.s.bin-transforms.map: two bins are renamed to 'b'"],
    [{ 'bin-transforms': { exclude: ['a-bin-name-too-long'] } }, 'aerospike.bin-transforms.exclude.0: a bin name is at most 15 bytes'],
    [{ routing: { mode: 'route' } }, 'aerospike.routing.mode'],
  ])('a bad rule names its key: %j', (extra, message) => {
    expect(() => buildConfig({ aerospike: { seeds, ...extra } })).toThrow(message);
  });

  it.each([
    [{ 'message-transformer': { class: 'com.example.Mask' } }, 'message-transformer'],
    [{ aerospike: { seeds, 'message-transformer': { class: 'com.example.Mask' } } }, 'aerospike.message-transformer'],
  ])("the XDR Proxy's message-transformer points at aerospike.transform: %j", (doc, at) => {
    expect(() => buildConfig({ aerospike: { seeds }, ...doc })).toThrow(`${at}: the XDR Proxy's Java message transformer is not supported; Ferry's equivalent is aerospike.transform`);
  });
});

describe('the rules in the worker snapshot', () => {
  it('cross whole', () => {
    const sab = newPolicyBuffer();
    const p = setRule({ namespace: 'bar', rename: [['a', 'b']] }, { transform: { url: 'file:///x.mjs', version: 3 } });
    policyCell(sab).publish(p);
    expect(policyCell(sab).poll()).toEqual(p);
  });

  it.each([
    ['a rule without skip', { ...PLAIN, routing: { ...PLAIN.routing, fallback: { ...IDENTITY_RULE, skip: undefined } } }],
    ['a rename that is not pairs', { ...PLAIN, routing: { ...PLAIN.routing, fallback: { ...IDENTITY_RULE, rename: [['a']] } } }],
    ['an empty set name', { ...PLAIN, routing: { ...PLAIN.routing, fallback: { ...IDENTITY_RULE, set: '' } } }],
    ['a transform that is not a file URL', { ...PLAIN, transform: { url: '/x.mjs', version: 0 } }],
  ])('refuse %s', (_what, p) => {
    const sab = newPolicyBuffer();
    policyCell(sab).publish(p as unknown as PolicySettings);
    expect(() => policyCell(sab).poll()).toThrow(SnapshotFormatError);
  });
});
