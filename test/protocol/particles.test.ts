import { describe, expect, it } from 'vitest';
import { ParticleError, decodeParticle } from '../../src/protocol/index.js';

const hex = (h: string): Buffer => Buffer.from(h.replace(/\s+/g, ''), 'hex');

describe('decodeParticle', () => {
  it('scalars keep their types', () => {
    expect(decodeParticle(1, hex('ffffffffffffff85'))).toEqual({ type: 'int', value: -123 });
    expect(decodeParticle(1, hex('7fffffffffffffff'))).toEqual({ type: 'int', value: 9223372036854775807n });
    expect(decodeParticle(2, hex('3ff8000000000000'))).toEqual({ type: 'double', value: 1.5 });
    expect(decodeParticle(3, Buffer.from('héllo'))).toEqual({ type: 'str', value: 'héllo' });
    expect(decodeParticle(4, hex('00ff10'))).toEqual({ type: 'blob', value: hex('00ff10') });
    expect(decodeParticle(17, hex('01'))).toEqual({ type: 'bool', value: true });
    expect(decodeParticle(17, hex('00'))).toEqual({ type: 'bool', value: false });
    expect(decodeParticle(0, Buffer.alloc(0))).toEqual({ type: 'null', value: null });
    expect(decodeParticle(8, hex('aced'))).toEqual({ type: 'blob-8', value: hex('aced') });
  });

  it('lists and maps follow the server convention: a type byte inside each str payload', () => {
    // [7, "ab", blob 01 02, -1, 1.5, nil, true]
    const list = hex('97 07 a3 03 61 62 a3 04 01 02 ff cb 3ff8000000000000 c0 c3');
    expect(decodeParticle(20, list)).toEqual({ type: 'list', value: [7, 'ab', hex('0102'), -1, 1.5, null, true] });
    // {"k": 1, "v": [2, 3]}
    const map = hex('82 a2 03 6b 01 a2 03 76 92 02 03');
    expect(decodeParticle(19, map)).toEqual({ type: 'map', value: { k: 1, v: [2, 3] } });
  });

  it('an ordered list or map carries its flags in a leading ext element, which is not a value', () => {
    // ordered list: [ext(flags 1), 1, 2]
    expect(decodeParticle(20, hex('93 c7 00 01 01 02'))).toEqual({ type: 'list', value: [1, 2] });
    // key-ordered map: {ext(flags 1): nil, "a": 1}
    expect(decodeParticle(19, hex('82 c7 00 01 c0 a2 03 61 01'))).toEqual({ type: 'map', value: { a: 1 } });
  });

  it('wide msgpack forms decode', () => {
    expect(decodeParticle(20, hex('dc 0002 cd 0100 d1 ff00'))).toEqual({ type: 'list', value: [256, -256] });
    expect(decodeParticle(20, hex('91 cf 0000000100000000'))).toEqual({ type: 'list', value: [4294967296] });
    expect(decodeParticle(20, hex('91 d9 04 03 61 62 63'))).toEqual({ type: 'list', value: ['abc'] });
  });

  it('GeoJSON skips its flags and cells', () => {
    const json = '{"type":"Point","coordinates":[1,2]}';
    const withCells = Buffer.concat([hex('00 0001 0000000000000001'), Buffer.from(json)]);
    expect(decodeParticle(23, withCells)).toEqual({ type: 'geojson', value: { type: 'Point', coordinates: [1, 2] } });
  });

  it('malformed particles are errors, not crashes', () => {
    expect(() => decodeParticle(1, hex('01'))).toThrow(ParticleError);
    expect(() => decodeParticle(20, hex('93 01'))).toThrow(ParticleError);
    expect(() => decodeParticle(20, hex('c1'))).toThrow(ParticleError);
  });
});
