import { describe, expect, it } from 'vitest';
import { ResultCode, SourceAction, isPermanentDestinationCode, isTransientDestinationCode, resultCodeText, sourceActionOf } from '../../src/protocol/index.js';

describe('what a source does with a reply code (docs/wire.md §3)', () => {
  it.each([0, 2, 28])('%i is done', (code) => {
    expect(sourceActionOf(code)).toBe(SourceAction.Done);
  });

  it.each([8, 9, 11, 14, 18, 80])('%i is retried later', (code) => {
    expect(sourceActionOf(code)).toBe(SourceAction.Retry);
  });

  it.each([1, 3, 4, 5, 12, 13, 20, 22, 25, 27, 32, 51, 52, 66, 81, 255])('%i abandons the change', (code) => {
    expect(sourceActionOf(code)).toBe(SourceAction.Abandon);
  });

  it('names the codes with their wire values', () => {
    expect(ResultCode).toMatchObject({ Ok: 0, NotFound: 2, Parameter: 4, Timeout: 9, Unavailable: 11, EnterpriseOnly: 25, LostConflict: 28, SecurityNotConfigured: 52, NotAuthenticated: 80 });
  });

  it('treats passing destination conditions as transient (Ferry answers them with a retry code)', () => {
    for (const code of [8, 9, 11, 14, 18, 32, 66, 80]) expect(isTransientDestinationCode(code)).toBe(true);
    for (const code of [0, 2, 4, 13, 22, 25, 28]) expect(isTransientDestinationCode(code)).toBe(false);
  });

  it('parks exactly the codes passed back to the source as they are (dead letters)', () => {
    for (const code of [1, 3, 4, 5, 12, 13, 20, 21, 22, 25, 51, 52, 81, 255]) expect(isPermanentDestinationCode(code)).toBe(true);
    // done (0, 2, 28), stale under last-write-wins (27), transient (retried), Ferry's own outcomes
    for (const code of [0, 2, 27, 28, 8, 9, 11, 14, 18, 32, 66, 80, 256, 259, 260]) expect(isPermanentDestinationCode(code)).toBe(false);
  });

  it('names every code it knows, transient ones too (ferry replay reports them)', () => {
    expect(resultCodeText(20)).toBe('namespace not found');
    expect(resultCodeText(13)).toBe('record too big');
    expect(resultCodeText(14)).toBe('key busy');
    for (const code of Object.values(ResultCode)) expect(resultCodeText(code)).not.toMatch(/^result code/);
    expect(resultCodeText(200)).toBe('result code 200');
  });
});
