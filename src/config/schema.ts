/**
 * The one schema for Ferry's YAML file. Its first three sections are the XDR Proxy's own
 * (`service`, `aerospike`, `logging`), so an unmodified `aerospike-xdr-proxy.yml` validates; Ferry's
 * extensions sit beside the XDR Proxy's keys. Every object is strict: an unknown key is an error.
 */

import { z } from 'zod';
import { type Listener, listenConflicts } from './listen-conflicts.js';

const port = z.number().int().min(0).max(65535);
/** the source resets a connection after 10 s without an answer; Ferry answers before that */
const ACK_DEADLINE_MAX = 9000;
const oneOrMany = <T extends z.ZodType>(t: T) => z.union([t, z.array(t).min(1)]);

/**
 * A boolean as the XDR Proxy reads it: SnakeYAML follows YAML 1.1, where yes/no/on/off are booleans.
 * Only boolean keys take those words; everywhere else (set names, map keys) they stay strings, as
 * YAML 1.2 reads them, so `skip-sets: [no]` names a set.
 */
const YAML_11_BOOLEAN = /^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$/;
const bool = z.preprocess((v) => (typeof v === 'string' && YAML_11_BOOLEAN.test(v) ? /^(?:yes|true|on)$/i.test(v) : v), z.boolean());

/** A section left empty (`service:` with nothing under it, YAML null) means all its defaults. */
const section = <T extends z.ZodType>(t: T) => z.preprocess((v) => (v === null ? undefined : v), t);

/** A key Ferry recognises but refuses: any value is an error with this message. */
const refused = (message: string) => z.never({ error: message }).optional();

/** The XDR Proxy writes a seed as `- host-name: { port: 3000, tls-name: x }`. */
const seed = z.record(
  z.string().min(1),
  z
    .strictObject({
      port: port.default(3000),
      'tls-name': z.string().optional(),
    })
    .nullable()
    .default({ port: 3000 }),
  { error: (iss) => (iss.code === 'invalid_type' ? 'a seed is written as a map of its host to its settings: `- 10.0.0.1: { port: 3000 }` (or `- 10.0.0.1:` for port 3000)' : undefined) },
);

const tls = z.strictObject({
  'key-file': z.string().optional(),
  'cert-chain-file': z.string().optional(),
  'ca-file': z.string().optional(),
  'key-store-file': z.string().optional(),
  'key-store-password-file': z.string().optional(),
  'trust-store-file': z.string().optional(),
  'trust-store-password-file': z.string().optional(),
  'allowed-peer-names': z.array(z.string()).optional(),
  'tls-name': z.string().optional(),
  protocols: z.union([z.string(), z.array(z.string())]).optional(),
});

const KEY_STORES = 'Java key and trust stores are not read: give PEM files instead: ca-file (the CA that signs the nodes), and cert-chain-file with key-file for a client certificate (README, "Migrating from the XDR Proxy")';

/**
 * TLS towards an Aerospike cluster (the destination, the fleet's source): PEM files and a name. The
 * other TLS keys Ferry knows are refused, each with what to do instead: a connection with less
 * checking than the file asks for must not start quietly.
 */
const clientTls = z.strictObject({
  'ca-file': z.string().optional(),
  'cert-chain-file': z.string().optional(),
  'key-file': z.string().optional(),
  'tls-name': z.string().optional(),
  // the XDR Proxy's own destination keys (Java stores, nested) and the service port's flat ones
  'key-store': refused(KEY_STORES),
  'trust-store': refused(KEY_STORES),
  'key-store-file': refused(KEY_STORES),
  'key-store-password-file': refused(KEY_STORES),
  'trust-store-file': refused(KEY_STORES),
  'trust-store-password-file': refused(KEY_STORES),
  ciphers: refused('not supported: Ferry offers Node\'s default cipher suites for TLSv1.2 and TLSv1.3; remove the key (README, "Migrating from the XDR Proxy")'),
  'revoke-certificates': refused('not supported: a revoked node certificate would be accepted; remove the certificate from the CA file\'s trust, or reissue the CA (README, "Migrating from the XDR Proxy")'),
  'allowed-peer-names': refused('not supported towards a cluster: the node certificate is checked against tls-name (a seed\'s, else this section\'s), so set tls-name to the name it must carry'),
  protocols: refused('not supported towards a cluster: Ferry offers TLSv1.2 and TLSv1.3, Node\'s default; remove the key'),
});

/** The service port's TLS: the XDR Proxy's keys, plus Ferry's `require-client-cert`. */
const serviceTls = tls.extend({
  // Ferry's extension: refuse a client without a certificate the CA file vouches for (mutual TLS)
  'require-client-cert': bool.default(false),
});

