/** A real WorkerPool for the dispatch tests: one worker thread writing to a file in `dir`. */

import { join } from 'node:path';
import { pino } from 'pino';
import { WorkerPool } from '../../src/dispatch/worker-pool.js';
import { type CompletionSink, IDENTITY_RULE } from '../../src/threads/index.js';
import { WORKER_FILE } from '../support/in-process.js';

export function filePool(dir: string, sink: CompletionSink): WorkerPool {
  return new WorkerPool(
    {
      threads: 1,
      ringBytes: 4 * 1024 * 1024,
      completionBytes: 64 * 1024,
      dispatchDelayMs: 1,
      promptBelowPerS: 25_000,
      workerBusy: 0.5,
      workerFile: WORKER_FILE,
      task: { destination: { kind: 'file', path: join(dir, 'changes.jsonl'), format: 'json', sync: false }, faults: {} },
      policy: { stripLut: false, stripDurableDelete: false, routing: { fallback: IDENTITY_RULE, namespaces: [], skipSets: [] }, transform: null, lastWriteWins: null },
      cpus: [],
      arenaSlabs: 16,
      largestBody: 1024 * 1024,
    },
    sink,
    pino({ level: 'silent' }),
  );
}
