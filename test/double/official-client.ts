// Drives the official `aerospike` client in a child process (see official-client-child.mjs
// for why it cannot share a thread with the double). Each method is one round trip over IPC.

import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CHILD = fileURLToPath(new URL('./official-client-child.mjs', import.meta.url));

/** [namespace, set, user key] */
export type ClientKey = [string, string, string | number | Uint8Array];

/** Values as they cross the IPC boundary; { $double } and { $geo } stand for client classes. */
export type ClientValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | ClientValue[]
  | { $double: number }
  | { $geo: object }
  | { [name: string]: ClientValue };

export type ClientBins = Record<string, ClientValue>;

export interface ClientRecord {
  bins: ClientBins;
  gen: number;
  ttl: number;
}

export type ClientOp =
  | { kind: 'read'; bin: string }
  | { kind: 'write' | 'incr' | 'append' | 'prepend' | 'list-append'; bin: string; value: ClientValue }
  | { kind: 'touch'; ttl: number }
  | { kind: 'delete' };

/** Where and how the client connects; `port` alone means one seed on 127.0.0.1. */
export interface ClientConnectOptions {
  port?: number;
  /** Seeds; a `tlsName` makes the client verify that node's certificate against that name. */
  hosts?: { host: string; port: number; tlsName?: string }[];
  clusterName?: string;
  user?: string;
  password?: string;
  /** The client's `tls` config (enable is implied): file paths. */
  tls?: { cafile?: string; certfile?: string; keyfile?: string };
  /** Total and socket timeout of reads and writes; the client's defaults when unset. */
  timeoutMs?: number;
}

/** A failed client call; `code` is the client's status (the server's result code when it answered). */
export class ClientCallError extends Error {
  override readonly name = 'ClientCallError';
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

interface Reply {
  id: number;
  ok: boolean;
  value?: unknown;
  error?: { code: number; message: string };
}

export class OfficialClient {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  private constructor(private readonly child: ChildProcess) {
    child.on('message', (message: Reply) => {
      const call = this.pending.get(message.id);
      if (!call) return;
      this.pending.delete(message.id);
      if (message.ok) call.resolve(message.value);
      else call.reject(new ClientCallError(message.error?.code ?? -1, message.error?.message ?? 'unknown error'));
    });
    child.on('exit', (code) => {
      for (const call of this.pending.values()) call.reject(new Error(`client process exited with ${code}`));
      this.pending.clear();
    });
  }

  static async start(): Promise<OfficialClient> {
    // execArgv: [] keeps the test runner's own node flags out of the child.
    const child = fork(CHILD, [], { execArgv: [], serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    await new Promise<void>((resolve, reject) => {
      child.once('message', () => resolve());
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`client process exited with ${code} before it was ready`)));
    });
    return new OfficialClient(child);
  }

  connect(port: number, clusterName?: string): Promise<null>;
  connect(opts: ClientConnectOptions): Promise<null>;
  connect(portOrOpts: number | ClientConnectOptions, clusterName?: string): Promise<null> {
    const opts = typeof portOrOpts === 'number' ? { port: portOrOpts, clusterName } : portOrOpts;
    return this.call('connect', opts);
  }
  /** Names (node ids) of the nodes the client currently knows. */
  nodes(): Promise<string[]> {
    return this.call('nodes', {});
  }
  /** Puts every item, `concurrency` at a time; resolves with the ones that failed. */
  putMany(items: { key: ClientKey; bins: ClientBins }[], concurrency = 64): Promise<{ failures: { index: number; code: number; message: string }[] }> {
    return this.call('putMany', { items, concurrency });
  }
  /** Gets every key, `concurrency` at a time: the bins, or the error code. */
  getMany(keys: ClientKey[], concurrency = 64): Promise<({ bins: ClientBins } | { code: number })[]> {
    return this.call('getMany', { keys, concurrency });
  }
  put(key: ClientKey, bins: ClientBins, opts: { ttl?: number; exists?: 'CREATE' | 'UPDATE' | 'REPLACE' | 'CREATE_OR_REPLACE' } = {}): Promise<null> {
    return this.call('put', { key, bins, ...opts });
  }
  get(key: ClientKey): Promise<ClientRecord> {
    return this.call('get', { key });
  }
  select(key: ClientKey, bins: string[]): Promise<ClientRecord> {
    return this.call('select', { key, bins });
  }
  exists(key: ClientKey): Promise<boolean> {
    return this.call('exists', { key });
  }
  /**
   * A put guarded as last-write-wins guards it, built with the client's own expression API:
   * or(eq(bin_type(bin), 0), le(bin_int(bin), version)). `version` must be a safe integer.
   */
  putGuarded(key: ClientKey, bins: ClientBins, bin: string, version: number): Promise<null> {
    return this.call('putGuarded', { key, bins, bin, version });
  }

  remove(key: ClientKey): Promise<null> {
    return this.call('remove', { key });
  }
  operate(key: ClientKey, ops: ClientOp[]): Promise<ClientRecord> {
    return this.call('operate', { key, ops });
  }
  batchRead(keys: ClientKey[], bins?: string[]): Promise<{ status: number; bins: ClientBins | null }[]> {
    return this.call('batchRead', { keys, bins });
  }
  batchWrite(rows: { key: ClientKey; ops: ClientOp[] }[]): Promise<{ status: number }[]> {
    return this.call('batchWrite', { rows });
  }
  batchRemove(keys: ClientKey[]): Promise<{ status: number }[]> {
    return this.call('batchRemove', { keys });
  }
  /** Every record of `namespace` (only `set`'s when given), as the client's scan returns them. */
  scan(namespace: string, set?: string): Promise<{ digest: string; bins: ClientBins; gen: number }[]> {
    return this.call('scan', { namespace, set });
  }
  info(command: string): Promise<string> {
    return this.call('info', { command });
  }
  close(): Promise<null> {
    return this.call('close', {});
  }

  /** Ends the child process (closing the client first if the caller has not). */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.disconnect();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }

  private call<T>(op: string, args: object): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ id, op, args });
    });
  }
}
