/** The piscina task each worker thread runs for the life of the pool. */

import type { WorkerTask } from '../threads/index.js';
import { WorkerLoop } from './worker-loop.js';

export default async function runWorker(task: WorkerTask): Promise<void> {
  await new WorkerLoop(task).run();
}
