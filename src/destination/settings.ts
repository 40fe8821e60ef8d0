/** Destination settings as the main thread hands them to each worker (structured-cloned). */

export type DestinationSettings =
  | {
      kind: 'aerospike';
      host: string;
      port: number;
      connectionsPerNode: number;
      pipelineDepth: number;
      /** close a connection that has requests in flight and no answer for this long */
      timeoutMs: number;
      connectTimeoutMs: number;
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
