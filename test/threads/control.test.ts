import { describe, expect, it } from 'vitest';
import { WorkerControl, newControlBuffer } from '../../src/threads/index.js';

describe('worker control words', () => {
  it('each word is seen by the other side of the same buffer, and leaves the others alone', () => {
    const sab = newControlBuffer();
    const main = new WorkerControl(sab);
    const worker = new WorkerControl(sab);
    expect(worker.stopping).toBe(false);
    expect(worker.ackDeadlineMs).toBe(0);
    expect(main.prompt).toBe(false);

    main.ackDeadlineMs = 9000;
    worker.prompt = true;
    expect(worker.ackDeadlineMs).toBe(9000);
    expect(main.prompt).toBe(true);
    expect(worker.stopping).toBe(false);

    main.stopping = true;
    worker.prompt = false;
    expect(worker.stopping).toBe(true);
    expect(main.prompt).toBe(false);
    expect(worker.ackDeadlineMs).toBe(9000);
  });
});
