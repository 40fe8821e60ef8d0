/**
 * The embedded `file` destination: every change XDR ships lands in the file, with its bins and their
 * types, and is there by the time the source has its acknowledgement.
 */

import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { unpackMultiple } from 'msgpackr';
import { expect, it } from 'vitest';
import { expectedValue } from '../../src/cli/load/record-factory.js';
import { XdrSource } from '../../src/cli/load/xdr-source.js';
import type { ChangeRecord } from '../../src/destination/index.js';
import { FerryProcess } from '../support/ferry-process.js';
import { loadOptions } from '../support/load.js';

function fileConfig(path: string, format: 'json' | 'msgpack'): Record<string, unknown> {
  return {
    service: { port: 0, address: '127.0.0.1', manage: { address: '127.0.0.1', port: 0 } },
    file: { path, format },
    logging: { levels: { root: 'info' } },
  };
}

/** The last change per user key, in file order. */
function lastByKey(records: ChangeRecord[]): Map<number, ChangeRecord> {
  const out = new Map<number, ChangeRecord>();
  for (const r of records) out.set(r.userKey as number, r);
  return out;
}

/** JSON renders blobs as base64 and bigints as strings; compare in that shape. */
function asJson(v: unknown): unknown {
  return JSON.parse(JSON.stringify(v, (_k, x: unknown) => (x !== null && typeof x === 'object' && (x as { type?: unknown }).type === 'Buffer' ? Buffer.from((x as { data: number[] }).data).toString('base64') : x)));
}

for (const format of ['json', 'msgpack'] as const) {
  it(`${format}: every acknowledged change is in the file, last version per key, bins typed`, async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'ferry-file-')), `changes.${format}`);
    const ferry = await FerryProcess.start(fileConfig(path, format));
    try {
      const source = new XdrSource(loadOptions(ferry.port, { keys: 2000, changes: 8000, compress: true, deletePct: 10, durableDeletes: true, set: 'file', probeEvery: 0 }));
      const stats = await source.run();
      expect(stats.abandons).toBe(0);
      // Read while Ferry still runs: acknowledged means written (and synced) already.
      const raw = readFileSync(path);
      const records = (format === 'json' ? raw.toString('utf8').trim().split('\n').map((l) => JSON.parse(l)) : unpackMultiple(raw)) as ChangeRecord[];
      expect(records.length).toBe(stats.acks);
      const last = lastByKey(records);
      const o = source.opts;
      let checked = 0;
      for (let k = 0; k < o.keys; k++) {
        if (source.version[k] === 0) continue;
        const r = last.get(k);
        expect(r, `key ${k}`).toBeDefined();
        expect(r!.namespace).toBe('test');
        expect(r!.set).toBe('file');
        expect(r!.digest).toMatch(/^[A-Za-z0-9+/]{27}=$/);
        expect(r!.lut).toBeGreaterThan(Date.now() - 600_000);
        if (source.deleted[k] === 1) {
          expect(r!.msg).toBe('delete');
          expect(r!.durable).toBe(true);
        } else {
          expect(r!.msg).toBe('write');
          expect(r!.gen).toBe(source.version[k]);
          expect(Object.keys(r!.bins)).toHaveLength(o.bins.length);
          o.bins.forEach((spec, i) => {
            const bin = r!.bins[`bin${i}`]!;
            const want = expectedValue(spec, k, source.version[k]!);
            expect(format === 'json' ? bin.value : asJson(bin.value), `key ${k} bin${i}`).toEqual(format === 'json' ? asJson(want) : asJson(want));
          });
          expect(r!.bins['bin0']!.type).toBe('int');
          expect(r!.bins['bin3']!.type).toBe('blob');
          expect(r!.bins['bin7']!.type).toBe('geojson');
        }
        checked++;
      }
      expect(checked).toBeGreaterThan(1900);
    } finally {
      expect(await ferry.stop()).toBe(0);
    }
  });
}
