/**
 * Configuration: the XDR Proxy's own file is accepted unchanged, and every mistake is reported with
 * the key's path and the rule. Run through the built `ferry check-config`, as an operator would.
 */

import { spawnSync } from 'node:child_process';
import { readFileSync, } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse, stringify as stringifyYaml } from 'yaml';
import { buildConfig, maskSecrets } from '../../src/config/index.js';
import { FERRY_BIN } from '../support/ferry-process.js';
import { checkConfig, problemsOf, scratch } from './helpers.js';

const XDR_PROXY_FILE = fileURLToPath(new URL('../fixtures/aerospike-xdr-proxy.yml', import.meta.url));
const { dir, write: writeConfig } = scratch('ferry-config-');

describe('check-config', () => {
  it('accepts the XDR Proxy file unchanged (syntax), and prints it with defaults filled in', () => {
    const r = checkConfig('--syntax-only', XDR_PROXY_FILE);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const effective = parse(r.stdout) as { service: Record<string, unknown>; aerospike: Record<string, unknown>; logging: Record<string, unknown> };
    expect(effective.service['port']).toBe(8901);
    expect(effective.service['manage']).toEqual({ address: '0.0.0.0', port: 8902, enabled: true });
    expect(effective.service['max-concurrent-records']).toBe(32768);
    expect(effective.service['ack-deadline']).toBe(5000);
    expect(effective.aerospike['credentials']).toEqual({ username: 'xdr-writer', 'password-file': '/etc/aerospike-xdr-proxy/auth/password_DC1.txt', 'auth-mode': 'internal' });
    expect(effective.logging['ticker-interval']).toBe(3600);
  });

  it('accepts a seed-shaped file whose password file exists', () => {
    const password = writeConfig('password.txt', 'secret-with-trailing-space \nsecond line ignored\n');
    const text = readFileSync(XDR_PROXY_FILE, 'utf8').replace('/etc/aerospike-xdr-proxy/auth/password_DC1.txt', password);
    const r = checkConfig(writeConfig('proxy.yml', text));
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).not.toContain('secret-with-trailing-space');
  });

  it('says what is wrong in words: unions, seeds, whole numbers, huge numbers, empty and unreadable files', () => {
    const seeds = [{ '127.0.0.1': { port: 3000 } }];
    expect(problemsOf({ service: { port: '8901x' }, aerospike: { seeds } })).toEqual(['service.port: expected number or a list, received string']);
    expect(problemsOf({ service: { port: [8901, 99999] }, aerospike: { seeds } })).toEqual(['service.port.1: Too big: expected number to be <=65535']);
    expect(problemsOf({ aerospike: { seeds: ['127.0.0.1:3000'] } })).toEqual(['aerospike.seeds.0: a seed is written as a map of its host to its settings: `- 10.0.0.1: { port: 3000 }` (or `- 10.0.0.1:` for port 3000)']);
    expect(problemsOf({ service: { 'worker-threads': 2.5, 'max-concurrent-records': 1e300 }, aerospike: { seeds } })).toEqual([
      'service.worker-threads: expected a whole number',
      'service.max-concurrent-records: Too big: expected number to be <=4194304',
    ]);
    const empty = checkConfig(writeConfig('empty.yml', '\n'));
    expect(empty.status).toBe(2);
    expect(empty.stderr).toContain('empty.yml: the file is empty: a configuration needs an aerospike or file section (a destination), or a mirrors section');
    expect(checkConfig(dir).stderr).toContain(`${dir}: cannot read (a directory, not a file)`);
    expect(checkConfig(join(dir, 'missing.yml')).stderr).toContain('missing.yml: cannot read (no such file)');
  });

  it('refuses what ferry run refuses: an empty source password file, an empty token file', () => {
    const empty = writeConfig('empty-secret.txt', '\n');
    const file = writeConfig(
      'secrets.yml',
      `service:\n  security:\n    users:\n      - username: xdr\n        password-file: ${empty}\n  manage:\n    token-file: ${empty}\nfile:\n  path: ${join(dir, 'out.jsonl')}\n`,
    );
    const r = checkConfig(file);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`service.security.users.0.password-file: ${empty} holds no password (its first line is empty)`);
    expect(r.stderr).toContain(`service.manage.token-file: ${empty} holds no token (its first line is empty)`);
  });

  it('takes the file by --config too, as ferry run does', () => {
    const positional = checkConfig('--syntax-only', XDR_PROXY_FILE);
    const byFlag = checkConfig('--config', XDR_PROXY_FILE, '--syntax-only');
    expect(byFlag.status).toBe(0);
    expect(byFlag.stdout).toBe(positional.stdout);
    // Two files (one by --config, one positional) is a usage error, not a silent choice.
    const both = checkConfig('-c', XDR_PROXY_FILE, XDR_PROXY_FILE);
    expect(both.status).toBe(2);
    expect(both.stderr).toContain('usage: ferry check-config FILE');
  });

  it('--help and -h print the usage of check-config and of run, and exit 0', () => {
    for (const args of [['check-config', '--help'], ['check-config', '-h']]) {
      const r = spawnSync(process.execPath, [FERRY_BIN, ...args], { encoding: 'utf8' });
      expect([r.status, r.stderr]).toEqual([0, '']);
      expect(r.stdout).toContain('--syntax-only');
    }
    for (const args of [['run', '--help'], ['run', '-h'], ['--config', XDR_PROXY_FILE, '--help']]) {
      const r = spawnSync(process.execPath, [FERRY_BIN, ...args], { encoding: 'utf8' });
      expect([r.status, r.stderr]).toEqual([0, '']);
      expect(r.stdout).toContain('usage: ferry [run] [--config FILE]');
    }
  });

  it('a missing password file fails with its key path', () => {
    const r = checkConfig(XDR_PROXY_FILE);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('aerospike.credentials.password-file: cannot read /etc/aerospike-xdr-proxy/auth/password_DC1.txt (no such file)');
  });

  it('a misspelt key fails with a did-you-mean hint', () => {
    const r = checkConfig(writeConfig('typo.yml', 'service:\n  prot: 8901\nfile:\n  path: /tmp/x.jsonl\n'));
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("service.prot: unknown key (did you mean 'port'?)");
  });

  it('a bad port fails with the path and the rule', () => {
    const r = checkConfig(writeConfig('port.yml', 'service:\n  port: 70000\nfile:\n  path: /tmp/x.jsonl\n'));
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/service\.port: .*65535/);
  });

  it('unreadable YAML and a missing file are errors too', () => {
    expect(checkConfig(writeConfig('bad.yml', 'service: [1, 2\n')).status).toBe(2);
    const r = checkConfig(join(dir, 'nope.yml'));
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('cannot read');
  });
});

