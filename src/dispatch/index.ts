export { type CompletionSink, WorkerPool } from './worker-pool.js';
export { COMPLETION_SIZE, INBOUND_HEADER, OUTCOME_SLOTS, Outcome } from './records.js';
export { RingReader, RingWriter, newRingBuffer, sleepOnDoorbell, type Doorbell } from './ring.js';
export { type DestinationSettings, type PolicySettings, type WorkerFaults, type WorkerTask, WorkerCounter } from './worker-task.js';
