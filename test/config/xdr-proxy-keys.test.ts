/**
 * The XDR Proxy's documented keys, one decision each: honoured through Ferry's own setting,
 * accepted as a no-op, or refused with what to do instead. Also the YAML the XDR Proxy's reader
 * takes (YAML 1.1 booleans, level names in any case, merge keys, empty sections), and listening
 * sockets that could never all be opened.
 */

import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { buildConfig, buildRunConfig, type AerospikeDestination } from '../../src/config/index.js';
import { checkConfig, problemsOf, scratch } from './helpers.js';

const DOCUMENTED = fileURLToPath(new URL('../fixtures/aerospike-xdr-proxy-documented.yml', import.meta.url));
const { write: writeConfig } = scratch('ferry-xdr-keys-');
const seeds = [{ '127.0.0.1': { port: 3000 } }];

function destination(aerospike: Record<string, unknown>, service: Record<string, unknown> = {}): AerospikeDestination {
  const d = buildConfig({ service, aerospike: { seeds, ...aerospike } }).destination;
  if (d.kind !== 'aerospike') throw new Error('expected an aerospike destination');
  return d;
}

describe("the XDR Proxy's documented keys", () => {
  it('a file with every key it documents validates unchanged, with yes/no, WARN and a merge key', () => {
    const r = checkConfig('--syntax-only', DOCUMENTED);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const out = parse(r.stdout) as { aerospike: Record<string, unknown>; logging: Record<string, unknown>; service: Record<string, unknown> };
    expect(out.aerospike['seeds']).toEqual([{ '10.0.0.1': { port: 3000 } }, { '10.0.0.2': { port: 3000, 'tls-name': 'east-2' } }]);
    expect(out.aerospike['timeouts']).toEqual({ connect: 1000, write: 1000 });
    expect(out.service['enable-tcp-xdr-ack-buffering']).toBe(true);
    expect(out.logging['enable-console-logging']).toBe(true);
    expect(out.logging['levels']).toEqual({ root: 'info', 'com.aerospike.connect': 'warn' });
    expect(r.stdout).toContain('# record-ordering: Ferry writes each record');
  });

  it('socket-timeout and total-timeout become timeouts.write: the tighter non-zero one', () => {
    expect(destination({ 'socket-timeout': 1000, 'total-timeout': 1500 }).writeTimeoutMs).toBe(1000);
    expect(destination({ 'socket-timeout': 0, 'total-timeout': 1500 }).writeTimeoutMs).toBe(1500);
    expect(destination({ 'total-timeout': 700 }).writeTimeoutMs).toBe(700);
    // 0 is "no limit" to the Java client; Ferry's limit is then the ack deadline
    expect(destination({ 'socket-timeout': 0, 'total-timeout': 0 }, { 'ack-deadline': 4000 }).writeTimeoutMs).toBe(4000);
    expect(destination({}).writeTimeoutMs).toBe(2000);
    expect(destination({ timeouts: { write: 300 } }).writeTimeoutMs).toBe(300);
  });

  it('refuses timeouts.write given together with socket-timeout or total-timeout', () => {
    expect(problemsOf({ aerospike: { seeds, timeouts: { write: 300 }, 'socket-timeout': 1000, 'total-timeout': 1000 } })).toEqual([
      "aerospike.socket-timeout: give the write timeout once: timeouts.write (Ferry's key) or the XDR Proxy's socket-timeout / total-timeout, not both",
      "aerospike.total-timeout: give the write timeout once: timeouts.write (Ferry's key) or the XDR Proxy's socket-timeout / total-timeout, not both",
    ]);
  });

  it('honours services: the ip-map and the alternate addresses reach tending', () => {
    const d = destination({ services: { 'ip-map': { '10.0.0.1': '192.168.60.1' }, 'use-services-alternate': true } });
    expect(d.ipMap).toEqual({ '10.0.0.1': '192.168.60.1' });
    expect(d.servicesAlternate).toBe(true);
    expect(destination({}).servicesAlternate).toBe(false);
    expect(problemsOf({ aerospike: { seeds, services: { 'ip-mapping': {} } } })).toEqual(['aerospike.services.ip-mapping: unknown key (known keys: ip-map, use-services-alternate)']);
  });

  it('accepts service.cluster-name, aerospike.performance, rack-id and record-ordering, and validates them', () => {
    expect(problemsOf({ service: { 'cluster-name': 'east' }, aerospike: { seeds, 'rack-id': 2, performance: { 'max-connections-per-node': 300, 'connection-pools-per-node': 1, 'event-loop-size': 4 } }, 'record-ordering': { enable: true, 'lut-cache-ttl-seconds': 30 } })).toEqual([]);
    expect(problemsOf({ aerospike: { seeds, performance: { 'event-loop-size': 0 } }, 'record-ordering': { 'lut-cache-ttl-seconds': -1 } })).toEqual([
      'aerospike.performance.event-loop-size: Too small: expected number to be >=1',
      'record-ordering.lut-cache-ttl-seconds: Too small: expected number to be >=1',
    ]);
  });

  it('record-ordering points to last-write-wins, and says when it is on', () => {
    const file = (extra: string): string => writeConfig(`ro-${extra.length}.yml`, `aerospike:\n  seeds: [{ 127.0.0.1: { port: 3000 } }]\n${extra}record-ordering:\n`);
    const off = checkConfig('--syntax-only', file(''));
    expect(off.status).toBe(0);
    expect(off.stdout).toContain('set aerospike.last-write-wins to turn it away');
    const on = checkConfig('--syntax-only', file('  last-write-wins: { bin: ver }\n'));
    expect(on.stdout).toContain('is turned away by aerospike.last-write-wins');
  });

  it('the XDR Proxy’s message-transformer is still refused with its pointer', () => {
    expect(problemsOf({ aerospike: { seeds, 'message-transformer': { class: 'x' } } })[0]).toMatch(/^aerospike\.message-transformer: .*aerospike\.transform/);
  });
});

