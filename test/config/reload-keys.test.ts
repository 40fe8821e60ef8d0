/**
 * SIGHUP's table: every key of the schema and of config/reference.yml is classified live or
 * restart, the table names no key that does not exist, and the deep diff finds each changed key.
 */

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { z } from 'zod';
import { RELOAD_KEYS, buildConfig, changedKeys, classifyChanges, reloadClassOf } from '../../src/config/index.js';
import { shapeOf } from '../../src/config/load-config.js';
import { configSchema } from '../../src/config/schema.js';

const REFERENCE = fileURLToPath(new URL('../../config/reference.yml', import.meta.url));

/** The table entry that classifies `path` (its own or an ancestor's), or undefined. */
function entryFor(path: string): string | undefined {
  const parts = path.split('.');
  for (let n = parts.length; n > 0; n--) {
    const p = parts.slice(0, n).join('.');
    if (RELOAD_KEYS[p] !== undefined) return p;
  }
  return undefined;
}

/** Every leaf key path of the schema: objects are walked, anything else is a leaf. */
function schemaKeys(t: z.ZodType, path: string): string[] {
  const shape = shapeOf(t);
  if (shape === null) return [path];
  return Object.entries(shape).flatMap(([k, v]) => schemaKeys(v, path === '' ? k : `${path}.${k}`));
}

/** Every key path a YAML document sets, down to scalars, lists and empty maps. */
function documentKeys(v: unknown, path: string): string[] {
  if (v === null || typeof v !== 'object' || Array.isArray(v) || Object.keys(v).length === 0) return [path];
  return Object.entries(v).flatMap(([k, x]) => documentKeys(x, path === '' ? k : `${path}.${k}`));
}

describe('RELOAD_KEYS', () => {
  it('classifies every key config/reference.yml sets', () => {
    const keys = documentKeys(parse(readFileSync(REFERENCE, 'utf8')), '');
    expect(keys).toContain('service.slow-reader-timeout');
    expect(keys.filter((k) => entryFor(k) === undefined)).toEqual([]);
  });

  it('classifies every key of the schema, and names none that does not exist', () => {
    const keys = schemaKeys(configSchema, '');
    expect(keys).toContain('service.slow-reader-timeout');
    expect(keys.filter((k) => entryFor(k) === undefined)).toEqual([]);
    const stale = Object.keys(RELOAD_KEYS).filter((entry) => !keys.some((k) => k === entry || k.startsWith(`${entry}.`)));
    expect(stale).toEqual([]);
  });

  it('an unknown key is reported as needing a restart, never ignored', () => {
    expect(reloadClassOf('service.tls.ca-file')).toBe('restart');
    expect(reloadClassOf('aerospike')).toBe('restart');
    expect(reloadClassOf('service.slow-reader-timeout')).toBe('live');
  });
});

describe('changedKeys', () => {
  const base = { aerospike: { seeds: [{ h: { port: 3000 } }] } };
  const raw = (over: Record<string, unknown>): unknown => buildConfig({ ...base, ...over }).raw;

  it('finds nothing between equal configurations', () => {
    expect(changedKeys(raw({}), raw({ service: { 'ack-deadline': 5000 } }))).toEqual([]);
  });

  it('names each changed key once, a map or list as a whole, and classifies it', () => {
    const before = raw({ logging: { levels: { root: 'info' } } });
    const after = raw({
      service: { 'slow-reader-timeout': 5000, 'cpu-affinity': true, tls: { 'key-file': '/k', 'cert-chain-file': '/c' } },
      aerospike: { seeds: [{ h: { port: 3001 } }], 'idle-timeout': 1000, 'tend-interval': 500, 'min-connections-per-node': 1, lut: 'strip' },
      logging: { levels: { root: 'debug', tender: 'warn' }, format: 'pretty' },
    });
    const changed = changedKeys(before, after);
    expect(changed.sort()).toEqual(
      [
        'service.slow-reader-timeout',
        'service.cpu-affinity',
        'service.tls',
        'aerospike.seeds',
        'aerospike.idle-timeout',
        'aerospike.tend-interval',
        'aerospike.min-connections-per-node',
        'aerospike.lut',
        'logging.levels',
        'logging.format',
      ].sort(),
    );
    const { live, restart } = classifyChanges(changed);
    expect(live.sort()).toEqual(['aerospike.lut', 'logging.format', 'logging.levels', 'service.slow-reader-timeout']);
    expect(restart.sort()).toEqual(['aerospike.idle-timeout', 'aerospike.min-connections-per-node', 'aerospike.seeds', 'aerospike.tend-interval', 'service.cpu-affinity', 'service.tls']);
  });

  it('a destination swapped for another is reported by section', () => {
    const before = raw({});
    const after = buildConfig({ file: { path: '/tmp/x.jsonl' } }).raw;
    expect(classifyChanges(changedKeys(before, after))).toEqual({ live: [], restart: ['aerospike', 'file'] });
  });
});
