import { describe, expect, it } from 'vitest';
import { InfoFormatError, masters, parseAddress, parsePeers, parseReplicas } from '../../src/destination/cluster-info.js';

describe('peers', () => {
  it('parses the documented example', () => {
    expect(parsePeers('12,3000,[[BB9040011AC4202,,[10.0.0.2]],[BB9050011AC4202,,[10.0.0.3:3100]]]')).toEqual({
      generation: 12,
      peers: [
        { id: 'BB9040011AC4202', tlsName: undefined, addresses: [{ host: '10.0.0.2', port: 3000 }] },
        { id: 'BB9050011AC4202', tlsName: undefined, addresses: [{ host: '10.0.0.3', port: 3100 }] },
      ],
    });
  });

  it('an empty list, TLS names, several addresses and IPv6', () => {
    expect(parsePeers('0,3000,[]')).toEqual({ generation: 0, peers: [] });
    expect(parsePeers('3,4333,[[A1,tls-a,[127.0.0.1:4333,[::1]:4334,[fe80::1]]]]').peers).toEqual([
      {
        id: 'A1',
        tlsName: 'tls-a',
        addresses: [
          { host: '127.0.0.1', port: 4333 },
          { host: '::1', port: 4334 },
          { host: 'fe80::1', port: 4333 },
        ],
      },
    ]);
  });

  it('malformed values are errors', () => {
    expect(() => parsePeers('1,3000,[[A,,[x]]')).toThrow(InfoFormatError);
    expect(() => parsePeers('1,3000')).toThrow(InfoFormatError);
    expect(() => parsePeers('x,3000,[]')).toThrow(InfoFormatError);
  });

  it('addresses', () => {
    expect(parseAddress('host.example', 3000)).toEqual({ host: 'host.example', port: 3000 });
    expect(parseAddress('host.example:3100', 3000)).toEqual({ host: 'host.example', port: 3100 });
  });
});

describe('replicas', () => {
  const bitmap = (owned: number[]): Buffer => {
    const b = Buffer.alloc(512);
    for (const p of owned) b[p >> 3]! |= 0x80 >> (p & 7);
    return b;
  };

  it('takes the first (master) bitmap of each namespace, MSB first', () => {
    const m = bitmap([0, 7, 8, 4095]);
    const other = bitmap([1, 2, 3]);
    const parsed = parseReplicas(`test:0,2,${m.toString('base64')},${other.toString('base64')};bar:0,1,${other.toString('base64')}`);
    expect([...parsed.keys()]).toEqual(['test', 'bar']);
    const t = parsed.get('test')!;
    expect([0, 7, 8, 4095].every((p) => masters(t, p))).toBe(true);
    expect([1, 2, 3, 9, 4094].some((p) => masters(t, p))).toBe(false);
    expect(masters(parsed.get('bar')!, 2)).toBe(true);
  });

  it('reads the older replicas-master form too', () => {
    const m = bitmap([5]);
    expect(masters(parseReplicas(`test:${m.toString('base64')}`).get('test')!, 5)).toBe(true);
  });

  it('a bitmap of the wrong size is an error', () => {
    expect(() => parseReplicas(`test:0,1,${Buffer.alloc(10).toString('base64')}`)).toThrow(InfoFormatError);
  });
});