/** Ferry's extension: the source must log in (LOGIN / AUTHENTICATE) as one of these users. */
const serviceSecurity = z
  .strictObject({
    users: z
      .array(
        z.strictObject({
          username: z.string().min(1),
          /** the password is the file's first line */
          'password-file': z.string().min(1),
        }),
      )
      .min(1),
    /** seconds a session token stays valid */
    'session-ttl': z.number().int().min(1).max(864000).default(86400),
  })
  .superRefine((sec, ctx) => {
    const seen = new Set<string>();
    sec.users.forEach((u, i) => {
      if (seen.has(u.username)) ctx.addIssue({ code: 'custom', path: ['users', i, 'username'], message: `user '${u.username}' is listed twice` });
      seen.add(u.username);
    });
  });

/** The sockets `service` asks for: each service port on each address, and the management port. */
function listenersOf(s: { port: number | number[]; address: string | string[]; manage: { address: string; port: number; enabled: boolean } }): Listener[] {
  const list = <T>(v: T | T[]): Array<[T, number[]]> => (Array.isArray(v) ? v.map((x, i): [T, number[]] => [x, [i]]) : [[v, []]]);
  const out: Listener[] = [];
  for (const [address, ai] of list(s.address)) {
    for (const [p, pi] of list(s.port)) out.push({ path: ['port', ...pi], address, addressKey: ['service.address', ...ai].join('.'), port: p });
  }
  if (s.manage.enabled) out.push({ path: ['manage', 'port'], address: s.manage.address, addressKey: 'service.manage.address', port: s.manage.port });
  return out;
}

export const serviceSchema = z
  .strictObject({
    port: oneOrMany(port).default(8901),
    address: oneOrMany(z.string().min(1)).default('0.0.0.0'),
    tls: serviceTls.optional(),
    // Ferry's extension
    security: serviceSecurity.optional(),
    manage: section(
      z
        .strictObject({
          address: z.string().min(1).default('127.0.0.1'),
          port: port.default(8902),
          // Ferry's extensions
          enabled: bool.default(true),
          'token-file': z.string().min(1).optional(),
        })
        .prefault({}),
    ),
    'io-threads': z.number().int().min(1).optional(),
    // the XDR Proxy's Prometheus grouping label; Ferry's metrics carry none (README, "service")
    'cluster-name': z.string().optional(),
    'worker-threads': z.number().int().min(1).max(64).optional(),
    'max-concurrent-records': z.number().int().min(1).max(1 << 22).default(32768),
    'enable-tcp-xdr-ack-buffering': bool.optional(),
    // TCP: the XDR connector protocol; HTTP_2: one POST per XDR message, as the ESP connector sends
    protocol: z.enum(['TCP', 'HTTP_2']).default('TCP'),
    // Ferry's extensions
    'ack-deadline': z.number().int().min(100).max(ACK_DEADLINE_MAX).default(5000),
    'max-frame-size': z
      .number()
      .int()
      .min(4096)
      .max(128 * 1024 * 1024)
      .default(16 * 1024 * 1024),
    'max-in-flight-per-connection': z.number().int().min(1).max(65536).default(8192),
    // ms a source may leave its replies unread before its connection is closed
    'slow-reader-timeout': z.number().int().min(1000).max(3_600_000).default(30_000),
    // least ms between two wake-ups of one worker by the main thread (0 = wake at once)
    'dispatch-delay': z.number().int().min(0).max(10).default(1),
    // records/s per worker below which a worker takes each batch at once, without the dispatch
    // delay or its 1 ms poll (0 = never)
    'prompt-below': z.number().int().min(0).max(10_000_000).default(25_000),
    // the share of its time each worker at work may be busy before another is put to work (0 = every
    // worker always)
    'worker-busy': z.number().min(0).max(1).default(0.5),
    'cpu-affinity': z.union([bool, z.array(z.number().int().min(0).max(4095)).min(1)]).default(false),
    // ms `ferry run` waits at start-up for the destination (and each etcd mirror) to answer before
    // it gives up with exit 3
    'startup-timeout': z.number().int().min(1000).max(600_000).default(10_000),
  })
  .superRefine((s, ctx) => {
    for (const { path, message } of listenConflicts(listenersOf(s))) ctx.addIssue({ code: 'custom', path, message });
  });

