/**
 * Checks that a destination holds, for every key a load run touched, exactly the key's last
 * version (or nothing, after a delete), reading through the official `aerospike` client.
 */

import { isDeepStrictEqual } from 'node:util';
import { type BinSpec, expectedValue } from '../../src/cli/load/record-factory.js';
import type { XdrSource } from '../../src/cli/load/xdr-source.js';
import { ClientCallError, type ClientValue, type OfficialClient } from '../double/official-client.js';

/** What the client hands back for a bin, in the shape expectedValue() produces. */
function normalize(spec: BinSpec, v: ClientValue | undefined): unknown {
  if (v === undefined || v === null) return v;
  switch (spec.kind) {
    case 'B':
    case 'H':
      return Buffer.from(v as Uint8Array);
    case 'G':
      // The client hands GeoJSON back as its JSON text (or as a GeoJSON object when it wraps it).
      return typeof v === 'string' ? JSON.parse(v) : (v as { $geo: unknown }).$geo;
    case 'M':
      return v instanceof Map ? Object.fromEntries(v) : v;
    default:
      return v;
  }
}

export interface Mismatch {
  key: number;
  problem: string;
}

export async function verifyFinalState(client: OfficialClient, source: XdrSource, namespace = source.opts.namespace, concurrency = 64): Promise<{ checked: number; mismatches: Mismatch[] }> {
  const { set, bins, startKey, keys } = source.opts;
  const mismatches: Mismatch[] = [];
  let checked = 0;
  const check = async (k: number): Promise<void> => {
    const version = source.version[k]!;
    if (version === 0) return;
    const key = startKey + k;
    checked++;
    if (source.deleted[k] === 1) {
      if (await client.exists([namespace, set, key])) mismatches.push({ key, problem: 'deleted at the source but present' });
      return;
    }
    try {
      const rec = await client.get([namespace, set, key]);
      for (let i = 0; i < bins.length; i++) {
        const want = expectedValue(bins[i]!, key, version);
        const got = normalize(bins[i]!, rec.bins[`bin${i}`]);
        if (!isDeepStrictEqual(got, want)) {
          mismatches.push({ key, problem: `bin${i}: want ${JSON.stringify(want)} (v${version}), got ${JSON.stringify(got)}` });
          return;
        }
      }
    } catch (err) {
      mismatches.push({ key, problem: err instanceof ClientCallError ? `get failed with ${err.code}` : String(err) });
    }
  };
  for (let k = 0; k < keys; k += concurrency) {
    const batch: Array<Promise<void>> = [];
    for (let j = k; j < Math.min(keys, k + concurrency); j++) batch.push(check(j));
    await Promise.all(batch);
  }
  return { checked, mismatches };
}
