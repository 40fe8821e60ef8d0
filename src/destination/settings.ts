/** Destination settings as the main thread hands them to each worker (structured-cloned). */

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
      /** the session token the tender shares (session-share.ts) */
      session: SharedArrayBuffer;
    }
  | {
      kind: 'file';
      path: string;
      format: 'json' | 'msgpack';
      /** fdatasync before acknowledging */
      sync: boolean;
    };

export interface PolicySettings {
  stripLut: boolean;
  stripDurableDelete: boolean;
  /** source namespace → destination namespace; namespaces not listed pass unchanged */
  namespaceMap: Array<[string, string]>;
}
