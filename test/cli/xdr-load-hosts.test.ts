import { describe, expect, it } from 'vitest';
import { UsageError, parseXdrLoadArgs } from '../../src/cli/xdr-load-command.js';

describe('xdr-load: several hosts and hold-back', () => {
  it('one -h keeps the single-host options', () => {
    const { opts } = parseXdrLoadArgs(['-h', '10.0.0.1:3100', '--changes', '1']);
    expect([opts.host, opts.port, opts.hosts, opts.holdBackPct]).toEqual(['10.0.0.1', 3100, undefined, undefined]);
  });

  it('repeated -h and comma lists name every connector node, in order', () => {
    const { opts } = parseXdrLoadArgs(['-h', 'a:1', '-h', 'b:2,c:3', '--changes', '1']);
    expect(opts.hosts).toEqual([
      { host: 'a', port: 1 },
      { host: 'b', port: 2 },
      { host: 'c', port: 3 },
    ]);
    expect([opts.host, opts.port]).toEqual(['a', 1]);
  });

  it('--hold-back takes a percentage up to 90, with --hold-ms defaulting to 500', () => {
    expect(parseXdrLoadArgs(['--hold-back', '20', '--changes', '1']).opts).toMatchObject({ holdBackPct: 20, holdBackMs: 500 });
    expect(parseXdrLoadArgs(['--hold-back', '5', '--hold-ms', '50', '--changes', '1']).opts).toMatchObject({ holdBackPct: 5, holdBackMs: 50 });
    expect(() => parseXdrLoadArgs(['--hold-back', '95', '--changes', '1'])).toThrow(UsageError);
    expect(() => parseXdrLoadArgs(['-h', 'a:x', '--changes', '1'])).toThrow(UsageError);
  });

  it('--protocol http2 is the ESP connector mode; the TCP-only checks are refused with it', () => {
    expect(parseXdrLoadArgs(['--changes', '1']).opts.protocol).toBeUndefined();
    expect(parseXdrLoadArgs(['--protocol', 'HTTP2', '--changes', '1']).opts.protocol).toBe('http2');
    expect(() => parseXdrLoadArgs(['--protocol', 'h3', '--changes', '1'])).toThrow(/--protocol must be tcp or http2/);
    for (const flag of [['--probe-every', '10'], ['--hold-back', '5'], ['-U', 'u', '-P', 'p']]) {
      expect(() => parseXdrLoadArgs(['--protocol', 'http2', '--changes', '1', ...flag])).toThrow(/for --protocol tcp only/);
    }
  });
});
