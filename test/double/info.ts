// Info protocol (proto type 1) responder.
//
//   request body := (name "\n")*            names may be "key" or "key:params" / "key/sub"
//   reply body   := (name "\t" value "\n")*  the request name is echoed
//
// An empty request answers a default set, as `asinfo` with no command shows. Partition maps are
// AP mode (regime 0) with one replica: a node's `replicas` bitmap is the partitions it masters.
// The node's place in its cluster (peers, partitions, generations) comes from its topology; a
// stand-alone double masters every partition and has no peers.
//
// Services and peers by listener kind (the double listens either in clear or with TLS):
//   clear: service-clear-std = host:port;  peers-clear-* list the peers; peers-tls-* are empty
//   TLS:   service-tls-std   = host:port;  peers-tls-*   list the peers; peers-clear-* are empty
// A peer is listed as [<node id>,<tls name>,[<host>:<port>]]; the port is always spelled out
// because every node of a double cluster has a port of its own.

import { masterBitmap, type NodeTopology } from './topology.js';
import { N_PARTITIONS } from './wire.js';

export interface InfoContext {
  readonly nodeId: string;
  readonly host: string;
  readonly port: number;
  readonly namespaces: readonly string[];
  readonly clusterName: string | undefined;
  /** answered in `namespace/<ns>` beside `nsup-period=0` (CE's defaults: 0 and false) */
  readonly allowTtlWithoutNsup: boolean;
  readonly topology: NodeTopology;
  /** The TLS name peers are listed with; undefined when the node listens in clear. */
  readonly tlsName: string | undefined;
  readonly tls: boolean;
  /** XDR DC commands received (`context=xdr;dc=…;node-address-port=…;action=…`), in order */
  readonly xdrCommands: string[];
  /** how many of the next XDR DC commands to refuse (answered with an error, not recorded) */
  xdrRefusals: number;
  objectCount(ns: string): number;
}

export const EDITION = 'Aerospike Community Edition';
export const BUILD = '8.1.2.0';

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
  switch (name) {
    case 'node':
      return ctx.nodeId;
    case 'features':
      return FEATURES;
    case 'partitions':
      return String(N_PARTITIONS);
    case 'partition-generation':
      return String(ctx.topology.partitionGeneration());
    case 'peers-generation':
      return String(ctx.topology.peersGeneration());
    case 'rebalance-generation':
      return '1';
    case 'cluster-name':
      return ctx.clusterName ?? 'null';
    case 'cluster-stable':
      return ctx.topology.clusterKey() || clusterKey(ctx.nodeId);
    case 'edition':
      return EDITION;
    case 'build':
      return BUILD;
    case 'version':
      return `${EDITION} build ${BUILD}`;
    case 'status':
      return 'ok';
    case 'service':
      return `${ctx.host}:${ctx.port}`;
    case 'service-clear-std':
      return ctx.tls ? '' : `${ctx.host}:${ctx.port}`;
    case 'service-tls-std':
      return ctx.tls ? `${ctx.host}:${ctx.port}` : '';
    case 'service-clear-alt':
    case 'service-tls-alt':
    case 'services-alumni':
    case 'services-alternate':
      return '';
    case 'services':
      return ctx.topology
        .peers()
        .map((peer) => `${peer.host}:${peer.port}`)
        .join(';');
    case 'peers-clear-std':
    case 'peers-clear-alt':
      return peerList(ctx, !ctx.tls);
    case 'peers-tls-std':
    case 'peers-tls-alt':
      return peerList(ctx, ctx.tls);
    case 'alumni-clear-std':
    case 'alumni-clear-alt':
    case 'alumni-tls-std':
    case 'alumni-tls-alt':
      return `${ctx.topology.peersGeneration()},${ctx.port},[]`;
    case 'replicas': {
      const bitmap = masterBitmap(ctx.topology).toString('base64');
      return ctx.namespaces.map((ns) => `${ns}:0,1,${bitmap}`).join(';');
    }
    case 'replicas-all': {
      const bitmap = masterBitmap(ctx.topology).toString('base64');
      return ctx.namespaces.map((ns) => `${ns}:1,${bitmap}`).join(';');
    }
    case 'replicas-master': {
      const bitmap = masterBitmap(ctx.topology).toString('base64');
      return ctx.namespaces.map((ns) => `${ns}:${bitmap}`).join(';');
    }
    case 'racks:':
    case 'racks': {
      const members = [ctx.nodeId, ...ctx.topology.peers().map((peer) => peer.nodeId)].join(',');
      return ctx.namespaces.map((ns) => `ns=${ns}:rack_0=${members}`).join(';');
    }
    case 'namespaces':
      return ctx.namespaces.join(';');
    case 'statistics':
      return `cluster_size=${ctx.topology.clusterSize()};cluster_integrity=true;cluster_is_member=true;uptime=1`;
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
  // A Ferry fleet adds and removes its members in a source DC; recorded for tests to assert on.
  if (/^set-config:context=xdr;dc=[^;]+;node-address-port=[^;]+;action=(add|remove)$/.test(name)) {
    if (ctx.xdrRefusals > 0) {
      ctx.xdrRefusals--;
      return 'ERROR:4:refused by the test';
    }
    ctx.xdrCommands.push(name.slice('set-config:'.length));
    return 'ok';
  }
  const match = /^namespace(?:\/|:(?:namespace=|ns=)?)(.+)$/.exec(name);
  if (!match) return undefined;
  const ns = match[1]!;
  if (!ctx.namespaces.includes(ns)) return 'ERROR:20:namespace not found';
  return [
    `ns_cluster_size=${ctx.topology.clusterSize()}`,
    `effective_replication_factor=1`,
    `objects=${ctx.objectCount(ns)}`,
    `tombstones=0`,
    `replication-factor=1`,
    `default-ttl=0`,
    `nsup-period=0`,
    `allow-ttl-without-nsup=${ctx.allowTtlWithoutNsup}`,
    `strong-consistency=false`,
    `storage-engine=memory`,
  ].join(';');
}

/** `<peers generation>,<default port>,[peer,…]`, or no peers when `listed` is false. */
function peerList(ctx: InfoContext, listed: boolean): string {
  const peers = listed ? ctx.topology.peers() : [];
  const entries = peers.map((peer) => `[${peer.nodeId},${ctx.tlsName ?? ''},[${peer.host}:${peer.port}]]`);
  return `${ctx.topology.peersGeneration()},${ctx.port},[${entries.join(',')}]`;
}

/** A stable 64-bit-looking cluster key from the node id. */
function clusterKey(nodeId: string): string {
  return nodeId.padStart(16, '0').slice(-12);
}
