import { describe, expect, it } from 'vitest';
import { buildConfig, ConfigError } from '../../src/config/index.js';
import { LoginError, authenticateMessage, loginMessage, parseLoginReply } from '../../src/destination/login.js';

/** fields of a security message (proto header included): id → value */
function fields(msg: Buffer): Map<number, Buffer> {
  expect(msg[1]).toBe(2);
  const out = new Map<number, Buffer>();
  let pos = 8 + 16;
  for (let i = 0; i < msg[8 + 3]!; i++) {
    const size = msg.readUInt32BE(pos);
    out.set(msg[pos + 4]!, msg.subarray(pos + 5, pos + 4 + size));
    pos += 4 + size;
  }
  expect(pos).toBe(msg.length);
  return out;
}

describe('destination login messages', () => {
  it('internal: user and the bcrypt credential (fixed salt), no clear password', () => {
    const m = loginMessage({ user: 'xdr', password: 'pw', mode: 'internal' });
    expect(m[8 + 2]).toBe(20);
    const f = fields(m);
    expect(f.get(0)!.toString()).toBe('xdr');
    expect(f.get(3)!.toString()).toMatch(/^\$2a\$10\$7EqJtq98hPqEX7fNZaFWoO.{31}$/);
    expect(f.has(4)).toBe(false);
  });

  it('external: the clear password too', () => {
    const f = fields(loginMessage({ user: 'xdr', password: 'pw', mode: 'external' }));
    expect(f.get(4)!.toString()).toBe('pw');
    expect(f.has(3)).toBe(true);
  });

  it('pki: no field at all (the certificate is the identity)', () => {
    expect(fields(loginMessage({ user: '', password: '', mode: 'pki' })).size).toBe(0);
  });

  it('AUTHENTICATE carries the token, and the user when there is one', () => {
    const token = Buffer.from('0102', 'hex');
    const withUser = fields(authenticateMessage('xdr', token));
    expect(withUser.get(0)!.toString()).toBe('xdr');
    expect(withUser.get(5)).toEqual(token);
    const pki = fields(authenticateMessage('', token));
    expect([...pki.keys()]).toEqual([5]);
  });

  it('login replies: a session, a refusal, and a destination without security', () => {
    const reply = (result: number, extra: Buffer[] = []): Buffer => {
      const h = Buffer.alloc(16);
      h[1] = result;
      h[3] = extra.length;
      return Buffer.concat([h, ...extra]);
    };
    const ttl = Buffer.alloc(9);
    ttl.writeUInt32BE(5, 0);
    ttl[4] = 6;
    ttl.writeUInt32BE(600, 5);
    const token = Buffer.from('0000000305aabb', 'hex');
    expect(parseLoginReply(reply(0, [token, ttl]))).toEqual({ token: Buffer.from('aabb', 'hex'), ttlSeconds: 600 });
    const refused = (() => {
      try {
        parseLoginReply(reply(62));
      } catch (err) {
        return err;
      }
      return null;
    })();
    expect(refused).toBeInstanceOf(LoginError);
    expect((refused as LoginError).retriable).toBe(false);
    expect(() => parseLoginReply(reply(51))).toThrow(/has no security/);
  });
});

describe('aerospike.credentials in the configuration', () => {
  const base = (credentials: Record<string, unknown>): unknown => ({ aerospike: { seeds: [{ h: { port: 3000 } }], credentials } });

  it('pki needs neither a user nor a password file', () => {
    expect(buildConfig(base({ 'auth-mode': 'pki' })).destination).toMatchObject({ credentials: { user: undefined, passwordFile: undefined, mode: 'pki' } });
  });

  it('the other modes need both, with the key path in the error', () => {
    try {
      buildConfig(base({ 'auth-mode': 'internal' }));
      expect.unreachable();
    } catch (err) {
      expect((err as ConfigError).problems).toEqual(['aerospike.credentials.username: required with auth-mode internal', 'aerospike.credentials.password-file: required with auth-mode internal']);
    }
  });
});