/** Login to an Aerospike cluster: the destination's, and the fleet's source cluster's. */
const aerospikeCredentials = z
  .strictObject({
    // required except in pki mode, where the client certificate is the identity
    username: z.string().min(1).optional(),
    'password-file': z.string().min(1).optional(),
    'auth-mode': z.enum(['internal', 'external', 'external-insecure', 'pki']).default('internal'),
  })
  .superRefine((c, ctx) => {
    if (c['auth-mode'] === 'pki') return;
    if (c.username === undefined) ctx.addIssue({ code: 'custom', path: ['username'], message: `required with auth-mode ${c['auth-mode']}` });
    if (c['password-file'] === undefined) ctx.addIssue({ code: 'custom', path: ['password-file'], message: `required with auth-mode ${c['auth-mode']}` });
  });

const binName = z
  .string()
  .min(1)
  .refine((b) => Buffer.byteLength(b, 'utf8') <= 15, 'a bin name is at most 15 bytes');
const setName = z
  .string()
  .min(1)
  .refine((s) => Buffer.byteLength(s, 'utf8') <= 63, 'a set name is at most 63 bytes');

/** Where records go, as the outbound connectors say it: `mode: static` writes, `mode: skip` does not. */
const routing = z
  .strictObject({
    mode: z.enum(['static', 'skip']).default('static'),
    // destination namespace and set; unset: the source's (or namespace-mapping's)
    namespace: z.string().min(1).optional(),
    set: setName.optional(),
  })
  .superRefine((r, ctx) => {
    if (r.mode === 'skip' && (r.namespace !== undefined || r.set !== undefined)) ctx.addIssue({ code: 'custom', path: ['mode'], message: 'a skipped record goes nowhere: drop namespace and set, or use mode: static' });
  });

/** What of a record's bins is written: include, then exclude, then `map` renames. */
const binTransforms = z
  .strictObject({
    include: z.array(binName).min(1).optional(),
    exclude: z.array(binName).optional(),
    map: z.record(binName, binName).optional(),
  })
  .superRefine((b, ctx) => {
    if (b.include !== undefined && b.exclude !== undefined) ctx.addIssue({ code: 'custom', path: ['exclude'], message: 'give include or exclude, not both' });
    const targets = Object.values(b.map ?? {});
    const twice = targets.find((t, i) => targets.indexOf(t) !== i);
    if (twice !== undefined) ctx.addIssue({ code: 'custom', path: ['map'], message: `two bins are renamed to '${twice}'` });
  });

const ruleLevel = {
  routing: routing.optional(),
  'bin-transforms': binTransforms.optional(),
};

export type RoutingRaw = z.output<typeof routing>;
export type BinTransformsRaw = z.output<typeof binTransforms>;

/**
 * The XDR Proxy's write timeouts, as its Java client takes them: `socket-timeout` (ms a socket may
 * stay silent) and `total-timeout` (ms for a write, retries included), 0 meaning no limit. Ferry's
 * one setting, `timeouts.write`, closes a connection silent that long and sends its writes again,
 * so it takes the tighter of the two; with both 0 the ack deadline is the only limit.
 */
function writeTimeoutOf(a: { timeouts: { write?: number | undefined }; 'socket-timeout'?: number | undefined; 'total-timeout'?: number | undefined }): number {
  if (a.timeouts.write !== undefined) return a.timeouts.write;
  const given = [a['socket-timeout'], a['total-timeout']].filter((t): t is number => t !== undefined);
  if (given.length === 0) return DEFAULT_WRITE_TIMEOUT;
  const limits = given.filter((t) => t > 0);
  return limits.length === 0 ? ACK_DEADLINE_MAX : Math.min(...limits);
}

const DEFAULT_WRITE_TIMEOUT = 2000;

