/**
 * Faults at the edges of a Ferry process's life: every start-up failure ends it with its exit code,
 * one fatal line and every port closed; SIGTERM ends it while starting; a second SIGTERM ends a
 * drain at once; and a drain against a destination that takes nothing ends by the ack deadline.
 */

import { createServer, type Server, type Socket } from 'node:net';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { XdrSource } from '../../src/cli/load/xdr-source.js';
import { AerospikeDouble } from '../double/server.js';
import { freePort } from '../support/free-port.js';
import { FerryProcess, type LogLine, testConfig } from '../support/ferry-process.js';
import { until } from '../support/in-process.js';
import { loadOptions } from '../support/load.js';

/** Generous: a loaded two-core machine must pass; the point is that the process ends at all. */
const EXIT_WITHIN_MS = 15_000;

const open: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  for (const close of open.splice(0).reverse()) await close();
});

function listen(server: Server, port = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve((server.address() as { port: number }).port));
  });
}

/** A TCP server on loopback that accepts and never answers, closed after the test. */
async function holdPort(port = 0): Promise<{ port: number; server: Server }> {
  const sockets: Socket[] = [];
  const server = createServer((s) => sockets.push(s));
  const bound = await listen(server, port);
  open.push(() => {
    for (const s of sockets) s.destroy();
    return new Promise((r) => server.close(r));
  });
  return { port: bound, server };
}

/** Wait for the exit, within EXIT_WITHIN_MS; kill the process if it overstays, and fail. */
async function exitOf(ferry: FerryProcess): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const overstayed = new Promise<'overstayed'>((resolve) => {
    timer = setTimeout(() => resolve('overstayed'), EXIT_WITHIN_MS);
  });
  const code = await Promise.race([ferry.exitCode(), overstayed]);
  clearTimeout(timer);
  if (code === 'overstayed') {
    ferry.child.kill('SIGKILL');
    throw new Error(`ferry still running after ${EXIT_WITHIN_MS} ms: ${JSON.stringify(ferry.logs.slice(-3))}`);
  }
  return code;
}

function fatal(ferry: FerryProcess): LogLine[] {
  return ferry.logs.filter((l) => l.level === 60);
}

/** Ports a test reserves for Ferry, then binds again after Ferry has exited. */
async function assertPortFree(port: number): Promise<void> {
  const server = createServer();
  await listen(server, port);
  await new Promise((r) => server.close(r));
}

function config(seedPort: number, service: Record<string, unknown> = {}): Record<string, unknown> {
  return testConfig({ host: '127.0.0.1', port: seedPort }, { service, aerospike: { timeouts: { connect: 300 } } });
}

