/**
 * Real etcd servers for tests: Debian's `etcd-server`, one single-member cluster per call, on
 * 127.0.0.1 with free client and peer ports, its data in a fresh directory (on /dev/shm when there
 * is one, so fsync costs nothing), killed and removed by close().
 */

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { freePort } from './free-port.js';

export interface EtcdServer {
  /** `127.0.0.1:port`, as etcdctl's --endpoints takes it */
  readonly endpoint: string;
  readonly clientPort: number;
  readonly dataDir: string;
  readonly process: ChildProcess;
  /** a client for the test's own reads and writes */
  readonly client: Etcd3;
  /** SIGKILL the server (keeping its data) and wait for it to exit */
  kill(): Promise<void>;
  /** restart a killed server on the same ports and data */
  restart(): Promise<void>;
  close(): Promise<void>;
}

/** Fail loudly when etcd is missing: a test that quietly skips proves nothing. */
export function etcdBinary(): string {
  for (const dir of (process.env['PATH'] ?? '').split(':')) {
    const candidate = join(dir, 'etcd');
    if (dir !== '' && existsSync(candidate)) return candidate;
  }
  throw new Error("etcd is not installed: install Debian's 'etcd-server' package (and 'etcd-client' for etcdctl): apt-get install -y etcd-server etcd-client");
}

export function etcdctlBinary(): string {
  try {
    return execFileSync('sh', ['-c', 'command -v etcdctl'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error("etcdctl is not installed: install Debian's 'etcd-client' package: apt-get install -y etcd-client");
  }
}

/** Serve clients over TLS with this key and certificate; with `clientCa`, require client certificates it signed. */
export interface EtcdTls {
  cert: string;
  key: string;
  clientCa?: string;
  /** what the harness's own client presents (needed when client certificates are required) */
  ca: string;
  clientCert?: string;
  clientKey?: string;
}

function tlsArgs(tls: EtcdTls | undefined): string[] {
  if (tls === undefined) return [];
  const args = ['--cert-file', tls.cert, '--key-file', tls.key];
  if (tls.clientCa !== undefined) args.push('--client-cert-auth', '--trusted-ca-file', tls.clientCa);
  return args;
}

function launch(bin: string, name: string, dataDir: string, clientPort: number, peerPort: number, extra: string[], tls?: EtcdTls): ChildProcess {
  const client = `${tls === undefined ? 'http' : 'https'}://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  return spawn(
    bin,
    [
      '--name', name,
      '--data-dir', dataDir,
      '--listen-client-urls', client,
      '--advertise-client-urls', client,
      '--listen-peer-urls', peer,
      '--initial-advertise-peer-urls', peer,
      '--initial-cluster', `${name}=${peer}`,
      '--initial-cluster-state', 'new',
      '--logger', 'zap',
      '--log-outputs', 'stderr',
      '--log-level', 'info',
      ...tlsArgs(tls),
      ...extra,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
}

/** Resolve when etcd logs that it serves clients; reject with its log if it exits first. */
function ready(child: ChildProcess, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let log = '';
    const timer = setTimeout(() => reject(new Error(`etcd did not become ready within ${timeoutMs} ms:\n${log.slice(-2000)}`)), timeoutMs);
    const onData = (chunk: Buffer): void => {
      log += chunk.toString('utf8');
      // etcd logs this once it has joined its cluster and serves clients (etcd 3.4 and later).
      if (/serving client traffic|ready to serve client requests/.test(log)) {
        clearTimeout(timer);
        child.stderr!.off('data', onData);
        // Keep draining stderr so a chatty server never blocks on a full pipe.
        child.stderr!.resume();
        resolve();
      }
    };
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`etcd exited with ${code} before serving:\n${log.slice(-2000)}`));
    });
  });
}

export async function startEtcd(options: { name?: string; extraArgs?: string[]; tls?: EtcdTls } = {}): Promise<EtcdServer> {
  const bin = etcdBinary();
  const name = options.name ?? 'etcd';
  const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  const extra = options.extraArgs ?? [];
  // A free port found now can be taken before etcd binds it; try again with new ports if so.
  for (let attempt = 0; ; attempt++) {
    const dataDir = mkdtempSync(join(base, 'ferry-etcd-'));
    const clientPort = await freePort();
    const peerPort = await freePort();
    let child = launch(bin, name, join(dataDir, 'data'), clientPort, peerPort, extra, options.tls);
    try {
      await ready(child, 20_000);
    } catch (err) {
      child.kill('SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
      if (attempt < 3 && /address already in use/.test((err as Error).message)) continue;
      throw err;
    }
    const endpoint = `127.0.0.1:${clientPort}`;
    const t = options.tls;
    const client =
      t === undefined
        ? new Etcd3({ hosts: endpoint })
        : new Etcd3({
            hosts: `https://${endpoint}`,
            credentials: {
              rootCertificate: readFileSync(t.ca),
              ...(t.clientCert === undefined || t.clientKey === undefined ? {} : { certChain: readFileSync(t.clientCert), privateKey: readFileSync(t.clientKey) }),
            },
          });
    const exited = (c: ChildProcess): Promise<void> =>
      new Promise((resolve) => {
        if (c.exitCode !== null || c.signalCode !== null) resolve();
        else c.once('exit', () => resolve());
      });
    const server: EtcdServer = {
      endpoint,
      clientPort,
      dataDir,
      get process() {
        return child;
      },
      client,
      async kill() {
        child.kill('SIGKILL');
        await exited(child);
      },
      async restart() {
        child = launch(bin, name, join(dataDir, 'data'), clientPort, peerPort, extra, options.tls);
        await ready(child, 20_000);
      },
      async close() {
        client.close();
        child.kill('SIGKILL');
        await exited(child);
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
    return server;
  }
}

/** Every key and value under `prefix`, in key order, read in pages (gRPC caps one reply at 4 MiB). */
export async function dump(client: Etcd3, prefix: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const end = Buffer.from(prefix);
  end[end.length - 1]!++;
  let key = Buffer.from(prefix);
  for (;;) {
    const res = await client.kv.range({ key, range_end: end, limit: 5000 });
    for (const kv of res.kvs) out.set(kv.key.toString('utf8'), kv.value.toString('utf8'));
    const last = res.kvs[res.kvs.length - 1];
    if (!res.more || last === undefined) return out;
    key = Buffer.concat([last.key, Buffer.from([0])]);
  }
}

/** Resolve once `predicate` holds for the key `key` in `client`, watching it (no polling). */
export async function waitForKey(client: Etcd3, key: string, predicate: (value: Buffer | null) => boolean, timeoutMs = 60_000): Promise<Buffer | null> {
  const initial = await client.get(key).buffer();
  if (predicate(initial)) return initial;
  const watcher = await client.watch().key(key).create();
  try {
    // The key may have changed between the read and the watch: read once more before waiting.
    const again = await client.get(key).buffer();
    if (predicate(again)) return again;
    return await new Promise<Buffer | null>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting on ${key}`)), timeoutMs);
      watcher.on('put', (kv) => {
        if (predicate(kv.value)) {
          clearTimeout(timer);
          resolve(kv.value);
        }
      });
      watcher.on('delete', () => {
        if (predicate(null)) {
          clearTimeout(timer);
          resolve(null);
        }
      });
    });
  } finally {
    await watcher.cancel();
  }
}
