// Info protocol (proto type 1) responder.
//
//   request body := (name "\n")*            names may be "key" or "key:params" / "key/sub"
//   reply body   := (name "\t" value "\n")*  the request name is echoed
//
// An empty request answers a default set, as `asinfo` with no command shows. The double is a
// one-node cluster that masters every partition of every namespace, with one replica, in AP
// mode (regime 0).

import { N_PARTITIONS } from './wire.js';

export interface InfoContext {
  readonly nodeId: string;
  readonly host: string;
  readonly port: number;
  readonly namespaces: readonly string[];
  readonly clusterName: string | undefined;
  objectCount(ns: string): number;
}

export const EDITION = 'Aerospike Community Edition';
export const BUILD = '8.1.2.0';
/** Constant: the double's partition map and peer list never change. */
const PARTITION_GENERATION = 1;
const PEERS_GENERATION = 1;

/**
 * Feature names a 8.1 Community server advertises that clients look for. Clients require
 * `peers`, `pipelining` and `replicas`; `batch-any` makes the C client (under the Node client)
 * use the batch row format that carries writes.
 */
const FEATURES = [
  'batch-any',
  'batch-index',
  'blob-bits',
  'cdt-list',
  'cdt-map',
  'cluster-stable',
  'float',
  'geo',
  'sindex-exists',
  'peers',
  'pipelining',
  'pquery',
  'pscans',
  'query-show',
  'partition-query',
  'relaxed-sc',
  'replicas',
  'replicas-all',
  'replicas-master',
  'truncate-namespace',
  'udf',
  'xdr-filter',
].join(';');

/** Every partition bit set: 512 bytes of 0xFF. */
const ALL_PARTITIONS_B64 = Buffer.alloc(N_PARTITIONS / 8, 0xff).toString('base64');

const DEFAULT_NAMES = ['node', 'build', 'edition', 'version', 'features', 'cluster-name', 'partition-generation', 'statistics'];

export function answerInfo(body: Buffer, ctx: InfoContext, onName?: (name: string, known: boolean) => void): Buffer {
  const requested = body.toString('utf8').split('\n').filter((name) => name.length > 0);
  const names = requested.length > 0 ? requested : DEFAULT_NAMES;
  let reply = '';
  for (const name of names) {
    const value = infoValue(name, ctx);
    onName?.(name, value !== undefined);
    reply += `${name}\t${value ?? 'ERROR:4:unrecognized command'}\n`;
  }
  return Buffer.from(reply, 'utf8');
}

/** The value of one info name, or undefined when the double does not know it. */
export function infoValue(name: string, ctx: InfoContext): string | undefined {
  const peers = `${PEERS_GENERATION},${ctx.port},[]`;
  switch (name) {
    case 'node':
      return ctx.nodeId;
    case 'features':
      return FEATURES;
    case 'partitions':
      return String(N_PARTITIONS);
    case 'partition-generation':
      return String(PARTITION_GENERATION);
    case 'peers-generation':
      return String(PEERS_GENERATION);
    case 'rebalance-generation':
      return '1';
    case 'cluster-name':
      return ctx.clusterName ?? 'null';
    case 'cluster-stable':
      return clusterKey(ctx.nodeId);
    case 'edition':
      return EDITION;
    case 'build':
      return BUILD;
    case 'version':
      return `${EDITION} build ${BUILD}`;
    case 'status':
      return 'ok';
    case 'service':
    case 'service-clear-std':
      return `${ctx.host}:${ctx.port}`;
    case 'service-clear-alt':
    case 'service-tls-std':
    case 'service-tls-alt':
    case 'services':
    case 'services-alumni':
    case 'services-alternate':
      return '';
    case 'peers-clear-std':
    case 'peers-clear-alt':
    case 'peers-tls-std':
    case 'peers-tls-alt':
    case 'alumni-clear-std':
    case 'alumni-clear-alt':
    case 'alumni-tls-std':
    case 'alumni-tls-alt':
      return peers;
    case 'replicas':
      return ctx.namespaces.map((ns) => `${ns}:0,1,${ALL_PARTITIONS_B64}`).join(';');
    case 'replicas-all':
      return ctx.namespaces.map((ns) => `${ns}:1,${ALL_PARTITIONS_B64}`).join(';');
    case 'replicas-master':
      return ctx.namespaces.map((ns) => `${ns}:${ALL_PARTITIONS_B64}`).join(';');
    case 'racks:':
    case 'racks':
      return ctx.namespaces.map((ns) => `ns=${ns}:rack_0=${ctx.nodeId}`).join(';');
    case 'namespaces':
      return ctx.namespaces.join(';');
    case 'statistics':
      return 'cluster_size=1;cluster_integrity=true;cluster_is_member=true;uptime=1';
    case 'udf-list':
    case 'sindex-list':
    case 'sindex-list:':
    case 'sets':
    case 'bins':
      return '';
    default:
      return parameterisedInfo(name, ctx);
  }
}

/** Parameterised names: `user-agent-set:…` and `namespace/<ns>` (or `namespace:…`). */
function parameterisedInfo(name: string, ctx: InfoContext): string | undefined {
  // 8.1 clients announce themselves once per connection (`user-agent-set:value=<base64>`).
  if (name.startsWith('user-agent-set:')) return 'ok';
  const match = /^namespace(?:\/|:(?:namespace=|ns=)?)(.+)$/.exec(name);
  if (!match) return undefined;
  const ns = match[1]!;
  if (!ctx.namespaces.includes(ns)) return 'ERROR:20:namespace not found';
  return [
    `ns_cluster_size=1`,
    `effective_replication_factor=1`,
    `objects=${ctx.objectCount(ns)}`,
    `tombstones=0`,
    `replication-factor=1`,
    `default-ttl=0`,
    `strong-consistency=false`,
    `storage-engine=memory`,
  ].join(';');
}

/** A stable 64-bit-looking cluster key from the node id. */
function clusterKey(nodeId: string): string {
  return nodeId.padStart(16, '0').slice(-12);
}
