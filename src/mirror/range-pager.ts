/**
 * Reads a key range page by page in key order, one page ahead: while the caller works through a
 * page (and writes transactions), the next one is already on its way.
 */

import type { Etcd3, IKeyValue, IRangeResponse } from 'etcd3';
import { classifyEtcdError, type Side } from './etcd-client.js';
import { type KeyRange, rangeRequest } from './key-range.js';

export class RangePager {
  private page: IKeyValue[] = [];
  private index = 0;
  private nextPage: Promise<IRangeResponse> | null;
  private done = false;

  /** `revision` 0 reads the current state. */
  constructor(
    private readonly client: Etcd3,
    private readonly side: Side,
    private range: KeyRange,
    private readonly revision: number,
    private readonly pageSize: number,
    private readonly keysOnly = false,
  ) {
    this.nextPage = this.fetch();
  }

  private fetch(): Promise<IRangeResponse> {
    const p = this.client.kv.range({ ...rangeRequest(this.range), limit: this.pageSize, revision: this.revision, keys_only: this.keysOnly });
    // Failures surface through peek(); an unhandled rejection here would crash the process first.
    p.catch(() => undefined);
    return p;
  }

  /** The current key, or null at the end of the range. */
  async peek(): Promise<IKeyValue | null> {
    while (this.index >= this.page.length) {
      if (this.done || this.nextPage === null) return null;
      let res: IRangeResponse;
      try {
        res = await this.nextPage;
      } catch (err) {
        throw classifyEtcdError(this.side, err, this.revision);
      }
      this.page = res.kvs;
      this.index = 0;
      const last = res.kvs[res.kvs.length - 1];
      if (!res.more || last === undefined) {
        this.done = true;
        this.nextPage = null;
      } else {
        this.range = { start: Buffer.concat([last.key, Buffer.from([0])]), end: this.range.end };
        this.nextPage = this.fetch();
      }
    }
    return this.page[this.index]!;
  }

  advance(): void {
    this.index++;
  }
}
