/**
 * Drop changes to records last updated more than MAX_AGE_DAYS ago (by the LUT the source ships):
 * they are answered done and not written. A record shipped without a LUT is written.
 *
 *   aerospike:
 *     transform: /etc/ferry/transforms/drop-old.js
 */

const MAX_AGE_DAYS = 30;
const MAX_AGE_MS = MAX_AGE_DAYS * 24 * 3600 * 1000;

/** @type {import('ferry/dist/transform/api.js').Transform} */
export default function dropOld(record) {
  const lut = record.lut;
  if (lut !== undefined && Date.now() - lut > MAX_AGE_MS) return 'skip';
  return record;
}
