/**
 * A real HAProxy (Debian's `haproxy`) on loopback, started with the repository's documented
 * configuration (config/haproxy-http2.cfg) rewritten only in its addresses and ports, so the file
 * the README shows is the file the tests run.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const HAPROXY_HTTP2_CFG = fileURLToPath(new URL('../../config/haproxy-http2.cfg', import.meta.url));

export interface Backend {
  /** Ferry's service port, and its management port (the health check's) */
  port: number;
  managePort: number;
}

/** The documented configuration with the frontend on `port` and its servers at `backends`. */
export function haproxyConfig(port: number, backends: readonly Backend[]): string {
  let text = readFileSync(HAPROXY_HTTP2_CFG, 'utf8');
  const bind = /^(\s*)bind :8901 proto h2$/m;
  if (!bind.test(text)) throw new Error('config/haproxy-http2.cfg: the frontend bind line changed; update test/support/haproxy.ts');
  text = text.replace(bind, `$1bind 127.0.0.1:${port} proto h2`);
  const servers = /^(\s*)server (ferry\d+) \S+:8901 port 8902$/gm;
  const lines = text.match(servers) ?? [];
  if (lines.length !== backends.length) throw new Error(`config/haproxy-http2.cfg has ${lines.length} servers; the test runs ${backends.length}`);
  let i = 0;
  return text.replace(servers, (_line, indent: string, name: string) => {
    const b = backends[i++]!;
    return `${indent}server ${name} 127.0.0.1:${b.port} port ${b.managePort}`;
  });
}

export class HaproxyProcess {
  readonly stderr: string[] = [];

  private constructor(
    private readonly child: ChildProcess,
    dir: string,
    readonly port: number,
  ) {
    child.stderr!.on('data', (c: Buffer) => this.stderr.push(c.toString('utf8')));
    child.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  }

  /** Start `haproxy -db` on `config` and wait until its frontend on `port` accepts connections. */
  static async start(config: string, port: number, timeoutMs = 10_000): Promise<HaproxyProcess> {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-haproxy-'));
    const file = join(dir, 'haproxy.cfg');
    writeFileSync(file, config);
    const p = new HaproxyProcess(spawn('haproxy', ['-f', file, '-db'], { stdio: ['ignore', 'ignore', 'pipe'] }), dir, port);
    const until = performance.now() + timeoutMs;
    while (!(await accepts(port))) {
      if (p.child.exitCode !== null || performance.now() > until) {
        p.stop();
        throw new Error(`haproxy did not start: ${p.stderr.join('')}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    return p;
  }

  stop(): void {
    this.child.kill('SIGKILL');
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