describe('start-up failures end the process', () => {
  it.each([
    ['missing', null, 'cannot read {file} (no such file)'],
    ['empty (it would let every request in)', '\n', '{file} holds no token (its first line is empty)'],
  ])('a management token file that is %s: exit 2 naming the key, before anything opens', async (_what, text, message) => {
    const silent = await holdPort();
    const file = join(mkdtempSync(join(tmpdir(), 'ferry-token-')), 'token');
    if (text !== null) writeFileSync(file, text);
    const ferry = FerryProcess.launch(config(silent.port, { manage: { address: '127.0.0.1', port: 0, 'token-file': file } }));
    expect(await exitOf(ferry)).toBe(2);
    expect(ferry.stderr.join('')).toContain(`service.manage.token-file: ${message.replace('{file}', file)}`);
    expect(ferry.logs.some((l) => l.msg === 'destination cluster not reachable yet; will keep trying')).toBe(false);
  });

  it('a service port in use: exit 3, one fatal line, the management port closed again', async () => {
    const double = await AerospikeDouble.start();
    open.push(() => double.close());
    const held = await holdPort();
    const managePort = await freePort();
    const ferry = FerryProcess.launch(config(double.port, { port: held.port, manage: { address: '127.0.0.1', port: managePort } }));
    expect(await exitOf(ferry)).toBe(3);
    const lines = fatal(ferry);
    expect(lines).toHaveLength(1);
    expect(lines[0]!.msg).toBe(`cannot start: service.port: cannot listen on 127.0.0.1:${held.port}: the address is in use`);
    expect(lines[0]!['code']).toBe('ERR_LISTEN');
    expect(lines[0]!['cause']).toBe('EADDRINUSE');
    await assertPortFree(managePort);
  });

  it('a management port in use: exit 3, naming service.manage.port', async () => {
    const double = await AerospikeDouble.start();
    open.push(() => double.close());
    const held = await holdPort();
    const servicePort = await freePort();
    const ferry = FerryProcess.launch(config(double.port, { port: servicePort, manage: { address: '127.0.0.1', port: held.port } }));
    expect(await exitOf(ferry)).toBe(3);
    expect(fatal(ferry).map((l) => l.msg)).toEqual([`cannot start: service.manage.port: cannot listen on 127.0.0.1:${held.port}: the address is in use`]);
    await assertPortFree(servicePort);
  });

  it('an unreadable or invalid TLS file: exit 2, naming the key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-bad-tls-'));
    const garbage = join(dir, 'garbage.pem');
    writeFileSync(garbage, 'not a PEM file\n');
    const double = await AerospikeDouble.start();
    open.push(() => double.close());

    const service = FerryProcess.launch(config(double.port, { tls: { 'key-file': garbage, 'cert-chain-file': garbage } }));
    expect(await exitOf(service)).toBe(2);
    expect(service.stderr.join('')).toMatch(/service\.tls\.key-file: cannot load/);

    const missing = join(dir, 'missing-ca.pem');
    const destination = FerryProcess.launch(testConfig(double, { aerospike: { tls: { 'ca-file': missing } } }));
    expect(await exitOf(destination)).toBe(2);
    expect(destination.stderr.join('')).toContain(`aerospike.tls.ca-file: cannot read ${missing} (no such file)`);

    const invalid = FerryProcess.launch(testConfig(double, { aerospike: { tls: { 'ca-file': garbage } } }));
    expect(await exitOf(invalid)).toBe(2);
    expect(invalid.stderr.join('')).toMatch(/aerospike\.tls\.ca-file: not a PEM certificate/);
  });

  it.each([
    ['nothing listens on the seed port', async () => freePort()],
    ['the seed accepts and never answers', async () => (await holdPort()).port],
  ])('a destination that does not answer (%s): exit 3 after service.startup-timeout', async (_what, seedPort) => {
    const port = await seedPort();
    const managePort = await freePort();
    const ferry = FerryProcess.launch(config(port, { 'startup-timeout': 2000, manage: { address: '127.0.0.1', port: managePort } }));
    expect(await exitOf(ferry)).toBe(3);
    expect(fatal(ferry).map((l) => [l.msg, l['code']])).toEqual([
      [`cannot start: no destination node answered (aerospike.seeds: 127.0.0.1:${port}) within service.startup-timeout (2000 ms)`, 'ERR_STARTUP_TIMEOUT'],
    ]);
    expect(ferry.logs.some((l) => l.msg === 'ferry started')).toBe(false);
    await assertPortFree(managePort);
  });
});

