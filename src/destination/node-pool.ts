/**
 * A worker's connections to one destination node: `max` slots, the first `min` opened at once and
 * kept; the others opened when every open one is full, and closed again after `idleMs` unused.
 * Writes fill the first connection with room, so a moderate stream rides one connection (one
 * write and a few reads per batch) and a heavy one spreads over as many as it needs.
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

  /** The first connection ready to take a write, or null. */
  withRoom(): DestinationConnection | null {
    for (const c of this.conns) if (c.hasRoom) return c;
    return null;
  }

  /** Every open connection is full: open one more, unless one is already on its way up. */
  grow(): void {
    let idle: DestinationConnection | null = null;
    for (const c of this.conns) {
      if (c.isOpening) return;
      if (idle === null && c.isIdle) idle = c;
    }
    idle?.open();
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
