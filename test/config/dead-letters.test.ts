/** `aerospike.dead-letters`: on by default, where its files go, and errors that name the key. */

import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, buildConfig } from '../../src/config/index.js';

const base = { aerospike: { seeds: [{ h: { port: 3000 } }] } };

function deadLetters(over: Record<string, unknown> = {}): unknown {
  const d = buildConfig({ aerospike: { ...base.aerospike, ...over } }).destination;
  if (d.kind !== 'aerospike') throw new Error('not an aerospike destination');
  return d.deadLetters;
}

describe('aerospike.dead-letters', () => {
  const saved = process.env['STATE_DIRECTORY'];
  afterEach(() => {
    if (saved === undefined) delete process.env['STATE_DIRECTORY'];
    else process.env['STATE_DIRECTORY'] = saved;
  });

  it('is on by default, under data/ without systemd', () => {
    delete process.env['STATE_DIRECTORY'];
    expect(deadLetters()).toMatchObject({ path: 'data/dead-letters', maxBytes: 64 * 1024 * 1024, maxFiles: 16, format: 'json', sync: true });
  });

  it('goes under the state directory systemd gives (its first, when several)', () => {
    process.env['STATE_DIRECTORY'] = '/var/lib/ferry/eu:/var/lib/other';
    expect(deadLetters()).toMatchObject({ path: '/var/lib/ferry/eu/dead-letters' });
  });

  it('takes a path, and can be turned off', () => {
    expect(deadLetters({ 'dead-letters': { path: '/srv/dl', 'max-files': 3, format: 'msgpack' } })).toMatchObject({ path: '/srv/dl', maxFiles: 3, format: 'msgpack' });
    expect(deadLetters({ 'dead-letters': { enabled: false } })).toBeNull();
  });

  it('names the instance: the fleet address, else the host name', () => {
    const fleet = { endpoints: ['http://127.0.0.1:2379'], advertise: 'ferry-a.example:8901' };
    const d = buildConfig({ ...base, fleet }).destination;
    expect(d.kind === 'aerospike' && d.deadLetters?.instance).toBe('ferry-a.example:8901');
    expect((deadLetters() as { instance: string }).instance.length).toBeGreaterThan(0);
  });

  it('a bad value is an error naming its key path', () => {
    expect(() => deadLetters({ 'dead-letters': { 'max-bytes': 10 } })).toThrow(ConfigError);
    expect(() => deadLetters({ 'dead-letters': { 'max-bytes': 10 } })).toThrow(/aerospike\.dead-letters\.max-bytes/);
    expect(() => deadLetters({ 'dead-letters': { folder: '/x' } })).toThrow(/aerospike\.dead-letters\.folder: unknown key/);
  });
});
