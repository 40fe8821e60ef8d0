/**
 * Dead-letter files read back whole, for `ferry replay`: JSON lines (`.jsonl`, any other name) or a
 * stream of MessagePack maps (`.msgpack`), as dead-letters.ts writes them. A line or map that is not
 * a dead letter is counted, never fatal.
 */

import { readFileSync } from 'node:fs';
import { Unpackr } from 'msgpackr';
import { type ParkedRecord, parkedRecordOf } from './dead-letter-record.js';

export interface DeadLetterFile {
  records: ParkedRecord[];
  /** lines or maps that are not dead letters: where and why, the first few */
  bad: number;
  firstBad: string[];
}

const SHOWN_BAD = 5;

/** Read `path` (throws when it cannot be read). */
export function readDeadLetterFile(path: string): DeadLetterFile {
  const bytes = readFileSync(path);
  const out: DeadLetterFile = { records: [], bad: 0, firstBad: [] };
  const bad = (where: string, why: string): void => {
    out.bad++;
    if (out.firstBad.length < SHOWN_BAD) out.firstBad.push(`${path}:${where}: ${why}`);
  };
  const take = (raw: unknown, where: string): void => {
    const r = parkedRecordOf(raw);
    if (typeof r !== 'string') out.records.push(r);
    else bad(where, r);
  };
  if (path.endsWith('.msgpack')) {
    const unpackr = new Unpackr({ useRecords: false });
    const values: unknown[] = [];
    let broken: string | null = null;
    try {
      unpackr.unpackMultiple(bytes, (value: unknown) => {
        values.push(value);
      });
    } catch (err) {
      // A cut-off tail: what came before it counts.
      broken = (err as Error).message;
    }
    values.forEach((v, i) => take(v, `map ${i + 1}`));
    if (broken !== null) bad(`map ${values.length + 1}`, `cut off (${broken})`);
    return out;
  }
  const lines = bytes.toString('utf8').split('\n');
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch {
      bad(`line ${i + 1}`, 'not JSON (cut off?)');
      return;
    }
    take(raw, `line ${i + 1}`);
  });
  return out;
}
