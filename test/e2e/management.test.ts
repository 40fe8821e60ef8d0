/**
 * The management port of a running Ferry process: metrics on all three endpoints against what was
 * sent, health, log levels, pause and resume, the bearer token, bad requests, and SIGHUP reloads.
 */

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { XdrSource } from '../../src/cli/load/xdr-source.js';
import { AerospikeDouble } from '../double/server.js';
import { FerryProcess, testConfig } from '../support/ferry-process.js';
import { until } from '../support/in-process.js';
import { loadOptions } from '../support/load.js';

const TOKEN = 'test-token-1234';

/** The value of one Prometheus sample line, e.g. metric('ferry_x{a="b"}'). */
function sample(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  if (line === undefined) throw new Error(`no sample ${series}`);
  return Number(line.slice(series.length + 1));
}

describe('management', () => {
  let double: AerospikeDouble;
  let ferry: FerryProcess;
  let base: string;
  let config: Record<string, unknown>;
  let dir: string;

  beforeAll(async () => {
    double = await AerospikeDouble.start();
    dir = mkdtempSync(join(tmpdir(), 'ferry-manage-'));
    // Written on Windows, say: the line ending is not part of the token.
    writeFileSync(join(dir, 'token'), `${TOKEN}\r\n`);
    config = testConfig(double, { service: { manage: { port: 0, 'token-file': join(dir, 'token') } } });
    ferry = await FerryProcess.start(config);
    base = `http://127.0.0.1:${ferry.managePort}`;
  });
  afterAll(async () => {
    await ferry?.stop();
    await double?.close();
  });

  const auth = { Authorization: `Bearer ${TOKEN}` };

  it('binds to loopback unless told otherwise', () => {
    const started = ferry.logs.find((l) => l.msg === 'ferry started')!;
    expect(started['management']).toBe(`127.0.0.1:${ferry.managePort}`);
    // Said once at start: the daemon runs on one malloc arena (src/malloc-arenas.ts).
    expect(ferry.logs.filter((l) => l.msg === 'malloc arenas')).toEqual([expect.objectContaining({ arenas: 1, reason: 'native addon' })]);
  });

  it('serves metrics on all three endpoints, and the counts match what was sent', async () => {
    const source = new XdrSource(loadOptions(ferry.port, { keys: 3000, changes: 30_000, object: 'I,S:32', deletePct: 5, set: 'metrics', probeEvery: 0 }));
    const run = source.run();
    // Scrape while the load runs.
    await until(() => source.stats.acks > 2000, 20_000, 'the load to start');
    const during = await Promise.all(['/metrics', '/manage/rest/v1/prometheus', '/manage/rest/v1/metrics'].map((p) => fetch(base + p)));
    expect(during.map((r) => r.status)).toEqual([200, 200, 200]);
    const stats = await run;
    expect(stats.abandons).toBe(0);

    // The source has closed its connections; wait until Ferry has seen every close.
    let text = '';
    for (let i = 0; i < 100; i++) {
      text = await (await fetch(`${base}/metrics`)).text();
      if (sample(text, 'aerospike_xdr_proxy_connections{status="active"}') === 0) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(await (await fetch(`${base}/manage/rest/v1/prometheus`)).text()).toContain('aerospike_xdr_proxy_requests{status="success"}');
    expect(sample(text, 'aerospike_xdr_proxy_requests{status="success"}')).toBe(stats.acks);
    expect(sample(text, 'aerospike_xdr_proxy_inbound_requests{status="success"}')).toBe(stats.acks);
    expect(sample(text, 'aerospike_xdr_proxy_requests{status="error"}')).toBe(0);
    expect(sample(text, 'ferry_records_total{outcome="received"}')).toBe(stats.ships);
    expect(sample(text, 'aerospike_xdr_proxy_connections{status="active"}')).toBe(0);
    expect(sample(text, 'aerospike_xdr_proxy_connections{status="closed"}')).toBeGreaterThanOrEqual(8);
    expect(sample(text, 'ferry_ack_latency_seconds_count')).toBe(stats.ships);
    expect(sample(text, 'ferry_replication_lag_seconds_count')).toBe(stats.ships);
    // Lag is measured from the LUT the source stamped moments before: well under a minute.
    expect(sample(text, 'ferry_replication_lag_seconds_bucket{le="60"}')).toBe(stats.ships);
    const workers = sample(text, 'ferry_worker_records_total{worker="0"}') + sample(text, 'ferry_worker_records_total{worker="1"}');
    expect(workers).toBe(stats.ships);
    expect(sample(text, 'ferry_destination_results_total{result="0"}') + sample(text, 'ferry_destination_results_total{result="2"}')).toBe(stats.ships);
    expect(sample(text, 'ferry_records_in_flight')).toBe(0);
    // Every family served is in the README's table (prom-client's process defaults by their prefix).
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const served = [...text.matchAll(/^# TYPE (\S+)/gm)].map((m) => m[1]!).filter((n) => !/^ferry_(process|nodejs)_/.test(n));
    expect(served.length).toBeGreaterThan(20);
    expect(served.filter((n) => !readme.includes(`\`${n}\``))).toEqual([]);
    // Every connection has closed and the workers are past every record: the arena is all free.
    expect(sample(text, 'ferry_source_arena_slabs{state="lent"}')).toBe(0);
    expect(sample(text, 'ferry_source_arena_slabs{state="retired"}')).toBe(0);
    expect(sample(text, 'ferry_source_arena_slabs{state="free"}')).toBeGreaterThanOrEqual(16);

    const json = (await (await fetch(`${base}/manage/rest/v1/metrics`)).json()) as Array<{ name: string; values: Array<{ value: number; labels: Record<string, string> }> }>;
    const requests = json.find((m) => m.name === 'aerospike_xdr_proxy_requests')!;
    expect(requests.values.find((v) => v.labels['status'] === 'success')!.value).toBe(stats.acks);
  });

  it('health: live, and ready while the destination is reachable', async () => {
    expect((await fetch(`${base}/health/live`)).status).toBe(200);
    const ready = await fetch(`${base}/health/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', reasons: [] });
  });

  it('log levels: read, refused without the token, changed with it, validated', async () => {
    const get = (await (await fetch(`${base}/manage/rest/v1/logging`)).json()) as { levels: Record<string, string> };
    expect(get.levels['root']).toBe('info');
    const body = JSON.stringify({ levels: { 'record-parser': 'debug' } });
    expect((await fetch(`${base}/manage/rest/v1/logging`, { method: 'PUT', body })).status).toBe(401);
    expect((await fetch(`${base}/manage/rest/v1/logging`, { method: 'PUT', body, headers: { Authorization: 'Bearer wrong' } })).status).toBe(401);
    const put = await fetch(`${base}/manage/rest/v1/logging`, { method: 'PUT', body, headers: auth });
    expect(put.status).toBe(200);
    expect(((await put.json()) as { levels: Record<string, string> }).levels['record-parser']).toBe('debug');
    // The record-parser logger now logs each record.
    const source = new XdrSource(loadOptions(ferry.port, { keys: 5, changes: 5, workload: 'insert', object: 'I', set: 'parsed', probeEvery: 0, healthChecks: false }));
    await source.run();
    await until(() => ferry.logs.filter((l) => l.msg === 'parsed record' && l['set'] === 'parsed').length === 5, 5000, 'five record-parser lines');
    const line = ferry.logs.find((l) => l.msg === 'parsed record' && l['set'] === 'parsed')!;
    expect(line).toMatchObject({ logger: 'record-parser', namespace: 'test', ops: 1 });
    expect(line['digest']).toMatch(/^[0-9a-f]{40}$/);
    expect(typeof line['lut']).toBe('number');
    const bad = await fetch(`${base}/manage/rest/v1/logging`, { method: 'PUT', body: JSON.stringify({ levels: { root: 'loud' } }), headers: auth });
    expect(bad.status).toBe(400);
    await fetch(`${base}/manage/rest/v1/logging`, { method: 'PUT', body: JSON.stringify({ levels: { 'record-parser': 'info' } }), headers: auth });
  });

  it('pause answers every record with the retry code; resume lets them through; nothing is lost', async () => {
    expect((await fetch(`${base}/manage/rest/v1/pause`, { method: 'POST' })).status).toBe(401);
    expect(await (await fetch(`${base}/manage/rest/v1/pause`, { method: 'POST', headers: auth })).json()).toEqual({ paused: true });
    const before = double.stats.requests;
    const source = new XdrSource(loadOptions(ferry.port, { keys: 200, changes: 200, workload: 'insert', object: 'I', set: 'paused', probeEvery: 0 }));
    const run = source.run();
    await until(() => source.stats.retries >= 200, 10_000, 'every record to be retried while paused');
    expect(double.stats.requests).toBe(before);
    // Not ready while paused, so a load balancer sends records elsewhere.
    const readyWhilePaused = await fetch(`${base}/health/ready`);
    expect(readyWhilePaused.status).toBe(503);
    expect(((await readyWhilePaused.json()) as { reasons: string[] }).reasons).toContain('paused');
    // The scheme's name in any case.
    expect(await (await fetch(`${base}/manage/rest/v1/resume`, { method: 'POST', headers: { Authorization: `bearer ${TOKEN}` } })).json()).toEqual({ paused: false });
    const stats = await run;
    expect(stats.acks).toBe(200);
    expect(stats.abandons).toBe(0);
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(sample(text, 'ferry_records_total{outcome="paused-retry"}')).toBeGreaterThanOrEqual(200);
    expect((await fetch(`${base}/health/ready`)).status).toBe(200);
    // Resuming what is not paused changes nothing, and says nothing.
    expect(await (await fetch(`${base}/manage/rest/v1/resume`, { method: 'POST', headers: auth })).json()).toEqual({ paused: false });
    expect(ferry.logs.filter((l) => l.msg === 'resumed')).toHaveLength(1);
  });

  it('bad requests get 4xx and the server keeps serving', async () => {
    expect((await fetch(`${base}/nope`)).status).toBe(404);
    expect((await fetch(`${base}/metrics`, { method: 'DELETE', headers: auth })).status).toBe(405);
    expect((await fetch(`${base}/manage/rest/v1/logging`, { method: 'PUT', body: '{not json', headers: auth })).status).toBe(400);
    expect((await fetch(`${base}/manage/rest/v1/logging`, { method: 'PUT', body: 'x'.repeat(200_000), headers: auth })).status).toBe(413);
    expect((await fetch(`${base}/health/live`)).status).toBe(200);
    // HEAD wherever GET is allowed, and a trailing slash names the same endpoint.
    const head = await fetch(`${base}/health/live`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    expect((await fetch(`${base}/health/ready/`)).status).toBe(200);
    expect((await fetch(`${base}/manage/rest/v1/pause`, { method: 'HEAD', headers: auth })).status).toBe(405);
  });

  it('SIGHUP applies a good file live and refuses a bad one whole', async () => {
    const next = structuredClone(config) as { service: Record<string, unknown>; aerospike: Record<string, unknown>; logging: Record<string, unknown> & { levels: Record<string, string> } };
    next.service['ack-deadline'] = 3000;
    next.service['worker-threads'] = 1;
    next.service['slow-reader-timeout'] = 20_000;
    next.service['cpu-affinity'] = [0];
    next.aerospike['idle-timeout'] = 30_000;
    next.logging.levels['dispatch'] = 'warn';
    next.logging['format'] = 'pretty';
    writeFileSync(ferry.configFile, stringify(next));
    ferry.child.kill('SIGHUP');
    await until(() => ferry.logs.some((l) => l.msg.startsWith('configuration reloaded')), 5000, 'the reload');
    const report = ferry.logs.find((l) => l.msg.startsWith('configuration reloaded'))!;
    // Every changed key is named once: applied, or waiting for a restart.
    expect((report['applied'] as string[]).sort()).toEqual(['logging.format', 'logging.levels', 'service.ack-deadline', 'service.slow-reader-timeout']);
    expect((report['needsRestart'] as string[]).sort()).toEqual(['aerospike.idle-timeout', 'service.cpu-affinity', 'service.worker-threads']);
    expect(report.msg).toBe('configuration reloaded; some changes need a restart');
    const levels = (await (await fetch(`${base}/manage/rest/v1/logging`)).json()) as { levels: Record<string, string> };
    expect(levels.levels['dispatch']).toBe('warn');
    const reports = (): Array<Record<string, unknown>> => ferry.logs.filter((l) => l.msg.startsWith('configuration reloaded'));

    // The same file again: nothing new to apply, and the restart keys are still waiting.
    ferry.child.kill('SIGHUP');
    await until(() => reports().length >= 2, 5000, 'the second reload');
    expect(reports()[1]!['applied']).toEqual([]);
    expect((reports()[1]!['needsRestart'] as string[]).sort()).toEqual(['aerospike.idle-timeout', 'service.cpu-affinity', 'service.worker-threads']);

    // Back to the file it started with: the live keys go back, and nothing waits for a restart.
    writeFileSync(ferry.configFile, stringify(config));
    ferry.child.kill('SIGHUP');
    await until(() => reports().length >= 3, 5000, 'the third reload');
    expect((reports()[2]!['applied'] as string[]).sort()).toEqual(['logging.format', 'logging.levels', 'service.ack-deadline', 'service.slow-reader-timeout']);
    expect(reports()[2]!['needsRestart']).toEqual([]);
    expect(reports()[2]!['msg']).toBe('configuration reloaded');

    writeFileSync(ferry.configFile, 'service:\n  prot: 1\n');
    ferry.child.kill('SIGHUP');
    await until(() => ferry.logs.some((l) => l.msg.startsWith('reload refused')), 5000, 'the refusal');
    const refused = ferry.logs.find((l) => l.msg.startsWith('reload refused'))!;
    expect(JSON.stringify(refused['problems'])).toContain("service.prot: unknown key (did you mean 'port'?)");

    // A file Ferry could not start with is refused too, though the key only changes at a restart.
    const noToken = structuredClone(config) as { service: { manage: Record<string, unknown> } };
    noToken.service.manage['token-file'] = join(dir, 'no-such-token');
    writeFileSync(ferry.configFile, stringify(noToken));
    ferry.child.kill('SIGHUP');
    await until(() => ferry.logs.filter((l) => l.msg.startsWith('reload refused')).length >= 2, 5000, 'the second refusal');
    const unreadable = ferry.logs.filter((l) => l.msg.startsWith('reload refused'))[1]!;
    expect(JSON.stringify(unreadable['problems'])).toContain(`service.manage.token-file: cannot read ${join(dir, 'no-such-token')} (no such file)`);
    // Still running on the previous configuration.
    expect((await fetch(`${base}/health/ready`)).status).toBe(200);
    const source = new XdrSource(loadOptions(ferry.port, { keys: 100, changes: 100, workload: 'insert', object: 'I', set: 'after-reload', probeEvery: 0 }));
    expect((await source.run()).acks).toBe(100);
  });
});
