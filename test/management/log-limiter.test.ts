/** LogLimiter with a hand-driven clock: first line at once, then one per interval per key. */

import { describe, expect, it } from 'vitest';
import { LogLimiter } from '../../src/management/logger.js';

describe('LogLimiter', () => {
  it('logs the first line for a key at once, then one per interval with the count suppressed since', () => {
    let t = 0;
    const limiter = new LogLimiter(1000, 16, () => t);
    expect(limiter.admit('a')).toBe(0);
    for (let i = 0; i < 412; i++) {
      t += 2;
      expect(limiter.admit('a')).toBeNull();
    }
    // Another key is not held back by the first.
    expect(limiter.admit('b')).toBe(0);
    t = 1000;
    expect(limiter.admit('a')).toBe(412);
    t = 1500;
    expect(limiter.admit('a')).toBeNull();
    t = 2000;
    expect(limiter.admit('a')).toBe(1);
    t = 5000;
    expect(limiter.admit('a')).toBe(0);
  });

  it('logs at most one line per interval per key however many arrive', () => {
    let t = 0;
    const limiter = new LogLimiter(1000, 16, () => t);
    let logged = 0;
    let suppressed = 0;
    for (; t < 10_000; t += 0.5) {
      const n = limiter.admit('flood');
      if (n === null) continue;
      logged++;
      suppressed += n;
    }
    // 20,000 attempts over 10 intervals: one line each, and every other attempt accounted for
    // except those still waiting for the next line.
    expect(logged).toBe(10);
    expect(suppressed).toBe(20_000 - 10 - (2000 - 1));
  });

  it('holds at most maxKeys keys, evicting the least recently logged', () => {
    let t = 0;
    const limiter = new LogLimiter(1000, 4, () => t);
    for (let i = 0; i < 100; i++) expect(limiter.admit(`peer-${i}`)).toBe(0);
    expect(limiter.size).toBe(4);
    // The four most recent are still held back; an evicted one is logged again.
    t = 1;
    expect(limiter.admit('peer-99')).toBeNull();
    expect(limiter.admit('peer-96')).toBeNull();
    expect(limiter.admit('peer-0')).toBe(0);
    expect(limiter.size).toBe(4);
  });
});
