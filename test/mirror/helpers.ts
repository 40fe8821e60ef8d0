/** Shared pieces of the mirror tests: options for loopback servers, checkpoint reads, bulk writes. */

import type { Etcd3 } from 'etcd3';
import { afterAll, beforeAll } from 'vitest';
import type { Checkpoint } from '../../src/mirror/checkpoint.js';
import { type MirrorLogger, type MirrorOptions, type MirrorSpec, resolveMirrorOptions } from '../../src/mirror/index.js';
import { type EtcdServer, startEtcd, waitForKey } from '../support/etcd.js';

export function cluster(endpoint: string): MirrorOptions['source'] {
  return { endpoints: [endpoint], insecureTransport: true, commandTimeoutMs: 5000 };
}

export function mirrorOptions(source: string, destination: string, spec: MirrorSpec = {}): MirrorOptions {
  return resolveMirrorOptions(spec, { source: cluster(source), destination: cluster(destination) }, (k) => `--${k}`);
}

/** A logger that keeps every line, so tests can assert on what an operator would read. */
export class MemoryLog implements MirrorLogger {
  readonly lines: Array<{ level: string; msg: string; fields: Record<string, unknown> }> = [];
  debug(fields: Record<string, unknown>, msg: string): void {
    this.lines.push({ level: 'debug', msg, fields });
  }
  info(fields: Record<string, unknown>, msg: string): void {
    this.lines.push({ level: 'info', msg, fields });
  }
  warn(fields: Record<string, unknown>, msg: string): void {
    this.lines.push({ level: 'warn', msg, fields });
  }
  error(fields: Record<string, unknown>, msg: string): void {
    this.lines.push({ level: 'error', msg, fields });
  }
}

export async function readCheckpoint(dest: Etcd3, name: string): Promise<Checkpoint | null> {
  const v = await dest.get(`__ferry/mirror/${name}/checkpoint`).buffer();
  return v === null ? null : (JSON.parse(v.toString('utf8')) as Checkpoint);
}

/** Wait (by watching the checkpoint key) until the mirror's checkpoint satisfies `pred`. */
export async function waitForCheckpoint(dest: Etcd3, name: string, pred: (c: Checkpoint) => boolean, timeoutMs = 60_000): Promise<Checkpoint> {
  const v = await waitForKey(dest, `__ferry/mirror/${name}/checkpoint`, (b) => b !== null && pred(JSON.parse(b.toString('utf8')) as Checkpoint), timeoutMs);
  return JSON.parse(v!.toString('utf8')) as Checkpoint;
}

/** Put `count` keys `${prefix}${i}` in transactions of 100; returns the revision of the last one. */
export async function putMany(client: Etcd3, prefix: string, count: number, value: (i: number) => string): Promise<number> {
  let revision = 0;
  for (let i = 0; i < count; i += 100) {
    const ops = [];
    for (let j = i; j < Math.min(count, i + 100); j++) ops.push({ request_put: { key: Buffer.from(`${prefix}${String(j).padStart(6, '0')}`), value: Buffer.from(value(j)) } });
    const res = await client.kv.txn({ success: ops });
    revision = Number(res.header.revision);
  }
  return revision;
}

export async function sourceRevision(client: Etcd3): Promise<number> {
  const res = await client.kv.range({ key: Buffer.from([0]), limit: 1, keys_only: true });
  return Number(res.header.revision);
}

/** A source and a destination etcd for the enclosing describe block, closed after it. */
export function etcdPair(sourceArgs: string[] = []): { readonly source: EtcdServer; readonly dest: EtcdServer } {
  const pair = {} as { source: EtcdServer; dest: EtcdServer };
  beforeAll(async () => {
    [pair.source, pair.dest] = await Promise.all([startEtcd({ name: 'source', extraArgs: sourceArgs }), startEtcd({ name: 'dest' })]);
  });
  afterAll(async () => {
    await Promise.all([pair.source?.close(), pair.dest?.close()]);
  });
  return pair;
}

/** Resolve when `cond()` holds, checking every 50 ms; fail after `timeoutMs`, saying what was awaited (and what was seen). */
export async function until(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: () => string): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!(await cond())) {
    if (performance.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
