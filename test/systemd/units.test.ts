// systemd/: the unit files pass `systemd-analyze verify`; the sysusers and tmpfiles snippets work.
//
// The units start /usr/bin/ferry, which a development machine lacks, and verify fails a unit whose
// ExecStart is not executable. So each unit is verified as a copy, in a temporary directory, whose
// ExecStart names this Node binary instead; nothing else is changed.
//
// `systemd-analyze verify` exits 0 even for unknown keys or unparsable values: it only logs them,
// as "<path>:<line>: …" or "<unit>: …". So the test also fails on any output line that names the
// unit under test. Lines that do not name it are about the host, not the unit (for example
// "System has not been booted with systemd" in a container, or complaints about other units on
// the host), and are ignored. A deliberately broken copy proves the filter catches real findings.

import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findOnPath } from './helpers.js';

const SYSTEMD_DIR = fileURLToPath(new URL('../../systemd/', import.meta.url));
const systemdAnalyze = findOnPath('systemd-analyze');

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-units-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Copies a unit with ExecStart pointed at an existing binary; returns the copy's path. */
function copyForVerify(file: string, edit: (text: string) => string = (text) => text): string {
  const text = readFileSync(join(SYSTEMD_DIR, file), 'utf8');
  expect(text).toMatch(/^ExecStart=\/usr\/bin\/ferry run --config /m);
  const copy = join(dir, file);
  writeFileSync(copy, edit(text.replace(/^ExecStart=\/usr\/bin\/ferry /m, `ExecStart=${process.execPath} `)));
  return copy;
}

/** verify's findings about `unit` (lines naming it), and its exit status. */
function verify(path: string, unit: string): { status: number | null; findings: string[]; output: string } {
  if (systemdAnalyze === undefined) throw new Error('systemd-analyze is not on PATH: install Debian’s systemd package');
  const result = spawnSync(systemdAnalyze, ['verify', '--man=no', path], { encoding: 'utf8', cwd: dir });
  const output = `${result.stdout}${result.stderr}`;
  const findings = output.split('\n').filter((line) => line.includes(unit));
  return { status: result.status, findings, output };
}

describe('systemd units', () => {
  it('ferry.service verifies clean', () => {
    const { status, findings, output } = verify(copyForVerify('ferry.service'), 'ferry.service');
    expect(findings, output).toEqual([]);
    expect(status, output).toBe(0);
  });

  it('ferry@.service verifies clean as an instance (ferry@eu-west.service)', () => {
    copyForVerify('ferry@.service');
    const { status, findings, output } = verify(join(dir, 'ferry@eu-west.service'), 'ferry@');
    expect(findings, output).toEqual([]);
    expect(status, output).toBe(0);
  });

  it('a broken copy is caught: the filter sees real findings', () => {
    const broken = join(dir, 'broken.service');
    copyFileSync(copyForVerify('ferry.service'), broken);
    writeFileSync(broken, readFileSync(broken, 'utf8').replace('Type=notify', 'Type=notifyy').replace('NotifyAccess=main', 'NotifyAcess=main'));
    const { findings } = verify(broken, 'broken.service');
    expect(findings.join('\n')).toMatch(/Failed to parse service type/);
    expect(findings.join('\n')).toMatch(/Unknown key 'NotifyAcess'/);
  });

  it('the units keep what the README promises', () => {
    for (const file of ['ferry.service', 'ferry@.service']) {
      const text = readFileSync(join(SYSTEMD_DIR, file), 'utf8');
      for (const line of ['Type=notify', 'NotifyAccess=main', 'ExecReload=/bin/kill -HUP $MAINPID', 'KillSignal=SIGTERM', 'User=ferry', 'ProtectSystem=strict', 'LimitNOFILE=65536']) {
        expect(text, `${file}: ${line}`).toContain(`\n${line}\n`);
      }
      // V8 writes machine code at run time; MemoryDenyWriteExecute=yes would abort Node.
      expect(text).not.toMatch(/^MemoryDenyWriteExecute=(yes|true|1)/m);
    }
    expect(readFileSync(join(SYSTEMD_DIR, 'ferry@.service'), 'utf8')).toContain('\nExecStart=/usr/bin/ferry run --config /etc/ferry/%i.yml\n');
  });
});

describe('sysusers and tmpfiles snippets', () => {
  const sysusers = findOnPath('systemd-sysusers');
  const tmpfiles = findOnPath('systemd-tmpfiles');
  // Creating the user and chowning the directories inside a private --root needs root.
  const canApply = sysusers !== undefined && tmpfiles !== undefined && process.getuid?.() === 0;

  it(canApply ? 'applied to an empty root, they create the user and the directories' : 'declare the user and the directories', () => {
    const sysusersFile = join(SYSTEMD_DIR, 'ferry.sysusers');
    const tmpfilesFile = join(SYSTEMD_DIR, 'ferry.tmpfiles');
    expect(readFileSync(sysusersFile, 'utf8')).toMatch(/^u ferry - "Ferry replication daemon" \/var\/lib\/ferry$/m);
    const entries = readFileSync(tmpfilesFile, 'utf8')
      .split('\n')
      .filter((line) => line !== '' && !line.startsWith('#'))
      .map((line) => line.split(/\s+/));
    expect(entries).toEqual([
      ['d', '/etc/ferry', '0750', 'root', 'ferry', '-'],
      ['d', '/var/lib/ferry', '0750', 'ferry', 'ferry', '-'],
      ['d', '/var/log/ferry', '0750', 'ferry', 'ferry', '-'],
    ]);
    if (!canApply || sysusers === undefined || tmpfiles === undefined) return;

    const root = mkdtempSync(join(dir, 'root-'));
    mkdirSync(join(root, 'etc'));
    const users = spawnSync(sysusers, [`--root=${root}`, sysusersFile], { encoding: 'utf8' });
    expect(users.status, users.stderr).toBe(0);
    const passwd = readFileSync(join(root, 'etc/passwd'), 'utf8');
    const match = /^ferry:x:(\d+):(\d+):Ferry replication daemon:\/var\/lib\/ferry:\/usr\/sbin\/nologin$/m.exec(passwd);
    expect(match, passwd).not.toBeNull();
    const uid = Number(match?.[1]);
    const gid = Number(match?.[2]);
    const dirs = spawnSync(tmpfiles, [`--root=${root}`, '--create', tmpfilesFile], { encoding: 'utf8' });
    expect(dirs.status, dirs.stderr).toBe(0);
    const owners = ['etc/ferry', 'var/lib/ferry', 'var/log/ferry'].map((path) => {
      const stat = statSync(join(root, path));
      return [path, stat.uid, stat.gid, (stat.mode & 0o7777).toString(8)];
    });
    expect(owners).toEqual([
      ['etc/ferry', 0, gid, '750'],
      ['var/lib/ferry', uid, gid, '750'],
      ['var/log/ferry', uid, gid, '750'],
    ]);
  });
});