describe('the schema', () => {
  const dest = { file: { path: '/tmp/x.jsonl' } };

  it('takes a single value or a list where the XDR Proxy takes a list', () => {
    expect(buildConfig({ service: { port: 9000, address: '127.0.0.1' }, ...dest }).service).toMatchObject({ ports: [9000], addresses: ['127.0.0.1'] });
    expect(buildConfig({ service: { port: [9000, 9001], address: ['127.0.0.1', '::1'] }, ...dest }).service).toMatchObject({ ports: [9000, 9001], addresses: ['127.0.0.1', '::1'] });
  });

  it('names every problem at once, each with its path', () => {
    const problems = problemsOf({ service: { 'ack-deadline': 20000, 'max-concurrent-records': 0 }, aerospike: { seeds: [] }, logging: { levels: { root: 'loud' } } });
    expect(problems.some((p) => p.startsWith('service.ack-deadline:'))).toBe(true);
    expect(problems.some((p) => p.startsWith('service.max-concurrent-records:'))).toBe(true);
    expect(problems.some((p) => p.startsWith('aerospike.seeds:'))).toBe(true);
    expect(problems.some((p) => p.startsWith('logging.levels.root:'))).toBe(true);
  });

  it('needs exactly one destination', () => {
    expect(problemsOf({})).toEqual(['aerospike: a destination is required: an aerospike section (a cluster) or a file section (the embedded default); or, for etcd mirroring only, a mirrors section']);
    expect(problemsOf({ aerospike: { seeds: [{ h: { port: 3000 } }] }, ...dest })).toEqual(['file: give one destination: either aerospike or file, not both']);
  });

  it('nested unknown keys get hints from their own section', () => {
    expect(problemsOf({ aerospike: { seeds: [{ h: { port: 3000 } }], timeouts: { wrte: 5 } } })).toEqual(["aerospike.timeouts.wrte: unknown key (did you mean 'write'?)"]);
  });

  it('the configuration is frozen once built', () => {
    const c = buildConfig({ ...dest });
    expect(Object.isFrozen(c) && Object.isFrozen(c.service) && Object.isFrozen(c.raw.service)).toBe(true);
  });

  it('masks secret-looking values wherever they sit', () => {
    expect(maskSecrets({ a: { password: 'x', token: 'y', user: 'u' }, list: [{ secret: 's' }] })).toEqual({ a: { password: '********', token: '********', user: 'u' }, list: [{ secret: '********' }] });
  });
});

