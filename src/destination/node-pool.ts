/**
 * A worker's connections to one destination node: `max` slots, the first `min` opened at once and
 * kept; the others opened when a partition first needs them and closed again after `idleMs` unused.
 * A partition always maps to the same slot (partition % max), so its writes share a connection.
 */

import { type ConnectionEvents, DestinationConnection } from './connection.js';
import type { LinkAddress, TlsSettings } from './node-link.js';

export interface PoolOptions {
  max: number;
  min: number;
  idleMs: number;
  depth: number;
  connectTimeoutMs: number;
  tls: TlsSettings | null;
  greeting: () => Buffer | null;
}

export class NodePool {
  readonly conns: DestinationConnection[] = [];
  readonly key: string;

  constructor(
    readonly slot: number,
    readonly addr: LinkAddress,
    private readonly opts: PoolOptions,
    events: ConnectionEvents,
  ) {
    this.key = `${addr.host}:${addr.port}:${addr.tlsName ?? ''}`;
    for (let i = 0; i < opts.max; i++) {
      this.conns.push(new DestinationConnection({ addr, tls: opts.tls, depth: opts.depth, connectTimeoutMs: opts.connectTimeoutMs, greeting: opts.greeting }, events));
    }
    for (let i = 0; i < Math.min(opts.min, opts.max); i++) this.conns[i]!.open();
  }

  /** Any connection of this pool ready to take a write, starting from `from`. */
  anyReady(from: number): DestinationConnection | null {
    const n = this.conns.length;
    for (let i = 0; i < n; i++) {
      const c = this.conns[(from + i) % n]!;
      if (c.hasRoom) return c;
    }
    return null;
  }

  /** Some connection is up (even with a full pipeline) or on its way up. */
  get live(): boolean {
    for (const c of this.conns) if (c.isReady || c.isOpening) return true;
    return false;
  }

  tick(now: number, timeoutMs: number): void {
    for (let i = 0; i < this.conns.length; i++) {
      const c = this.conns[i]!;
      c.checkTimeout(now, timeoutMs);
      if (i >= this.opts.min && c.isReady && c.inFlight === 0 && now - c.lastUsed > this.opts.idleMs) c.closeIdle();
    }
  }

  flush(): number {
    let n = 0;
    for (const c of this.conns) n += c.flush();
    return n;
  }

  get inFlight(): number {
    let n = 0;
    for (const c of this.conns) n += c.inFlight;
    return n;
  }

  close(): void {
    for (const c of this.conns) c.close();
  }
}