/** Whether process `pid` has a handler for `signal` (SigCgt in /proc/<pid>/status). */
function catches(pid: number, signal: NodeJS.Signals): boolean {
  const mask = /SigCgt:\s*([0-9a-f]+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return mask !== undefined && ((BigInt(`0x${mask}`) >> BigInt(constants.signals[signal] - 1)) & 1n) === 1n;
}

/**
 * Ferry into a double, once it holds its signals (its modules are then still loading). Node itself
 * catches SIGTERM from its start (to restore the terminal, then die by it); SIGHUP is caught only
 * once the three are held.
 */
async function launchHoldingSignals(): Promise<FerryProcess> {
  const double = await AerospikeDouble.start();
  open.push(() => double.close());
  const ferry = FerryProcess.launch(config(double.port));
  open.push(() => void ferry.child.kill('SIGKILL'));
  await until(() => catches(ferry.child.pid!, 'SIGHUP'), EXIT_WITHIN_MS, 'the signals to be held');
  return ferry;
}

describe('signals', () => {
  // The \`ferry\` command holds SIGTERM, SIGINT and SIGHUP from its first line, while its modules
  // load (most of a second): node's default for each is to die with nothing logged.
  it('a SIGHUP while the commands load is a reload once started, not the end', async () => {
    const ferry = await launchHoldingSignals();
    ferry.child.kill('SIGHUP');
    await until(() => ferry.logs.some((l) => l.msg.startsWith('configuration reloaded')), EXIT_WITHIN_MS, 'the reload once started');
    expect(ferry.logs.some((l) => l.msg === 'ferry started')).toBe(true);
    expect(await ferry.stop()).toBe(0);
  });

  it('a SIGTERM while the commands load ends start-up with 0', async () => {
    const ferry = await launchHoldingSignals();
    ferry.child.kill('SIGTERM');
    expect(await exitOf(ferry)).toBe(0);
    expect(ferry.logs.some((l) => l.msg === 'stopped while starting')).toBe(true);
    expect(ferry.logs.some((l) => l.msg === 'ferry started')).toBe(false);
  });

  it('SIGTERM while starting (waiting for a destination that never answers) ends it with 0', async () => {
    const silent = await holdPort();
    const ferry = FerryProcess.launch(config(silent.port, { 'startup-timeout': 600_000 }));
    await until(() => ferry.logs.some((l) => l.msg === 'destination cluster not reachable yet; will keep trying'), EXIT_WITHIN_MS, 'start-up to be waiting for the destination');
    ferry.child.kill('SIGTERM');
    expect(await exitOf(ferry)).toBe(0);
    expect(ferry.logs.some((l) => l.msg === 'stopped while starting')).toBe(true);
    expect(fatal(ferry)).toEqual([]);
  });

  it('a second SIGTERM during a drain ends the process at once, with 143', async () => {
    const double = await AerospikeDouble.start();
    open.push(() => double.close());
    // The longest ack deadline, and a destination that answers nothing: the drain would take 9 s.
    const ferry = await FerryProcess.start(config(double.port, { 'ack-deadline': 9000 }));
    open.push(() => void ferry.child.kill('SIGKILL'));
    double.faults.stall = true;
    const source = new XdrSource(loadOptions(ferry.port, { keys: 1000, changes: 1_000_000, object: 'I', set: 'second-signal', probeEvery: 0 }));
    void source.run();
    open.push(() => source.stopGenerating());
    await until(async () => (await ferry.metric('ferry_records_in_flight')) > 0, EXIT_WITHIN_MS, 'records in flight');
    ferry.child.kill('SIGTERM');
    await until(() => ferry.logs.some((l) => l.msg === 'draining'), EXIT_WITHIN_MS, 'the drain to begin');
    ferry.child.kill('SIGTERM');
    expect(await exitOf(ferry)).toBe(143);
    expect(ferry.stderr.join('')).toContain('ferry: second SIGTERM: exiting at once');
    expect(ferry.logs.some((l) => l.msg === 'stopped')).toBe(false);
  });

  it('a drain while the destination takes nothing and the source re-ships ends by the ack deadline', async () => {
    const double = await AerospikeDouble.start();
    open.push(() => double.close());
    const ackDeadlineMs = 2000;
    const ferry = await FerryProcess.start(config(double.port, { 'ack-deadline': ackDeadlineMs }));
    open.push(() => void ferry.child.kill('SIGKILL'));
    double.faults.stall = true;
    const source = new XdrSource(loadOptions(ferry.port, { keys: 1000, changes: 1_000_000, object: 'I', set: 'stalled-drain', probeEvery: 0, retryDelayMs: 10 }));
    void source.run();
    open.push(() => source.stopGenerating());
    // The source has been told 11 and is re-shipping.
    await until(() => source.stats.retries > 100, EXIT_WITHIN_MS, 'the source to re-ship');
    const t0 = performance.now();
    ferry.child.kill('SIGTERM');
    expect(await exitOf(ferry)).toBe(0);
    const drainMs = performance.now() - t0;
    // Every record answered by the deadline, then a one-second margin for the workers; the rest is
    // allowance for a loaded machine. Before, the workers got the write timeout on top.
    expect(drainMs).toBeLessThan(ackDeadlineMs + 5000);
    source.stopGenerating();
    expect(source.stats.abandons).toBe(0);
    expect(source.stats.resets).toBe(0);
  });
});