describe('config/reference.yml', () => {
  const REFERENCE = fileURLToPath(new URL('../../config/reference.yml', import.meta.url));

  it('validates, and every key it sets holds the default', () => {
    const r = checkConfig('--syntax-only', REFERENCE);
    expect(r.status).toBe(0);
    const reference = parse(readFileSync(REFERENCE, 'utf8')) as Record<string, unknown>;
    // The same file with every defaulted key removed builds the same effective configuration.
    const minimal = { aerospike: { seeds: [{ '127.0.0.1': { port: 3000 } }] } };
    expect(buildConfig(reference).raw).toEqual(buildConfig(minimal).raw);
  });
});

describe('check-config with etcd mirrors', () => {
  const mirrors = (destPrefixes: [string, string], exclusive = false): string =>
    stringifyYaml({
      mirrors: {
        destination: { endpoints: ['127.0.0.1:2379'] },
        sources: [
          { endpoints: ['127.0.0.1:2381'], prefix: 'a/', 'dest-prefix': destPrefixes[0] },
          { endpoints: ['127.0.0.1:2383'], prefix: 'b/', 'dest-prefix': destPrefixes[1], exclusive },
        ],
      },
    });

  it('accepts a mirrors-only file', () => {
    const r = checkConfig('--syntax-only', writeConfig('mirrors.yml', mirrors(['x/a/', 'x/b/'])));
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('dest-prefix: x/b/');
  });

  it('accepts merge mirrors whose destination keys overlap, and refuses an exclusive one', () => {
    expect(checkConfig('--syntax-only', writeConfig('merge.yml', mirrors(['merged/', 'merged/b/']))).status).toBe(0);
    const r = checkConfig('--syntax-only', writeConfig('overlap.yml', mirrors(['merged/', 'merged/b/'], true)));
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/overlapping destination keys .*1 is exclusive/);
  });
});

describe('check-config with last-write-wins', () => {
  const file = (lww: Record<string, unknown> | undefined): string =>
    writeConfig(`lww-${lww === undefined ? 'off' : String(lww['tombstones'] ?? false)}.yml`, stringifyYaml({ aerospike: { seeds: [{ '127.0.0.1': { port: 3000 } }], ...(lww === undefined ? {} : { 'last-write-wins': lww }) } }));

  it('explains the mode, its deletes and its cost', () => {
    const r = checkConfig('--syntax-only', file({ bin: 'ver' }));
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("# aerospike.last-write-wins is on: every write stores the record's version ((LUT ms << 16) | generation) in bin 'ver'");
    expect(r.stdout).toContain('# Deletes are plain deletes'.replace('# ', '#   '));
    expect(r.stdout).toContain('Cost: 34 + 19 bytes more per write');
    const t = checkConfig('--syntax-only', file({ bin: 'ver', tombstones: true, 'tombstone-ttl': 600 }));
    expect(t.stdout).toContain("Deletes become tombstones: a write of 'ver' alone with a 600 s TTL");
  });

  it('says nothing of it when it is off, and refuses a bin name the server would refuse', () => {
    expect(checkConfig('--syntax-only', file(undefined)).stdout).not.toContain('last-write-wins is on');
    const r = checkConfig('--syntax-only', file({ bin: 'a-bin-name-too-long' }));
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('aerospike.last-write-wins.bin: a bin name is at most 15 bytes');
  });
});

