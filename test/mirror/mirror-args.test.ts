import { describe, expect, it } from 'vitest';
import { parseMirrorArgs } from '../../src/cli/mirror-command.js';
import { defaultMirrorName } from '../../src/mirror/index.js';
import { prefixEnd, rangesOverlap, prefixRange } from '../../src/mirror/key-range.js';

describe('ferry mirror flags (etcdctl make-mirror meanings)', () => {
  it('maps the prefix as make-mirror does', () => {
    expect(parseMirrorArgs(['--prefix', 'a/', 'd:2379']).options).toMatchObject({ prefix: 'a/', destPrefix: 'a/', maxTxnOps: 128, rev: 0 });
    expect(parseMirrorArgs(['--prefix', 'a/', '--dest-prefix', 'b/', 'd:2379']).options.destPrefix).toBe('b/');
    expect(parseMirrorArgs(['--prefix', 'a/', '--no-dest-prefix', 'd:2379']).options.destPrefix).toBe('');
  });

  it('takes endpoints, TLS, auth and etcdctl-style booleans', () => {
    const { options } = parseMirrorArgs([
      '--endpoints', 'h1:2379,h2:2379', '--user', 'root:pw', '--dest-user', 'admin', '--dest-password', 'secret',
      '--insecure-transport=false', '--dest-insecure-transport=true', '--max-txn-ops', '64', '--rev', '42', '--keep-leases', 'x:1,y:2',
    ]);
    expect(options.source).toMatchObject({ endpoints: ['h1:2379', 'h2:2379'], user: 'root', password: 'pw', insecureTransport: false });
    expect(options.destination).toMatchObject({ endpoints: ['x:1', 'y:2'], user: 'admin', password: 'secret', insecureTransport: true });
    expect(options).toMatchObject({ maxTxnOps: 64, rev: 42, keepLeases: true, mode: 'merge', name: null });
  });

  it('merges by default; --exclusive and --exact-prefix opt out', () => {
    expect(parseMirrorArgs(['d:1']).options.mode).toBe('merge');
    expect(parseMirrorArgs(['--exclusive', 'd:1']).options.mode).toBe('exclusive');
    expect(parseMirrorArgs(['--prefix', 'a/', '--exact-prefix', 'd:1']).options.mode).toBe('exact');
    expect(parseMirrorArgs(['--prefix', 'a/', '--exact-prefix=false', 'd:1']).options.mode).toBe('merge');
    expect(() => parseMirrorArgs(['--exact-prefix', 'd:1'])).toThrow(/--exact-prefix needs a dedicated, non-empty destination prefix/);
    expect(() => parseMirrorArgs(['--allow-overlap', 'd:1'])).toThrow(/--allow-overlap is gone: mirrors may overlap by default/);
  });

  it('derives the default name from the source cluster and the prefix mapping', () => {
    const names = new Set([defaultMirrorName('1', '', ''), defaultMirrorName('2', '', ''), defaultMirrorName('1', 'a/', 'a/'), defaultMirrorName('1', 'a/', 'b/')]);
    expect(names.size).toBe(4);
    expect(defaultMirrorName('1', 'a/', 'b/')).toMatch(/^m-[0-9a-f]{12}$/);
    expect(defaultMirrorName('1', 'a/', 'b/')).toBe(defaultMirrorName('1', 'a/', 'b/'));
  });

  it('names the flag and the rule in every refusal', () => {
    expect(() => parseMirrorArgs(['--max-txn-ops', '3', 'd:1'])).toThrow(/--max-txn-ops must be an integer between 4 and 1000000/);
    expect(() => parseMirrorArgs(['--rev', '-3', 'd:1'])).toThrow(/--rev/);
    expect(() => parseMirrorArgs(['--no-dest-prefix', '--dest-prefix', 'x', 'd:1'])).toThrow(/--no-dest-prefix and --dest-prefix exclude each other/);
    expect(() => parseMirrorArgs(['--user', 'bob', 'd:1'])).toThrow(/--user bob needs a password/);
    expect(() => parseMirrorArgs([])).toThrow(/exactly one destination/);
    expect(() => parseMirrorArgs(['--dest-prefix', '__ferry/mirror/x', 'd:1'])).toThrow(/reserved prefix/);
    expect(() => parseMirrorArgs(['--dest-cert', 'c.pem', 'd:1'])).toThrow(/--dest-cert and --dest-key go together/);
    expect(() => parseMirrorArgs(['--command-timeout', '0', 'd:1'])).toThrow(/--command-timeout must be between 100ms and 10m, got '0'/);
    expect(parseMirrorArgs(['--command-timeout', '100ms', 'd:1']).options.source.commandTimeoutMs).toBe(100);
  });

  it('computes prefix ranges and overlaps on bytes', () => {
    expect(prefixEnd(Buffer.from('a/'))).toEqual(Buffer.from('a0'));
    expect(prefixEnd(Buffer.from([0x61, 0xff]))).toEqual(Buffer.from('b'));
    expect(prefixEnd(Buffer.alloc(0))).toBeNull();
    expect(rangesOverlap(prefixRange(Buffer.from('a/')), prefixRange(Buffer.from('a/b/')))).toBe(true);
    expect(rangesOverlap(prefixRange(Buffer.from('a/')), prefixRange(Buffer.from('a0')))).toBe(false);
    expect(rangesOverlap(prefixRange(Buffer.alloc(0)), prefixRange(Buffer.from('z')))).toBe(true);
  });
});
