import { describe, expect, it } from 'vitest';
import { MAX_NAMESPACES, type PolicySettings, SnapshotFormatError, WorkerCounter, newPolicyBuffer, policyCell } from '../../src/threads/index.js';
import { namespaceMapped } from '../support/routing.js';

describe('the write policy snapshot', () => {
  const base: PolicySettings = { stripLut: false, stripDurableDelete: true, routing: namespaceMapped([['a', 'b']]), transform: null, lastWriteWins: null };

  it.each([null, { bin: 'lww', tombstoneTtl: 0 }, { bin: 'ver', tombstoneTtl: 86400 }])('crosses to a worker whole: lastWriteWins %j', (lastWriteWins) => {
    const sab = newPolicyBuffer();
    policyCell(sab).publish({ ...base, lastWriteWins });
    expect(policyCell(sab).poll()).toEqual({ ...base, lastWriteWins });
  });

  it.each([{ bin: '', tombstoneTtl: 0 }, { bin: 'x', tombstoneTtl: -1 }, { bin: 'x' }, 'lww'])('refuses a malformed lastWriteWins: %j', (lastWriteWins) => {
    const sab = newPolicyBuffer();
    policyCell(sab).publish({ ...base, lastWriteWins } as unknown as PolicySettings);
    expect(() => policyCell(sab).poll()).toThrow(SnapshotFormatError);
  });

  it('the stale counters have a slot for every map namespace and one for none', () => {
    expect(WorkerCounter.Skipped).toBe(WorkerCounter.Stale + 1 + MAX_NAMESPACES);
  });
});
