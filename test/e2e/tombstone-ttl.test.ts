/**
 * Last-write-wins tombstones are writes with a TTL: against a namespace that refuses TTLs
 * (Community Edition's default: nsup-period 0, allow-ttl-without-nsup false) Ferry warns once per
 * namespace, naming the fix; a namespace that allows them, or tombstones off, gives no warning.
 */

import { afterEach, describe, expect, it } from 'vitest';
import { AerospikeDouble } from '../double/server.js';
import { FerryProcess, type LogLine, testConfig } from '../support/ferry-process.js';
import { until } from '../support/in-process.js';

const open: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  for (const close of open.splice(0).reverse()) await close();
});

const warnings = (f: FerryProcess): LogLine[] => f.logs.filter((l) => l.level === 40 && /^namespace \S+ refuses TTLs/.test(l.msg));
/** Tend rounds the double has seen so far (each asks every node its partition generation). */
const rounds = (d: AerospikeDouble): number => d.infoNames.get('partition-generation')?.count ?? 0;

async function run(double: AerospikeDouble, lastWriteWins: Record<string, unknown>): Promise<FerryProcess> {
  const ferry = await FerryProcess.start(testConfig(double, { aerospike: { 'last-write-wins': lastWriteWins } }));
  open.push(() => ferry.stop());
  // The namespaces are read in the first rounds; two more rounds show nothing comes after.
  const seen = rounds(double);
  await until(() => rounds(double) >= seen + 2, 20_000, 'two tend rounds');
  return ferry;
}

describe('tombstones and a namespace without nsup', () => {
  it('CE defaults: one warning per namespace, naming the fix; each namespace is read once', async () => {
    const double = await AerospikeDouble.start({ namespaces: ['test', 'bar'] });
    open.push(() => double.close());
    const ferry = await run(double, { bin: 'fv', tombstones: true });
    await until(() => warnings(ferry).length >= 2, 20_000, 'the warnings');
    expect(warnings(ferry).map((l) => l['namespace']).sort()).toEqual(['bar', 'test']);
    for (const line of warnings(ferry)) {
      expect(line).toMatchObject({ logger: 'tender', nsupPeriod: 0, allowTtlWithoutNsup: false });
      expect(line.msg).toContain('set nsup-period above 0 or allow-ttl-without-nsup true');
    }
    expect(double.infoNames.get('namespace/test')?.count).toBe(1);
    expect(double.infoNames.get('namespace/bar')?.count).toBe(1);
  });

  it('a namespace that allows TTLs without nsup, or tombstones off: no warning', async () => {
    const allowing = await AerospikeDouble.start({ allowTtlWithoutNsup: true });
    open.push(() => allowing.close());
    const allowed = await run(allowing, { bin: 'fv', tombstones: true });
    expect(allowing.infoNames.get('namespace/test')?.count).toBe(1);
    expect(warnings(allowed)).toEqual([]);

    const refusing = await AerospikeDouble.start();
    open.push(() => refusing.close());
    const off = await run(refusing, { bin: 'fv' });
    expect(refusing.infoNames.has('namespace/test')).toBe(false);
    expect(warnings(off)).toEqual([]);
  });
});
