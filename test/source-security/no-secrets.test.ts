/**
 * Nothing secret reaches a log line or a metric, at any level: Ferry runs with every logger at
 * trace while sources log in, fail, re-authenticate and ship; then its whole output and its metrics
 * are searched for the passwords, their bcrypt credentials and the session token, in every
 * encoding a logger might use.
 */

import { describe, expect, it } from 'vitest';
import { XdrSource } from '../../src/cli/load/xdr-source.js';
import { AerospikeDouble } from '../double/server.js';
import { FerryProcess, testConfig } from '../support/ferry-process.js';
import { until } from '../support/in-process.js';
import { loadOptions } from '../support/load.js';
import { RawSource, authenticateRequest, credential, recordRequest, tempFile } from './helpers.js';

const PASSWORD = 'Tr0ub4dor&3-secret';
const WRONG = 'hunter2-wrong-guess';

function encodings(secret: Buffer): string[] {
  return [secret.toString('hex'), secret.toString('base64'), secret.toString('base64url'), secret.toString('latin1'), JSON.stringify(secret.toString('utf8')).slice(1, -1)];
}

describe('no secrets in logs or metrics', () => {
  it('at trace level, logins, failures, re-authentication and a load leave no password, credential or token behind', async () => {
    const double = await AerospikeDouble.start();
    const config = testConfig(double, { service: { security: { users: [{ username: 'xdr', 'password-file': tempFile('pass', `${PASSWORD}\n`) }] } } });
    const ferry = await FerryProcess.start({ ...config, logging: { 'enable-console-logging': true, levels: { root: 'trace', server: 'trace', 'record-parser': 'debug', dispatch: 'trace' } } });
    let metricsText = '';
    let token: Buffer;
    try {
      const s = await RawSource.open(ferry.port);
      const ok = await s.login('xdr', PASSWORD);
      expect(ok.result).toBe(0);
      token = ok.fields.get(5)!;
      s.send(recordRequest(1));
      expect((await s.next())[0]!.result).toBe(0);
      s.send(authenticateRequest('xdr', token));
      expect((await s.next())[0]!.result).toBe(0);
      const forged = Buffer.from(token);
      forged[9]! ^= 0xff;
      s.send(authenticateRequest('xdr', forged));
      expect((await s.next())[0]!.result).toBe(65);
      s.close();
      const t = await RawSource.open(ferry.port);
      for (let i = 0; i < 3; i++) expect((await t.login('xdr', WRONG)).result).toBe(62);
      await t.closed;
      const source = new XdrSource(loadOptions(ferry.port, { keys: 200, changes: 1000, set: 'no-secrets', user: 'xdr', password: PASSWORD, connections: 2 }));
      expect((await source.run()).abandons).toBe(0);
      await until(() => ferry.logs.some((l) => l.msg === 'closing source connection: too many failed logins'), 5000, 'the lockout line');
      metricsText = await (await fetch(`http://127.0.0.1:${ferry.managePort}/metrics`)).text();
    } finally {
      expect(await ferry.stop()).toBe(0);
      await double.close();
    }
    // The debug lines were there to search: the logins were logged, without their secrets.
    expect(ferry.logs.some((l) => l.level === 20 && l.msg === 'source logged in' && l['user'] === 'xdr')).toBe(true);
    expect(ferry.logs.some((l) => l.level === 20 && l.msg === 'source login refused')).toBe(true);
    expect(ferry.logs.some((l) => l.msg === 'parsed record')).toBe(true);
    const output = [...ferry.logs.map((l) => JSON.stringify(l)), ferry.stderr.join(''), metricsText].join('\n');
    const secrets: Array<[string, Buffer]> = [
      ['password', Buffer.from(PASSWORD)],
      ['wrong password', Buffer.from(WRONG)],
      ['credential', credential(PASSWORD)],
      ['wrong credential', credential(WRONG)],
      // The credential without the salt that every credential starts with.
      ['credential hash', credential(PASSWORD).subarray(29)],
      ['token', token!],
      ['token MAC', token!.subarray(7)],
    ];
    for (const [what, secret] of secrets) {
      for (const form of encodings(secret)) expect(output.includes(form), `${what} (${form}) in the output`).toBe(false);
    }
  });
});