describe('TLS towards a cluster takes PEM files and tls-name only', () => {
  const STORES = 'Java key and trust stores are not read: give PEM files instead';

  it('refuses each key it would not use, in aerospike.tls and fleet.source.tls', () => {
    const tls = {
      'ca-file': '/ca.pem',
      'trust-store-file': '/t.jks',
      'trust-store-password-file': '/t.pw',
      'key-store-file': '/k.p12',
      'key-store-password-file': '/k.pw',
      'key-store': { 'store-file': '/k.jks', 'store-password-file': '/k.pw' },
      'trust-store': 'default',
      ciphers: ['TLS_AES_128_GCM_SHA256'],
      'revoke-certificates': [12345678],
      'allowed-peer-names': ['node-1'],
      protocols: 'TLSv1.3',
    };
    const keys = ['trust-store-file', 'trust-store-password-file', 'key-store-file', 'key-store-password-file', 'key-store', 'trust-store', 'ciphers', 'revoke-certificates', 'allowed-peer-names', 'protocols'];
    for (const [section, doc] of [
      ['aerospike.tls', { aerospike: { seeds, tls } }],
      ['fleet.source.tls', { file: { path: '/tmp/x.jsonl' }, fleet: { endpoints: ['e:2379'], advertise: 'h:1', source: { seeds, dc: 'dc2', tls } } }],
    ] as const) {
      const problems = problemsOf(doc);
      expect(problems.map((p) => p.slice(0, p.indexOf(':')))).toEqual(expect.arrayContaining(keys.map((k) => `${section}.${k}`)));
      expect(problems).toHaveLength(keys.length);
      expect(problems.find((p) => p.startsWith(`${section}.trust-store-file:`))).toContain(STORES);
      expect(problems.find((p) => p.startsWith(`${section}.protocols:`))).toContain('TLSv1.2 and TLSv1.3');
    }
  });

  it('takes the PEM keys', () => {
    expect(destination({ tls: { 'ca-file': '/ca.pem', 'cert-chain-file': '/c.pem', 'key-file': '/k.pem', 'tls-name': 'east' } }).tls).toEqual({ caFile: '/ca.pem', certFile: '/c.pem', keyFile: '/k.pem', tlsName: 'east' });
  });
});

