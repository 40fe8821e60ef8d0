/**
 * Mask personal data before it leaves: the bins named in PII keep only their last four characters
 * (the rest becomes '*'); every other bin, and every delete, passes unchanged.
 *
 *   aerospike:
 *     transform: /etc/ferry/transforms/mask-pii.js
 */

/** Bins whose values are masked. */
const PII = ['ssn', 'email', 'phone'];
const KEEP = 4;

function mask(value) {
  if (typeof value !== 'string') return value;
  return value.length <= KEEP ? '*'.repeat(value.length) : '*'.repeat(value.length - KEEP) + value.slice(-KEEP);
}

/** @type {import('ferry/dist/transform/api.js').Transform} */
export default function maskPii(record) {
  if (record.isDelete) return record;
  const bins = record.bins;
  if (!PII.some((name) => name in bins)) return record;
  const masked = { ...bins };
  for (const name of PII) if (name in masked) masked[name] = mask(masked[name]);
  return { bins: masked };
}
