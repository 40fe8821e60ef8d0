/**
 * `ferry mirror` against etcd servers that demand TLS with client certificates (the source) and
 * user authentication (the destination), with etcdctl's flags; a wrong password is a clear error,
 * not an endless retry.
 */

import { Etcd3, Range } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EtcdServer, dump, startEtcd } from '../support/etcd.js';
import { type TlsFixtures, createTlsFixtures } from '../support/tls-fixtures.js';
import { putMany } from './helpers.js';
import { MirrorProcess } from './mirror-process.js';

describe('ferry mirror with TLS and authentication', () => {
  let tls: TlsFixtures;
  let source: EtcdServer;
  let dest: EtcdServer;
  let authed: Etcd3;

  beforeAll(async () => {
    tls = createTlsFixtures();
    [source, dest] = await Promise.all([
      startEtcd({
        name: 'tls-source',
        tls: { cert: tls.server.cert, key: tls.server.key, clientCa: tls.ca.cert, ca: tls.ca.cert, clientCert: tls.client.cert, clientKey: tls.client.key },
      }),
      startEtcd({ name: 'auth-dest' }),
    ]);
    // Authentication on at the destination: a root user with the root role, as etcd requires.
    await dest.client.user('root').create('s3cret pw');
    await dest.client.user('root').addRole('root');
    await dest.client.auth.authEnable();
    authed = new Etcd3({ hosts: dest.endpoint, auth: { username: 'root', password: 's3cret pw' } });
  });
  /** etcdctl's flags for the TLS source, with the client certificate it requires. */
  const sourceFlags = (): string[] => ['--endpoints', `https://${source.endpoint}`, '--cacert', tls.ca.cert, '--cert', tls.client.cert, '--key', tls.client.key];

  afterAll(async () => {
    authed?.close();
    await Promise.all([source?.close(), dest?.close()]);
  });

  it('mirrors from a TLS source (client certificate) into a destination that requires a login', async () => {
    await putMany(source.client, 'app/', 300, (i) => `v${i}`);
    const mirror = new MirrorProcess([
      ...sourceFlags(),
      '--prefix', 'app/',
      '--dest-user', 'root',
      '--dest-password', 's3cret pw',
      '--name', 'secure',
      '--status-interval', '1',
      dest.endpoint,
    ]);
    try {
      await mirror.waitFor(/watching/);
      await source.client.put('app/live').value('L');
      for (let i = 0; i < 200; i++) {
        if ((await authed.get('app/live').string()) === 'L') break;
        await new Promise((r) => setTimeout(r, 50));
      }
      const copied = await dump(authed, 'app/');
      expect(copied.size).toBe(301);
      expect(copied.get('app/000299')).toBe('v299');
      expect(copied.get('app/live')).toBe('L');
      // The password never reaches the output.
      expect(mirror.stderr + mirror.stdout).not.toContain('s3cret');
    } finally {
      expect((await mirror.kill('SIGTERM')).code).toBe(0);
    }
  });

  it('credentials for a source without authentication are not used, as with etcdctl: one warning, then it mirrors', async () => {
    await putMany(source.client, 'open/', 20, (i) => `o${i}`);
    const mirror = new MirrorProcess([...sourceFlags(), '--user', 'root:unused pw', '--prefix', 'open/', '--dest-user', 'root:s3cret pw', '--name', 'no-auth-source', dest.endpoint]);
    try {
      await mirror.waitFor(/sync complete/, 30_000);
      expect(await dump(authed, 'open/')).toEqual(await dump(source.client, 'open/'));
      const warnings = mirror.stderr.split('\n').filter((l) => /user name and password/.test(l));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/ warn the source does not have authentication enabled: its user name and password are not used /);
      expect(mirror.stderr).not.toMatch(/transient failure/);
      expect(mirror.stderr + mirror.stdout).not.toContain('unused pw');
    } finally {
      expect((await mirror.kill('SIGTERM')).code).toBe(0);
    }
  });

  it('a destination user without access to the bookkeeping keys fails naming the keys it needs; with them it mirrors', async () => {
    // Read and write on the data prefix only: the checkpoint and the markers are out of reach.
    await authed.role('data-only').create();
    await authed.role('data-only').grant({ permission: 'Readwrite', range: Range.prefix('app/') });
    await authed.user('narrow').create('narrow pw');
    await authed.user('narrow').addRole('data-only');
    const mirror = new MirrorProcess([...sourceFlags(), '--prefix', 'app/', '--dest-user', 'narrow:narrow pw', '--name', 'narrow', dest.endpoint]);
    const exit = await Promise.race([mirror.exit(), new Promise<null>((r) => setTimeout(() => r(null), 30_000))]);
    if (exit === null) mirror.child.kill('SIGKILL');
    expect(exit?.code).toBe(1);
    expect(mirror.stderr).toMatch(
      /ERR_MIRROR_REJECTED: destination: 7 PERMISSION_DENIED: etcdserver: permission denied: the destination user needs read and write access to the prefixes "app\/" \(the data\) and "__ferry\/mirror\/narrow\/" \(this mirror's checkpoint and markers\), and read access to "__ferry\/mirror\/" \(other mirrors' registrations\)/,
    );

    // What the message (and the README) asks for is enough.
    await authed.role('data-only').grant([
      { permission: 'Readwrite', range: Range.prefix('__ferry/mirror/narrow/') },
      { permission: 'Read', range: Range.prefix('__ferry/mirror/') },
    ]);
    const granted = new MirrorProcess([...sourceFlags(), '--prefix', 'app/', '--dest-user', 'narrow:narrow pw', '--name', 'narrow', dest.endpoint]);
    try {
      await granted.waitFor(/sync complete/, 30_000);
      expect(await dump(authed, 'app/')).toEqual(await dump(source.client, 'app/'));
    } finally {
      expect((await granted.kill('SIGTERM')).code).toBe(0);
    }
  });

  it('a wrong destination password fails with a clear message and exit 1', async () => {
    const mirror = new MirrorProcess([
      ...sourceFlags(),
      '--prefix', 'app/',
      '--dest-user', 'root:wrong',
      '--name', 'denied',
      dest.endpoint,
    ]);
    const exit = await Promise.race([mirror.exit(), new Promise<null>((r) => setTimeout(() => r(null), 30_000))]);
    if (exit === null) mirror.child.kill('SIGKILL');
    expect(exit?.code).toBe(1);
    expect(mirror.stderr).toMatch(/destination: .*authentication failed/);
    expect(mirror.stderr).not.toContain('wrong');
  });
});
