/**
 * Dead letters a worker wrote, by source namespace and result code (ferry_dead_letters_total): the
 * worker publishes its whole tally when it has written dead letters (a rare path, at most once per
 * event-loop turn); main reads it at scrape time.
 *
 *   SharedArrayBuffer (TALLY_BYTES): snapshot header, then JSON { "<namespace>": { "<code>": n } }
 *
 * A worker tallies at most MAX_TALLIED_NAMESPACES namespaces; further ones count under "(other)".
 * A replacement worker starts from the tally its predecessor published.
 */

import { SnapshotCell, isRecord, jsonCodec } from './snapshot.js';

const TALLY_BYTES = 64 * 1024;
const MAX_TALLIED_NAMESPACES = 64;
const OTHER_NAMESPACES = '(other)';

export type DeadLetterTally = Record<string, Record<string, number>>;

const tallyCodec = jsonCodec<DeadLetterTally>('dead-letter tally', (raw) => {
  if (!isRecord(raw)) return 'not a map';
  for (const codes of Object.values(raw)) {
    if (!isRecord(codes)) return 'a namespace without a map of codes';
    for (const [code, n] of Object.entries(codes)) if (!/^\d{1,3}$/.test(code) || typeof n !== 'number') return 'a count that is not a number by code';
  }
  return raw as DeadLetterTally;
});

export function newDeadLetterTallyBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(TALLY_BYTES);
}

export function deadLetterTallyCell(sab: SharedArrayBuffer): SnapshotCell<DeadLetterTally> {
  return new SnapshotCell(sab, tallyCodec);
}

/** Worker side: counts, and publishes when asked and something changed. */
export class DeadLetterTallyWriter {
  private readonly cell: SnapshotCell<DeadLetterTally>;
  private readonly tally: DeadLetterTally;
  private namespaces: number;
  private dirty = false;

  constructor(sab: SharedArrayBuffer) {
    this.cell = deadLetterTallyCell(sab);
    this.tally = this.cell.poll() ?? {};
    this.namespaces = Object.keys(this.tally).length;
  }

  add(namespace: string, code: number): void {
    let codes = this.tally[namespace];
    if (codes === undefined) {
      const name = this.namespaces < MAX_TALLIED_NAMESPACES ? namespace : OTHER_NAMESPACES;
      codes = this.tally[name] ??= {};
      if (name === namespace) this.namespaces++;
    }
    codes[code] = (codes[code] ?? 0) + 1;
    this.dirty = true;
  }

  publish(): void {
    if (!this.dirty) return;
    this.dirty = false;
    this.cell.publish(this.tally);
  }
}
