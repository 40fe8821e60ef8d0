/**
 * A fan-out's answer to the source: posted once, when its last write is answered, with the worst
 * outcome (a retry over a refusal over done), whatever order the answers come in.
 */

import { describe, expect, it } from 'vitest';
import { ResultCode } from '../../src/protocol/index.js';
import { Outcome } from '../../src/threads/index.js';
import { FanOuts } from '../../src/transform/index.js';

function settleAll(outcomes: number[]): { answers: number; outcome: number; connection: number; seq: number } {
  const f = new FanOuts();
  const slot = f.open(7, 99, outcomes.length);
  const result = { connection: 0, seq: 0, outcome: -1 };
  let answers = 0;
  for (const o of outcomes) if (f.settle(slot, o, result)) answers++;
  return { answers, ...result };
}

describe('fan-out answers', () => {
  it.each([
    [[ResultCode.Ok, ResultCode.Ok], ResultCode.Ok],
    [[ResultCode.Ok, ResultCode.FilteredOut, ResultCode.NotFound], ResultCode.Ok],
    [[ResultCode.Ok, 4], 4],
    [[4, ResultCode.Timeout, ResultCode.Ok], ResultCode.Timeout],
    [[ResultCode.Ok, Outcome.ConnectionLost, 4], Outcome.ConnectionLost],
    [[ResultCode.KeyBusy, 13], ResultCode.KeyBusy],
  ])('%j → %i, answered once for the source record', (outcomes, worst) => {
    expect(settleAll(outcomes)).toEqual({ answers: 1, outcome: worst, connection: 7, seq: 99 });
  });

  it('slots are reused once answered, and interleaved fan-outs keep apart', () => {
    const f = new FanOuts();
    const r = { connection: 0, seq: 0, outcome: 0 };
    const a = f.open(1, 10, 2);
    const b = f.open(2, 20, 1);
    expect(a).not.toBe(b);
    expect(f.settle(a, ResultCode.Ok, r)).toBe(false);
    expect(f.settle(b, 4, r)).toBe(true);
    expect(r).toEqual({ connection: 2, seq: 20, outcome: 4 });
    expect(f.open(3, 30, 1)).toBe(b);
    expect(f.settle(a, ResultCode.Ok, r)).toBe(true);
    expect(r).toEqual({ connection: 1, seq: 10, outcome: ResultCode.Ok });
  });
});
