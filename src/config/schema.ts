/**
 * The one schema for Ferry's YAML file. Its first three sections are the XDR Proxy's own
 * (`service`, `aerospike`, `logging`), so an unmodified `aerospike-xdr-proxy.yml` validates; Ferry's
 * extensions sit beside the XDR Proxy's keys. Every object is strict: an unknown key is an error.
 */

import { z } from 'zod';

const port = z.number().int().min(0).max(65535);
const oneOrMany = <T extends z.ZodType>(t: T) => z.union([t, z.array(t).min(1)]);

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

/** The service port's TLS: the XDR Proxy's keys, plus Ferry's `require-client-cert`. */
const serviceTls = tls.extend({
  // Ferry's extension: refuse a client without a certificate the CA file vouches for (mutual TLS)
  'require-client-cert': z.boolean().default(false),
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

export const serviceSchema = z.strictObject({
  port: oneOrMany(port).default(8901),
  address: oneOrMany(z.string().min(1)).default('0.0.0.0'),
  tls: serviceTls.optional(),
  // Ferry's extension
  security: serviceSecurity.optional(),
  manage: z
    .strictObject({
      address: z.string().min(1).default('127.0.0.1'),
      port: port.default(8902),
      // Ferry's extensions
      enabled: z.boolean().default(true),
      'token-file': z.string().min(1).optional(),
    })
    .prefault({}),
  'io-threads': z.number().int().min(1).optional(),
  'worker-threads': z.number().int().min(1).max(64).optional(),
  'max-concurrent-records': z.number().int().min(1).max(1 << 22).default(32768),
  'enable-tcp-xdr-ack-buffering': z.boolean().optional(),
  // TCP: the XDR connector protocol; HTTP_2: one POST per XDR message, as the ESP connector sends
  protocol: z.enum(['TCP', 'HTTP_2']).default('TCP'),
  // Ferry's extensions
  'ack-deadline': z.number().int().min(100).max(9000).default(5000),
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
  'cpu-affinity': z.union([z.boolean(), z.array(z.number().int().min(0).max(4095)).min(1)]).default(false),
  // ms `ferry run` waits at start-up for the destination (and each etcd mirror) to answer before
  // it gives up with exit 3
  'startup-timeout': z.number().int().min(1000).max(600_000).default(10_000),
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

export const aerospikeSchema = z.strictObject({
  seeds: z.array(seed).min(1),
  credentials: aerospikeCredentials.optional(),
  'cluster-name': z.string().optional(),
  tls: tls.optional(),
  'rack-id': z.number().int().min(0).optional(),
  timeouts: z
    .strictObject({
      connect: z.number().int().min(1).default(1000),
      write: z.number().int().min(1).default(2000),
    })
    .prefault({}),
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
      tombstones: z.boolean().default(false),
      // seconds a tombstone lives; longer than any reordering of one record's changes
      'tombstone-ttl': z.number().int().min(1).max(0xfffffffd).default(86400),
    })
    .optional(),
  // Ferry's extension: records the destination rejects for good, kept for `ferry replay`
  'dead-letters': z
    .strictObject({
      enabled: z.boolean().default(true),
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
      sync: z.boolean().default(true),
    })
    .prefault({}),
});

/** Ferry's embedded destination: change records appended to a file. */
export const fileSchema = z.strictObject({
  path: z.string().min(1),
  format: z.enum(['json', 'msgpack']).default('json'),
  sync: z.boolean().default(true),
});

const level = z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent', 'off']);

export const loggingSchema = z.strictObject({
  file: z.string().optional(),
  'enable-console-logging': z.boolean().default(true),
  levels: z.record(z.string(), level).default({}),
  'ticker-interval': z.number().int().min(0).default(10),
  // Ferry's extension: rotated files kept (one a day) when logging to a file
  'max-history': z.number().int().min(1).max(3650).default(7),
  format: z.enum(['json', 'pretty']).default('json'),
});

/** How to reach one etcd cluster: `ferry mirror`'s connection flags, as keys. */
const etcdCluster = {
  endpoints: z.array(z.string().min(1)).min(1),
  cacert: z.string().min(1).optional(),
  cert: z.string().min(1).optional(),
  key: z.string().min(1).optional(),
  'insecure-transport': z.boolean().default(true),
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
        'no-dest-prefix': z.boolean().default(false),
        'max-txn-ops': z.number().int().min(4).max(1_000_000).default(128),
        rev: z.number().int().min(0).default(0),
        'keep-leases': z.boolean().default(false),
        exclusive: z.boolean().default(false),
        'exact-prefix': z.boolean().default(false),
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
      tls: tls.optional(),
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
    service: serviceSchema.prefault({}),
    aerospike: aerospikeSchema.optional(),
    file: fileSchema.optional(),
    logging: loggingSchema.prefault({}),
    mirrors: mirrorsSchema.optional(),
    fleet: fleetSchema.optional(),
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
