/**
 * Opens etcd clients the way etcdctl does (endpoints, TLS files, user and password), and turns the
 * client's errors into MirrorErrors: transient ones are retried with backoff, the rest are fatal.
 *
 * Liveness: every unary call has a deadline, and gRPC keepalive pings the watch stream's connection,
 * so a dead network surfaces as an error within seconds instead of a request waiting forever.
 */

import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import {
  Etcd3,
  EtcdAuthenticationFailedError,
  EtcdPermissionDeniedError,
  GRPCInvalidArgumentError,
  GRPCUnauthenticatedError,
  type IOptions,
} from 'etcd3';
import { clientWithCredentials } from './credentials.js';
import { MirrorCompactedError, MirrorError, MirrorEtcdError, MirrorOptionsError } from './errors.js';
import type { EtcdClusterOptions } from './mirror-options.js';

export type Side = 'source' | 'destination';

/**
 * etcd allows a ping every 5 s on an active stream (`--grpc-keepalive-min-time`); pinging every 10 s
 * and giving up 5 s later finds a silent peer within 15 s without being told off.
 */
const KEEPALIVE = { 'grpc.keepalive_time_ms': 10_000, 'grpc.keepalive_timeout_ms': 5_000, 'grpc.max_receive_message_length': 256 * 1024 * 1024 };

function readOption(path: string | undefined, flag: string): Buffer | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path);
  } catch (err) {
    throw new MirrorOptionsError(`${flag}: cannot read ${path}: ${(err as Error).message}`);
  }
}

export function openCluster(side: Side, c: EtcdClusterOptions): Etcd3 {
  return openEtcd(c, (name) => (side === 'source' ? `--${name}` : `--dest-${name}`));
}

/**
 * TLS files that cannot work are an options error now, naming the file: gRPC would only report every
 * handshake failing ("socket disconnected before secure TLS connection"), as if the network did.
 */
function checkTls(c: EtcdClusterOptions, flag: (name: string) => string, ca: Buffer | undefined, cert: Buffer | undefined, key: Buffer | undefined): void {
  if (ca !== undefined) {
    try {
      new X509Certificate(ca);
    } catch (err) {
      throw new MirrorOptionsError(`${flag('cacert')}: ${c.cacert} holds no PEM certificate (${(err as Error).message})`);
    }
  }
  if (cert !== undefined && key !== undefined) {
    try {
      createSecureContext({ cert, key });
    } catch (err) {
      throw new MirrorOptionsError(`${flag('cert')} and ${flag('key')}: cannot use ${c.cert} with ${c.key} (${(err as Error).message})`);
    }
  }
}

/** An etcd client for `c`; `flag(name)` names an option the way the operator wrote it, for messages. */
export function openEtcd(c: EtcdClusterOptions, flag: (name: string) => string): Etcd3 {
  const ca = readOption(c.cacert, flag('cacert'));
  const cert = readOption(c.cert, flag('cert'));
  const key = readOption(c.key, flag('key'));
  checkTls(c, flag, ca, cert, key);
  const tls = ca !== undefined || cert !== undefined || !c.insecureTransport || c.endpoints.some((e) => e.startsWith('https://'));
  const hosts = c.endpoints.map((e) => (tls && !e.startsWith('https://') ? `https://${e.replace(/^http:\/\//, '')}` : e));
  const options: IOptions = {
    hosts,
    grpcOptions: KEEPALIVE,
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + c.commandTimeoutMs }),
  };
  if (ca !== undefined || cert !== undefined) {
    // Without --cacert, gRPC verifies against the system roots; it reads a missing root as "use them".
    options.credentials = { rootCertificate: ca as Buffer, privateKey: key, certChain: cert };
  }
  return c.user !== undefined && c.password !== undefined ? clientWithCredentials(options, c.user, c.password) : new Etcd3(options);
}

const COMPACTED = /required revision has been compacted/;

/** Map anything the etcd client throws onto the mirror's error taxonomy. */
export function classifyEtcdError(side: Side, err: unknown, wantedRevision = 0): MirrorError {
  if (err instanceof MirrorError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (COMPACTED.test(message)) return new MirrorCompactedError(wantedRevision, 0);
  const permanent =
    err instanceof EtcdAuthenticationFailedError ||
    err instanceof EtcdPermissionDeniedError ||
    err instanceof GRPCUnauthenticatedError ||
    // "too many operations in txn request", "request is too large", "value size too large", …
    err instanceof GRPCInvalidArgumentError ||
    // Credentials sent to a cluster without authentication are dropped before this can happen
    // (dropUnusedCredentials); if it still does, no retry changes the answer.
    /etcdserver: (too many operations|request is too large|permission denied|user name is empty|authentication failed|authentication is not enabled)/.test(message);
  return new MirrorEtcdError(side, message, !permanent, err);
}
