import { Worker } from 'node:worker_threads';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RingWriter, newRingBuffer } from '../../src/threads/ring.js';
import { ensureBuilt } from '../support/built.js';

/**
 * Producer here, consumer in a worker thread (test/threads/fixtures/ring-consumer.mjs) that loads the
 * compiled ring from dist/. The build is refreshed first when dist is missing or older than the source.
 */

let ringUrl = '';
const consumerUrl = new URL('./fixtures/ring-consumer.mjs', import.meta.url);

/** The pattern the consumer checks (kept in step with the fixture). */
function lengthOf(n: number): number {
  return (n * 7919) % 97;
}

function fillRecord(data: Buffer, at: number, n: number, len: number): void {
  let i = 0;
  if (len >= 4) {
    data.writeUInt32LE(n >>> 0, at);
    i = 4;
  }
  for (; i < len; i++) data[at + i] = (n * 7 + i * 13) & 0xff;
}

interface Done {
  type: 'done';
  received: number;
  errors: number;
  firstError: string | null;
  firstWokeWithData: boolean | null;
}
type ConsumerMessage = { type: 'sleeping' } | Done;

let worker: Worker | null = null;

beforeAll(() => {
  ringUrl = ensureBuilt('threads/ring.ts', 'threads/ring.js');
}, 120_000);

afterEach(async () => {
  await worker?.terminate();
  worker = null;
});

/** Messages from the consumer, in order, as awaitable values; an error or early exit rejects. */
function messages(w: Worker): () => Promise<ConsumerMessage> {
  const queue: ConsumerMessage[] = [];
  let waiter: { resolve: (m: ConsumerMessage) => void; reject: (e: Error) => void } | null = null;
  let failed: Error | null = null;
  w.on('message', (m: ConsumerMessage) => {
    if (waiter) {
      waiter.resolve(m);
      waiter = null;
    } else queue.push(m);
  });
  const fail = (e: Error): void => {
    failed ??= e;
    waiter?.reject(e);
    waiter = null;
  };
  w.on('error', fail);
  w.on('exit', (code: number) => fail(new Error(`consumer thread exited with code ${code}`)));
  return () => {
    const m = queue.shift();
    if (m) return Promise.resolve(m);
    if (failed) return Promise.reject(failed);
    return new Promise<ConsumerMessage>((resolve, reject) => {
      waiter = { resolve, reject };
    });
  };
}

function startConsumer(sab: SharedArrayBuffer, spaceSab: SharedArrayBuffer, total: number): () => Promise<ConsumerMessage> {
  worker = new Worker(consumerUrl, { workerData: { ringUrl, sab, space: spaceSab, total } });
  return messages(worker);
}

/** Sleep on `space` until the consumer has released enough for `ready()` (the consumer rings it). */
async function waitForSpace(space: Int32Array, ready: () => boolean): Promise<boolean> {
  Atomics.store(space, 0, 1);
  let waited = false;
  if (!ready()) {
    waited = true;
    const res = Atomics.waitAsync(space, 0, 1);
    if (res.async) await res.value;
  }
  Atomics.store(space, 0, 0);
  return waited;
}

describe('ring across two threads', () => {
  it.each([
    { ring: 4096, workingSet: 4096, name: 'a 4 KiB ring' },
    { ring: 256 * 1024, workingSet: 16 * 1024, name: 'a 256 KiB ring kept to 16 KiB' },
  ])('passes 1,000,000 variable-length records in order, intact, through $name', async ({ ring, workingSet }) => {
    const total = 1_000_000;
    const sab = newRingBuffer(ring);
    const spaceSab = new SharedArrayBuffer(4);
    const space = new Int32Array(spaceSab);
    const writer = new RingWriter(sab, undefined, workingSet);
    const next = startConsumer(sab, spaceSab, total);
    // Times a record went back to offset 0 from short of half the ring: back early, past the working set.
    let backEarly = 0;
    let last = 0;

    // The consumer parks on the empty ring before anything is written.
    expect(await next()).toEqual({ type: 'sleeping' });

    let fullWaits = 0;
    for (let n = 0; n < total; n++) {
      const len = lengthOf(n);
      let at = writer.reserve(len);
      while (at < 0) {
        // Full: publish what there is, then sleep until the consumer releases space.
        writer.publish();
        if (await waitForSpace(space, () => writer.fits(len))) fullWaits++;
        at = writer.reserve(len);
      }
      fillRecord(writer.data, at, n, len);
      if (at < last && last < ring / 2) backEarly++;
      last = at;
      // The first record alone, then batches of 64.
      if (n === 0 || (n & 63) === 63) writer.publish();
    }
    writer.publish();

    const done = await next();
    expect(done).toEqual({ type: 'done', received: total, errors: 0, firstError: null, firstWokeWithData: true });
    expect(writer.used()).toBe(0);
    if (workingSet === ring) {
      // 1,000,000 records of ~52 bytes do not fit 4 KiB: the producer must have waited for space.
      expect(fullWaits).toBeGreaterThan(0);
      expect(backEarly).toBe(0);
    } else expect(backEarly).toBeGreaterThan(0);
  }, 60_000);

  it('wakes a consumer that sleeps on an empty ring, record after record', async () => {
    // One record at a time: the consumer empties the ring and goes back to arm() each round,
    // so every publish meets a consumer that is asleep or about to be. A lost wake-up hangs here.
    const total = 20_000;
    const sab = newRingBuffer(256);
    const spaceSab = new SharedArrayBuffer(4);
    const space = new Int32Array(spaceSab);
    const writer = new RingWriter(sab);
    const next = startConsumer(sab, spaceSab, total);
    expect(await next()).toEqual({ type: 'sleeping' });
    for (let n = 0; n < total; n++) {
      const len = lengthOf(n);
      const at = writer.reserve(len);
      expect(at).toBeGreaterThanOrEqual(0);
      fillRecord(writer.data, at, n, len);
      writer.publish();
      await waitForSpace(space, () => writer.used() === 0);
    }
    expect(await next()).toEqual({ type: 'done', received: total, errors: 0, firstError: null, firstWokeWithData: true });
  }, 60_000);
});
