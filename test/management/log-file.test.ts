/**
 * `logging.file` (src/management/logger.ts): a path that cannot be created is a configuration error
 * naming the key, from `ferry check-config` and `ferry run` alike (exit 2), and a log transport
 * that fails once running (a full disk: a 64 KiB tmpfs the test mounts, which needs root) is
 * reported on stderr once and never crashes the process.
 */

import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { stringify } from 'yaml';
import { ConfigError } from '../../src/config/index.js';
import { Logging, logFileProblem } from '../../src/management/logger.js';
import { FERRY_BIN, FerryProcess } from '../support/ferry-process.js';
import { until } from '../support/in-process.js';

const scratch = mkdtempSync(join(tmpdir(), 'ferry-log-file-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A file where the log's folder should be. */
const blocker = join(scratch, 'blocker');
writeFileSync(blocker, '');
const blocked = join(blocker, 'ferry.log');

function config(file: string): Record<string, unknown> {
  return {
    service: { port: 0, address: '127.0.0.1', manage: { enabled: false } },
    aerospike: { seeds: [{ '127.0.0.1': { port: 3000 } }] },
    logging: { file },
  };
}

describe('logging.file', () => {
  it('a folder that exists or can be created is fine; a file on the way is named', () => {
    expect(logFileProblem(join(scratch, 'logs', 'nested', 'ferry.log'))).toBeNull();
    expect(logFileProblem(join(scratch, 'ferry.log'))).toBeNull();
    expect(logFileProblem(blocked)).toBe(`logging.file: cannot create ${blocked} (${blocker} is a file, not a directory)`);
    expect(logFileProblem(join(blocker, 'deeper', 'ferry.log'))).toBe(`logging.file: cannot create ${join(blocker, 'deeper', 'ferry.log')} (${blocker} is a file, not a directory)`);
    expect(() => new Logging({ file: blocked, 'enable-console-logging': false, levels: {} })).toThrow(ConfigError);
  });

  it('check-config and run both refuse it with exit 2, naming the key', async () => {
    const file = join(scratch, 'blocked.yml');
    writeFileSync(file, stringify(config(blocked)));
    const check = spawnSync(process.execPath, [FERRY_BIN, 'check-config', file], { encoding: 'utf8' });
    expect(check.status).toBe(2);
    expect(check.stderr).toContain(`logging.file: cannot create ${blocked} (${blocker} is a file, not a directory)`);
    const run = FerryProcess.launch(config(blocked));
    expect(await run.exitCode()).toBe(2);
    const stderr = run.stderr.join('');
    expect(stderr).toContain(`ferry: invalid configuration:\n  logging.file: cannot create ${blocked} (${blocker} is a file, not a directory)`);
    expect(stderr).not.toContain('Unhandled');
  });

  it('a full disk while running: one line on stderr, and logging goes on without throwing', async () => {
    const disk = join(scratch, 'tiny-disk');
    mkdirSync(disk);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', disk]);
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      const logging = new Logging({ file: join(disk, 'ferry.log'), 'enable-console-logging': false, levels: { root: 'info' } });
      const log = logging.get('server');
      const reports = (): string[] => stderr.mock.calls.map((c) => String(c[0])).filter((s) => s.includes('logging.file'));
      const filler = 'x'.repeat(1000);
      // 64 KiB fill in some 65 lines; every line after the failure is refused by the transport again.
      await until(
        async () => {
          for (let i = 0; i < 100; i++) log.info({ filler }, 'filling the disk');
          await new Promise((r) => setImmediate(r));
          return reports().length > 0;
        },
        20_000,
        'the transport to fail',
      );
      // Each refused line's 'error' event is queued as an immediate: one more turn sees them all.
      for (let i = 0; i < 100; i++) log.info({ filler }, 'after the failure');
      logging.flush();
      await new Promise((r) => setImmediate(r));
      expect(reports()).toEqual([`ferry: logging.file: cannot write ${join(disk, 'ferry.log')} (ENOSPC: no space left on device, write); no more lines are logged until Ferry restarts\n`]);
    } finally {
      stderr.mockRestore();
      // Lazily: the failed transport's file stays open (its thread ends, the descriptor does not).
      execFileSync('umount', ['-l', disk]);
    }
  });
});
