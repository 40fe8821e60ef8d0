/**
 * A fleet behind a load balancer: xdr-load's HTTP/2 mode (the ESP connector's way of shipping)
 * through a real HAProxy, run on the documented config/haproxy-http2.cfg, in front of two Ferry
 * processes with `service.protocol: HTTP_2`, into one destination. The load spreads over both and
 * nothing is lost; then one Ferry is killed mid-run (SIGKILL) and the load moves to the other, with
 * nothing lost: the requests it had are answered by nobody, or 502 by HAProxy, and shipped again.
 * Last, the killed one comes back on its ports and HAProxy's health check lets it in again, while
 * the other is stopped with SIGTERM mid-run: it drains and exits 0, and nothing is lost.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { XdrSource } from '../../src/cli/load/xdr-source.js';
import { useDestination } from '../support/destination.js';
import { freePort } from '../support/free-port.js';
import { FerryProcess, testConfig } from '../support/ferry-process.js';
import { HaproxyProcess, haproxyConfig } from '../support/haproxy.js';
import { loadOptions } from '../support/load.js';
import { verifyFinalState } from '../support/verify-state.js';

const RECEIVED = 'ferry_records_total{outcome="received"}';

describe('HTTP/2 through HAProxy to two Ferry instances', () => {
  const ctx = useDestination();
  let ferries: FerryProcess[] = [];
  let lb: HaproxyProcess | null = null;

  beforeAll(async () => {
    const config = testConfig(ctx.dest, { service: { protocol: 'HTTP_2' } });
    ferries = await FerryProcess.startAll([config, config]);
    const port = await freePort();
    lb = await HaproxyProcess.start(haproxyConfig(port, ferries.map((f) => ({ port: f.port, managePort: f.managePort }))), port);
  });

  afterAll(async () => {
    lb?.stop();
    await Promise.all(ferries.map((f) => f.stop('SIGKILL')));
  });

  it('spreads the load over both instances, loses nothing, and every key ends at its last version', async () => {
    const source = new XdrSource(loadOptions(lb!.port, { protocol: 'http2', keys: 4000, changes: 20_000, deletePct: 5, compress: true, set: 'h2-lb', connections: 2, pipeline: 128 }));
    const stats = await source.run();
    expect(stats.changes).toBe(20_000);
    expect([stats.abandons, stats.unacknowledged, stats.orderViolations]).toEqual([0, 0, 0]);
    const [a, b] = await Promise.all(ferries.map((f) => f.metric(RECEIVED)));
    // Round-robin per request: each instance took a fair share of the shipments.
    expect(Math.min(a!, b!)).toBeGreaterThan(stats.ships / 4);
    expect(a! + b!).toBeGreaterThanOrEqual(stats.acks);
    const { checked, mismatches } = await verifyFinalState(ctx.client, source);
    expect(mismatches.slice(0, 5)).toEqual([]);
    expect(checked).toBeGreaterThan(3900);
  });

  it('one instance killed mid-run: the load moves to the other and nothing is lost', async () => {
    const [doomed, survivor] = ferries as [FerryProcess, FerryProcess];
    const source = new XdrSource(loadOptions(lb!.port, { protocol: 'http2', keys: 3000, changes: 15_000, throttle: 3000, set: 'h2-lb-kill', connections: 2, pipeline: 128, drainMs: 20_000 }));
    const run = source.run();
    // Kill once both have taken a share of this run.
    const before = await survivor.metric(RECEIVED);
    while (source.stats.acks < 3000) await new Promise((r) => setTimeout(r, 50));
    expect(await doomed.metric(RECEIVED)).toBeGreaterThan(0);
    // The survivor's count is read before the kill and the source's after it: reading the metric
    // takes a request, and records shipped meanwhile would be acknowledged after acksAtKill yet
    // counted before survivorAtKill.
    const survivorAtKill = await survivor.metric(RECEIVED);
    expect(await doomed.stop('SIGKILL')).toBe(null);
    const acksAtKill = source.stats.acks;
    const inFlightAtKill = source.inFlightCount;
    const stats = await run;
    expect([stats.abandons, stats.unacknowledged, stats.orderViolations]).toEqual([0, 0, 0]);
    expect(survivorAtKill).toBeGreaterThan(before);
    // Every acknowledgement after the kill came from the survivor, but for answers already on
    // their way from the other when it died.
    const survivorAfter = (await survivor.metric(RECEIVED)) - survivorAtKill;
    expect(stats.acks - acksAtKill).toBeGreaterThan(1000);
    expect(survivorAfter).toBeGreaterThanOrEqual(stats.acks - acksAtKill - inFlightAtKill);
    const { checked, mismatches } = await verifyFinalState(ctx.client, source);
    expect(mismatches.slice(0, 5)).toEqual([]);
    expect(checked).toBeGreaterThan(2900);
  });

  it('the killed one restarted on its ports gets traffic again; the other stopped with SIGTERM drains, exits 0, loses nothing', async () => {
    const [doomed, survivor] = ferries as [FerryProcess, FerryProcess];
    const restarted = await FerryProcess.start(testConfig(ctx.dest, { service: { protocol: 'HTTP_2', port: doomed.port, manage: { address: '127.0.0.1', port: doomed.managePort } } }));
    ferries = [restarted, survivor];
    const source = new XdrSource(loadOptions(lb!.port, { protocol: 'http2', keys: 3000, changes: 15_000, throttle: 3000, set: 'h2-lb-drain', connections: 2, pipeline: 128, drainMs: 20_000, seed: 5 }));
    const run = source.run();
    // HAProxy sees it ready again after two health checks; then it takes a share.
    while ((await restarted.metric(RECEIVED)) === 0) await new Promise((r) => setTimeout(r, 100));
    expect(await survivor.stop('SIGTERM')).toBe(0);
    const stats = await run;
    expect([stats.abandons, stats.unacknowledged, stats.orderViolations]).toEqual([0, 0, 0]);
    const { mismatches } = await verifyFinalState(ctx.client, source);
    expect(mismatches.slice(0, 5)).toEqual([]);
  });
});