export const aerospikeSchema = z
  .strictObject({
    seeds: z.array(seed).min(1),
    credentials: aerospikeCredentials.optional(),
    'cluster-name': z.string().optional(),
    tls: clientTls.optional(),
    // the XDR Proxy's client tuning (README, "aerospike"): accepted, validated, not used
    'rack-id': z.number().int().min(0).optional(),
    performance: section(
      z
        .strictObject({
          'max-connections-per-node': z.number().int().min(1).optional(),
          'connection-pools-per-node': z.number().int().min(1).optional(),
          'event-loop-size': z.number().int().min(1).optional(),
        })
        .optional(),
    ),
    // how nodes are found: the XDR Proxy's address translation and alternate addresses, honoured by tending
    services: section(
      z
        .strictObject({
          'ip-map': z.record(z.string().min(1), z.string().min(1)).default({}),
          'use-services-alternate': bool.default(false),
        })
        .optional(),
    ),
    timeouts: section(
      z
        .strictObject({
          connect: z.number().int().min(1).default(1000),
          // unset: from socket-timeout and total-timeout, else 2000 (writeTimeoutOf)
          write: z.number().int().min(1).optional(),
        })
        .prefault({}),
    ),
    // the XDR Proxy's names for the write timeout (writeTimeoutOf)
    'socket-timeout': z.number().int().min(0).optional(),
    'total-timeout': z.number().int().min(0).optional(),
    // Ferry's extensions
    'connections-per-node': z.number().int().min(1).max(64).default(4),
    // connections per node opened at once and kept; unset: all of connections-per-node
    'min-connections-per-node': z.number().int().min(0).max(64).optional(),
    // close a connection above the minimum after this many ms unused
    'idle-timeout': z.number().int().min(1000).default(55000),
    // ms between cluster tending rounds
    'tend-interval': z.number().int().min(100).max(60000).default(1000),
    'pipeline-depth': z.number().int().min(1).max(4096).default(2048),
    'namespace-mapping': z.record(z.string().min(1), z.string().min(1)).default({}),
    // Ferry's extensions, named after the outbound connectors' keys: the default rules, overridden
    // per namespace, overridden per set
    ...ruleLevel,
    namespaces: z.record(z.string().min(1), z.strictObject({ ...ruleLevel, sets: z.record(setName, z.strictObject(ruleLevel)).default({}) })).default({}),
    'skip-sets': z.array(setName).default([]),
    // an ESM module every worker loads: records pass through its default export (docs/transforms.md)
    transform: z.string().min(1).optional(),
    lut: z.enum(['keep', 'strip']).default('keep'),
    'durable-delete': z.enum(['auto', 'keep', 'strip']).default('auto'),
    // Ferry's extension: apply a record only when the destination holds no newer version of it
    'last-write-wins': z
      .strictObject({
        // the bin that holds each record's version (ms of the source's LUT << 16 | generation)
        bin: z
          .string()
          .min(1)
          .refine((b) => Buffer.byteLength(b, 'utf8') <= 15, 'a bin name is at most 15 bytes'),
        // turn each delete into a write of the version bin alone, so an older write cannot come back
        tombstones: bool.default(false),
        // seconds a tombstone lives; longer than any reordering of one record's changes
        'tombstone-ttl': z.number().int().min(1).max(0xfffffffd).default(86400),
      })
      .optional(),
    // Ferry's extension: records the destination rejects for good, kept for `ferry replay`
    'dead-letters': section(
      z
        .strictObject({
          enabled: bool.default(true),
          // the folder; unset: $STATE_DIRECTORY/dead-letters under systemd, else data/dead-letters
          path: z.string().min(1).optional(),
          // bytes a file grows to before the next one is started
          'max-bytes': z
            .number()
            .int()
            .min(1024)
            .max(2 ** 40)
            .default(64 * 1024 * 1024),
          // files kept per worker; when all are full, new dead letters are dropped
          'max-files': z.number().int().min(1).max(100_000).default(16),
          format: z.enum(['json', 'msgpack']).default('json'),
          sync: bool.default(true),
        })
        .prefault({}),
    ),
  })
  .superRefine((a, ctx) => {
    if (a.timeouts.write === undefined) return;
    for (const key of ['socket-timeout', 'total-timeout'] as const) {
      if (a[key] !== undefined) ctx.addIssue({ code: 'custom', path: [key], message: 'give the write timeout once: timeouts.write (Ferry\'s key) or the XDR Proxy\'s socket-timeout / total-timeout, not both' });
    }
  })
  .transform((a) => ({ ...a, timeouts: { ...a.timeouts, write: writeTimeoutOf(a) } }));

/** Ferry's embedded destination: change records appended to a file. */
export const fileSchema = z.strictObject({
  path: z.string().min(1),
  format: z.enum(['json', 'msgpack']).default('json'),
  sync: bool.default(true),
});

