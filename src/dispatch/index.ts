export { type CompletionSink, WorkerPool } from './worker-pool.js';
export { COMPLETION_SIZE, INBOUND_HEADER } from './records.js';
export { RingReader, RingWriter, newRingBuffer, sleepOnDoorbell, type Doorbell } from './ring.js';
export { type WorkerFaults, type WorkerTask, WorkerCounter } from './worker-task.js';
