/**
 * The daemon's node flags (src/cli/node-flags.ts) must reach node however Ferry is started: the
 * `ferry` command's first line, `npm start`, and the systemd wrapper the README installs; and
 * `ferry run` says so when they did not.
 */

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NODE_FLAGS, missingNodeFlags } from '../../src/cli/node-flags.js';
import { FerryProcess } from '../support/ferry-process.js';

const read = (path: string): string => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

describe('node flags for the daemon', () => {
  it('every launcher passes them', () => {
    const flags = NODE_FLAGS.join(' ');
    expect(read('src/cli/ferry.ts').split('\n')[0]).toBe(`#!/usr/bin/env -S node ${flags}`);
    expect(read('dist/cli/ferry.js').split('\n')[0]).toBe(`#!/usr/bin/env -S node ${flags}`);
    const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;
    expect(scripts['start']).toMatch(new RegExp(`^node ${flags} dist/cli/ferry\\.js run `));
    expect(read('README.md')).toContain(`exec /usr/bin/node ${flags} /opt/ferry/dist/cli/ferry.js`);
  });

  it('missing ones are found on the command line or in NODE_OPTIONS, in either spelling', () => {
    expect(missingNodeFlags([], '')).toEqual([...NODE_FLAGS]);
    expect(missingNodeFlags(['--max-semi-space-size=8'], '')).toEqual([]);
    expect(missingNodeFlags([], '--max_semi_space_size=8 --enable-source-maps')).toEqual([]);
    expect(missingNodeFlags(['--max-semi-space-size=16'], '')).toEqual([...NODE_FLAGS]);
  });

  it.each([
    ['without them: one warning naming them', [], 1],
    ['with them: no warning', NODE_FLAGS, 0],
  ] as const)('ferry run started %s', async (_what, flags, warnings) => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-flags-'));
    try {
      const config = { service: { port: 0, address: '127.0.0.1', manage: { port: 0 } }, file: { path: join(dir, 'changes.json') }, logging: { levels: { root: 'info' } } };
      const ferry = await FerryProcess.start(config, 20_000, flags);
      expect(await ferry.stop()).toBe(0);
      const lines = ferry.logs.filter((l) => l.msg.startsWith('node was started without these flags'));
      expect(lines).toHaveLength(warnings);
      if (warnings > 0) expect(lines[0]!['missing']).toEqual([...NODE_FLAGS]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