describe('check-config with a fleet', () => {
  const file = { file: { path: '/tmp/ferry-changes.jsonl' } };

  it('fills in the fleet defaults', () => {
    const c = buildConfig({ ...file, fleet: { endpoints: ['127.0.0.1:2379'], advertise: 'ferry-1.example.com:8901' } });
    expect(c.raw.fleet).toEqual({ endpoints: ['127.0.0.1:2379'], 'insecure-transport': true, name: 'default', advertise: 'ferry-1.example.com:8901', 'lease-ttl': 10, 'command-timeout': 5000 });
  });

  it('refuses an address that is not host:port, a too-short lease and a fleet without a destination', () => {
    expect(problemsOf({ ...file, fleet: { endpoints: ['e:2379'], advertise: 'ferry-1', 'lease-ttl': 1 } })).toEqual([
      'fleet.advertise: must be host:port',
      'fleet.lease-ttl: Too small: expected number to be >=2',
    ]);
    expect(problemsOf({ fleet: { endpoints: ['e:2379'], advertise: '[::1]:8901' }, mirrors: { destination: { endpoints: ['d:2379'] }, sources: [{ endpoints: ['s:2379'] }] } })).toEqual([
      'fleet: a fleet is made of XDR services: it needs an aerospike or a file section',
    ]);
  });

  it('fills in the fleet.source defaults and refuses a bad DC name', () => {
    const source = { seeds: [{ '10.0.1.1': {} }], dc: 'dc2' };
    const c = buildConfig({ ...file, fleet: { endpoints: ['127.0.0.1:2379'], advertise: 'h:1', source } });
    expect(c.raw.fleet?.source).toEqual({ seeds: [{ '10.0.1.1': { port: 3000 } }], dc: 'dc2', 'tend-interval': 1000, timeout: 2000 });
    expect(problemsOf({ ...file, fleet: { endpoints: ['e:2379'], advertise: 'h:1', source: { seeds: [], dc: 'a b', credentials: { username: 'u' } } } })).toEqual([
      'fleet.source.seeds: Too small: expected array to have >=1 items',
      'fleet.source.credentials.password-file: required with auth-mode internal',
      'fleet.source.dc: must be 1–31 of A–Z a–z 0–9 _ -',
    ]);
  });

  it('checks the files fleet.source names', () => {
    const source = { seeds: [{ h: { port: 3000 } }], dc: 'dc2', credentials: { username: 'u', 'password-file': '/nonexistent/pw' }, tls: { 'ca-file': '/nonexistent/ca.pem' } };
    const r = checkConfig(writeConfig('fleet-source.yml', stringifyYaml({ ...file, fleet: { endpoints: ['e:2379'], advertise: 'h:1', source } })));
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('fleet.source.credentials.password-file: cannot read /nonexistent/pw (no such file)');
    expect(r.stderr).toContain('fleet.source.tls.ca-file: cannot read /nonexistent/ca.pem (no such file)');
  });

  it('checks that the transform module can be read', () => {
    const r = checkConfig(writeConfig('transform.yml', stringifyYaml({ aerospike: { seeds: [{ h: { port: 3000 } }], transform: '/nonexistent/mask.mjs' } })));
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('aerospike.transform: cannot read /nonexistent/mask.mjs (no such file)');
  });

  it('checks the files the fleet section names', () => {
    const r = checkConfig(writeConfig('fleet.yml', stringifyYaml({ ...file, fleet: { endpoints: ['e:2379'], advertise: 'h:1', cacert: '/nonexistent/ca.pem' } })));
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('fleet.cacert: cannot read /nonexistent/ca.pem (no such file)');
  });
});