/** A level name in any case (`WARN`), as the XDR Proxy's logger reads it; its `all` is `trace`. */
const level = z.preprocess((v) => (typeof v === 'string' ? (v.toLowerCase() === 'all' ? 'trace' : v.toLowerCase()) : v), z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent', 'off']));

export const loggingSchema = z.strictObject({
  file: z.string().optional(),
  'enable-console-logging': bool.default(true),
  levels: section(z.record(z.string(), level).default({})),
  'ticker-interval': z.number().int().min(0).default(10),
  // Ferry's extension: rotated files kept (one a day) when logging to a file
  'max-history': z.number().int().min(1).max(3650).default(7),
  // accepted for XDR Proxy compatibility (its `simple` too); lines are always JSON
  format: z.enum(['json', 'pretty', 'simple']).default('json'),
});

/**
 * The XDR Proxy's `record-ordering` (a per-instance LUT cache that turns away a version older than
 * one already written): accepted and validated. Ferry always writes one record's changes in the
 * order they arrive; turning away older versions is `aerospike.last-write-wins` (README).
 */
export const recordOrderingSchema = z.strictObject({
  enable: bool.default(true),
  'lut-cache-ttl-seconds': z.number().int().min(1).default(30),
});

/** How to reach one etcd cluster: `ferry mirror`'s connection flags, as keys. */
const etcdCluster = {
  endpoints: z.array(z.string().min(1)).min(1),
  cacert: z.string().min(1).optional(),
  cert: z.string().min(1).optional(),
  key: z.string().min(1).optional(),
  'insecure-transport': bool.default(true),
  user: z.string().min(1).optional(),
  /** the password is the file's first line */
  'password-file': z.string().min(1).optional(),
};

/** etcd → etcd mirrors run by `ferry run`: several sources into one destination. */
export const mirrorsSchema = z.strictObject({
  destination: z.strictObject(etcdCluster),
  'status-interval': z.number().int().min(1).max(86400).default(10),
  'command-timeout': z.number().int().min(100).max(600_000).default(10_000),
  sources: z
    .array(
      z.strictObject({
        name: z
          .string()
          .regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be 1–64 of A–Z a–z 0–9 . _ -')
          .optional(),
        ...etcdCluster,
        prefix: z.string().default(''),
        'dest-prefix': z.string().optional(),
        'no-dest-prefix': bool.default(false),
        'max-txn-ops': z.number().int().min(4).max(1_000_000).default(128),
        rev: z.number().int().min(0).default(0),
        'keep-leases': bool.default(false),
        exclusive: bool.default(false),
        'exact-prefix': bool.default(false),
      }),
    )
    .min(1),
});

/** Fleet membership: this instance registers in etcd while it serves (src/coordination/). */
export const fleetSchema = z.strictObject({
  ...etcdCluster,
  // the fleet's name: instances with the same name (and etcd) are one fleet
  name: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be 1–64 of A–Z a–z 0–9 . _ -')
    .default('default'),
  // host:port the source's XDR should connect to for this instance
  advertise: z.string().regex(/^(\[[0-9a-fA-F:]+\]|[^\s/:[\]]+):\d{1,5}$/, 'must be host:port'),
  // seconds the membership outlives a silent instance (a crash, a lost network)
  'lease-ttl': z.number().int().min(2).max(3600).default(10),
  // ms per etcd request
  'command-timeout': z.number().int().min(100).max(600_000).default(5000),
  // the source cluster whose XDR DC lists the fleet's members (set-config … node-address-port)
  source: z
    .strictObject({
      seeds: z.array(seed).min(1),
      credentials: aerospikeCredentials.optional(),
      tls: clientTls.optional(),
      // the DC (xdr.dc) this fleet serves on every source node
      dc: z.string().regex(/^[A-Za-z0-9_-]{1,31}$/, 'must be 1–31 of A–Z a–z 0–9 _ -'),
      // ms between rounds: nodes tended, members compared, commands sent or retried
      'tend-interval': z.number().int().min(100).max(60_000).default(1000),
      // ms per connection and per info command
      timeout: z.number().int().min(100).max(60_000).default(2000),
    })
    .optional(),
});

export const configSchema = z
  .strictObject({
    service: section(serviceSchema.prefault({})),
    aerospike: section(aerospikeSchema.optional()),
    file: section(fileSchema.optional()),
    logging: section(loggingSchema.prefault({})),
    // an empty section turns it on, as the XDR Proxy's `enable` defaults to true
    'record-ordering': z.preprocess((v) => (v === null ? {} : v), recordOrderingSchema.optional()),
    mirrors: section(mirrorsSchema.optional()),
    fleet: section(fleetSchema.optional()),
  })
  .superRefine((c, ctx) => {
    if (c.aerospike !== undefined && c.file !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['file'], message: 'give one destination: either aerospike or file, not both' });
    } else if (c.aerospike === undefined && c.file === undefined && c.mirrors === undefined) {
      ctx.addIssue({ code: 'custom', path: ['aerospike'], message: 'a destination is required: an aerospike section (a cluster) or a file section (the embedded default); or, for etcd mirroring only, a mirrors section' });
    }
    if (c.fleet !== undefined && c.aerospike === undefined && c.file === undefined) {
      ctx.addIssue({ code: 'custom', path: ['fleet'], message: 'a fleet is made of XDR services: it needs an aerospike or a file section' });
    }
  });

export type RawConfig = z.output<typeof configSchema>;
