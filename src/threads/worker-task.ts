/**
 * What the main thread hands each long-lived worker once, at its start (structured-cloned; the
 * SharedArrayBuffers in it are shared, not copied). Everything that changes later crosses through
 * those buffers, each defined in its own file of this folder.
 *
 *   inbound      ring.ts + records.ts    main ─▶ worker: records (inline, or by reference into arena)
 *   arena        arena.ts                main ─▶ workers: source bytes, read in place
 *   completions  ring.ts + records.ts    worker ─▶ main: outcomes (main polls; nobody is woken)
 *   control      control.ts              main ─▶ worker: stop, ack deadline
 *   counters     counters.ts             worker ─▶ main: counts, heartbeat
 *   diagnostics  diagnostics.ts          worker ─▶ main: problems and errors
 *   policy       write-policy.ts         main ─▶ workers: the write policy (snapshot)
 *   deadLetters  dead-letter-tally.ts    worker ─▶ main: dead letters by namespace and code (snapshot)
 *   destination.map / .session           partition-map.ts, session-token.ts (snapshots)
 */

export type DestinationSettings =
  | {
      kind: 'aerospike';
      /** connections per node per worker: at most this many, `minConnectionsPerNode` kept open */
      connectionsPerNode: number;
      minConnectionsPerNode: number;
      /** close a connection above the minimum after this long unused */
      idleTimeoutMs: number;
      pipelineDepth: number;
      /** close a connection that has requests in flight and no answer for this long */
      timeoutMs: number;
      connectTimeoutMs: number;
      /** a write lost with its connection is sent again (to the partition's master) within this long */
      retryWindowMs: number;
      /** PEM text, when the destination speaks TLS */
      tls: { ca: string | undefined; cert: string | undefined; key: string | undefined } | null;
      /** the partition map the tender publishes (partition-map.ts) */
      map: SharedArrayBuffer;
      /** the session token the tender shares (session-token.ts) */
      session: SharedArrayBuffer;
      /** where records the destination rejects for good are kept; null = not kept */
      deadLetters: DeadLetterSettings | null;
    }
  | {
      kind: 'file';
      path: string;
      format: 'json' | 'msgpack';
      /** fdatasync before acknowledging */
      sync: boolean;
    };

/** `aerospike.dead-letters` (src/destination/dead-letters.ts) */
export interface DeadLetterSettings {
  /** the folder */
  path: string;
  /** a file is closed before it grows past this */
  maxBytes: number;
  /** files kept per worker; when all are full, new dead letters are dropped */
  maxFiles: number;
  format: 'json' | 'msgpack';
  /** fdatasync before the source gets its answer */
  sync: boolean;
  /** this Ferry instance's name, in each dead letter and in the file names */
  instance: string;
}

export interface WorkerFaults {
  /** throw from the worker's event loop after this many records (tests only) */
  crashAfterRecords?: number;
}

export interface WorkerTask {
  index: number;
  inbound: SharedArrayBuffer;
  /** the source arena (read-only here) */
  arena: SharedArrayBuffer;
  completions: SharedArrayBuffer;
  control: SharedArrayBuffer;
  counters: SharedArrayBuffer;
  diagnostics: SharedArrayBuffer;
  policy: SharedArrayBuffer;
  deadLetters: SharedArrayBuffer;
  destination: DestinationSettings;
  faults: WorkerFaults;
  /** below this many records a second the worker sets control.prompt (service.prompt-below; 0 = never) */
  promptBelowPerS: number;
  /** CPUs to pin this worker's thread to (service.cpu-affinity); empty = no pinning */
  cpus: number[];
}
