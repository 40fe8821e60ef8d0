import { describe, expect, it } from 'vitest';
import { SHRINK_TICKS, WorkerSpread } from '../../src/dispatch/worker-spread.js';

describe('WorkerSpread', () => {
  it('starts with one worker at work, or all with target 0', () => {
    expect(new WorkerSpread(4, 0.5).initial()).toBe(1);
    expect(new WorkerSpread(4, 0).initial()).toBe(4);
  });

  it('target 0 keeps every worker at work', () => {
    const s = new WorkerSpread(4, 0);
    expect(s.next(1, 0)).toBe(4);
    expect(s.next(4, 4)).toBe(4);
  });

  it('enough workers that each is busy at most `target`, at least one and at most all, at the first tick that needs more', () => {
    const s = new WorkerSpread(4, 0.5);
    expect(s.next(1, 0)).toBe(1);
    expect(s.next(1, 0.5)).toBe(1);
    expect(s.next(1, 0.51)).toBe(2);
    expect(s.next(2, 1.7)).toBe(4);
    expect(s.next(4, 3.9)).toBe(4);
  });

  it('lets workers go only after SHRINK_TICKS lighter ticks in a row, to the most any of them needed', () => {
    const s = new WorkerSpread(4, 0.5);
    let active = 4;
    for (let i = 0; i < SHRINK_TICKS - 1; i++) {
      active = s.next(active, i === 3 ? 0.7 : 0.2);
      expect(active).toBe(4);
    }
    expect(s.next(active, 0.2)).toBe(2);
  });

  it('a need inside the margin, or one busier tick, starts the count again', () => {
    const s = new WorkerSpread(4, 0.5);
    let active = 2;
    for (let i = 0; i < 3 * SHRINK_TICKS; i++) {
      // 0.45 needs one worker of 0.5, but not with a fifth of it to spare.
      active = s.next(active, 0.45);
      expect(active).toBe(2);
    }
    for (let i = 0; i < SHRINK_TICKS - 1; i++) active = s.next(active, 0.05);
    expect(s.next(active, 0.6)).toBe(2);
    for (let i = 0; i < SHRINK_TICKS - 1; i++) expect(s.next(2, 0.05)).toBe(2);
    expect(s.next(2, 0.05)).toBe(1);
  });

  it('a new target takes effect at the next tick', () => {
    const s = new WorkerSpread(4, 0);
    s.target = 0.25;
    expect(s.next(4, 0.9)).toBe(4);
    s.target = 0;
    expect(s.next(1, 0)).toBe(4);
  });
});
