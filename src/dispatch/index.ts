export { POLL_MS } from './poll-pace.js';
export { WorkerPool } from './worker-pool.js';
