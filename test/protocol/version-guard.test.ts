import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeVersionGuard } from '../../src/protocol/index.js';
import { OfficialClient } from '../double/official-client.js';
import { AerospikeDouble } from '../double/server.js';
import { hexBytes } from '../support/bytes.js';

/** The guard with `version` in its slot. */
function guardWith(bin: string, version: bigint): Buffer {
  const g = encodeVersionGuard(bin);
  const out = Buffer.from(g.expression);
  out.writeBigUInt64BE(version, g.versionAt);
  return out;
}

describe('encodeVersionGuard', () => {
  it('lays out or(eq(bin_type(b), 0), le(bin_int(b), version)) with a uint64 slot', () => {
    const g = encodeVersionGuard('lww');
    // [OR, [EQ, [BIN_TYPE, "lww"], 0], [LE, [BIN, INT, "lww"], uint64]]
    expect(g.expression).toEqual(hexBytes('93 11  93 01 92 52 a3 6c7777 00  93 06 93 51 02 a3 6c7777 cf 0000000000000000'));
    expect(g.versionAt).toBe(g.expression.length - 8);
  });

  it('refuses bin names the server would refuse', () => {
    expect(() => encodeVersionGuard('')).toThrow(RangeError);
    expect(() => encodeVersionGuard('a-name-of-16-chr')).toThrow(RangeError);
    expect(encodeVersionGuard('é'.repeat(7)).expression[6]).toBe(0xa0 | 14);
  });
});

describe('encodeVersionGuard against the official client', () => {
  let double: AerospikeDouble;
  let client: OfficialClient;
  beforeAll(async () => {
    double = await AerospikeDouble.start({ namespaces: ['test'] });
    client = await OfficialClient.start();
    await client.connect(double.port);
  });
  afterAll(async () => {
    await client?.stop();
    await double?.close();
  });

  it.each([
    ['lww', 0x0123456789ab],
    ['ferry-lut', 2 ** 40 + 7],
    ['v', Number.MAX_SAFE_INTEGER],
  ])('bin %s, version %d: the same bytes the client builds for the same expression', async (bin, version) => {
    const key: [string, string, number] = ['test', 'pin', version];
    await client.put(key, { [bin]: 1 });
    double.lastFilterExpression = undefined;
    await client.putGuarded(key, { a: 1 }, bin, version);
    expect(double.lastFilterExpression).toEqual(guardWith(bin, BigInt(version)));
  });

  it('the double applies the guard as the server does: newer and equal pass, older answers 27', async () => {
    const key: [string, string, string] = ['test', 'pin', 'order'];
    await client.putGuarded(key, { a: 1, lww: 100 }, 'lww', 100);
    await client.putGuarded(key, { a: 2, lww: 100 }, 'lww', 100);
    await expect(client.putGuarded(key, { a: 3, lww: 99 }, 'lww', 99)).rejects.toMatchObject({ code: 27 });
    expect((await client.get(key)).bins).toEqual({ a: 2, lww: 100 });
    await client.putGuarded(key, { a: 4, lww: 101 }, 'lww', 101);
    expect((await client.get(key)).bins).toEqual({ a: 4, lww: 101 });
  });
});