describe('listening sockets that can never all be opened', () => {
  const file = { file: { path: '/tmp/x.jsonl' } };

  it('a port listed twice is an error naming both keys, exit 2 from check-config', () => {
    expect(problemsOf({ service: { port: [47921, 47921] }, ...file })).toEqual(['service.port.1: port 47921 is also service.port.0 on 0.0.0.0; only one socket can listen there, so Ferry could never start']);
    const r = checkConfig('--syntax-only', writeConfig('ports.yml', 'service:\n  port: [47921, 47921]\nfile:\n  path: /tmp/x.jsonl\n'));
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('service.port.1: port 47921 is also service.port.0');
  });

  it('the management port on a service port, on overlapping addresses', () => {
    expect(problemsOf({ service: { port: 8902 }, ...file })).toEqual([
      'service.manage.port: port 8902 is also service.port on 0.0.0.0 (service.address) and 127.0.0.1 (service.manage.address), which overlap; only one socket can listen there, so Ferry could never start',
    ]);
    expect(problemsOf({ service: { port: 9000, address: '::', manage: { address: '::1', port: 9000 } }, ...file })).toHaveLength(1);
    expect(problemsOf({ service: { port: 9000, address: ['127.0.0.1', '127.0.0.1'] }, ...file })).toEqual(['service.port: port 9000 is also service.port on 127.0.0.1; only one socket can listen there, so Ferry could never start']);
  });

  it('accepts what can be opened: other addresses, a disabled management port, port 0 twice', () => {
    expect(problemsOf({ service: { port: 9000, address: '127.0.0.1', manage: { address: '127.0.0.2', port: 9000 } }, ...file })).toEqual([]);
    expect(problemsOf({ service: { port: 8902, manage: { enabled: false } }, ...file })).toEqual([]);
    expect(problemsOf({ service: { port: [0, 0], manage: { port: 0 } }, ...file })).toEqual([]);
  });
});

describe('YAML as the XDR Proxy reads it', () => {
  it('boolean keys take yes/no/on/off; other values keep them as strings', () => {
    const c = buildConfig({ logging: { 'enable-console-logging': 'off' }, service: { manage: { enabled: 'Yes' } }, aerospike: { seeds, 'skip-sets': ['no', 'on'] } });
    expect(c.logging['enable-console-logging']).toBe(false);
    expect(c.raw.service.manage.enabled).toBe(true);
    expect(c.raw.aerospike?.['skip-sets']).toEqual(['no', 'on']);
    expect(problemsOf({ logging: { 'enable-console-logging': 'maybe' }, aerospike: { seeds } })).toEqual(['logging.enable-console-logging: Invalid input: expected boolean, received string']);
  });

  it('level names in any case', () => {
    expect(buildConfig({ logging: { levels: { root: 'WARN', server: 'Debug', tender: 'ALL' } }, aerospike: { seeds } }).logging.levels).toEqual({ root: 'warn', server: 'debug', tender: 'trace' });
  });

  it('an empty section is its defaults; an empty tls or security is still an error', () => {
    const empty = buildRunConfig({ service: null, logging: null, aerospike: { seeds, timeouts: null, 'dead-letters': null, services: null, performance: null } });
    expect(empty.raw).toEqual(buildRunConfig({ aerospike: { seeds } }).raw);
    expect(problemsOf({ service: { tls: null, security: null }, aerospike: { seeds } })).toEqual(['service.tls: Invalid input: expected object, received null', 'service.security: Invalid input: expected object, received null']);
  });

  it('merge keys are read in a file', () => {
    const r = checkConfig('--syntax-only', writeConfig('merge.yml', 'aerospike:\n  seeds:\n    - a: &s { port: 3100, tls-name: x }\n    - b: { <<: *s, port: 3200 }\n'));
    expect(r.stderr).toBe('');
    expect((parse(r.stdout) as { aerospike: { seeds: unknown } }).aerospike.seeds).toEqual([{ a: { port: 3100, 'tls-name': 'x' } }, { b: { port: 3200, 'tls-name': 'x' } }]);
  });
});

describe('check-config prints the defaults computed at start-up', () => {
  it('service.worker-threads, aerospike.min-connections-per-node, aerospike.dead-letters.path, and each lowered value', () => {
    const r = checkConfig('--syntax-only', writeConfig('computed.yml', 'service:\n  ack-deadline: 1000\n  max-concurrent-records: 100\naerospike:\n  seeds: [{ 127.0.0.1: { port: 3000 } }]\n  connections-per-node: 2\n  timeouts: { write: 3000 }\n'));
    expect(r.status).toBe(0);
    const out = parse(r.stdout) as { service: Record<string, unknown>; aerospike: Record<string, unknown> & { 'dead-letters': Record<string, unknown> } };
    expect(out.service['worker-threads']).toBeGreaterThanOrEqual(1);
    expect(out.aerospike['min-connections-per-node']).toBe(2);
    expect(out.aerospike['dead-letters']['path']).toMatch(/dead-letters$/);
    expect(r.stdout).toContain('# service.max-in-flight-per-connection 8192 is lowered to service.max-concurrent-records, 100');
    expect(r.stdout).toContain('# aerospike.timeouts.write 3000 is lowered to service.ack-deadline, 1000');
  });
});
