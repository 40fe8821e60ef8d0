/**
 * Route one set to another namespace (and set), deletes included: records of set `audit` go to
 * namespace `archive`, set `audit-<source namespace>`; everything else passes unchanged. (The
 * declarative `aerospike.namespaces.<ns>.sets.<set>.routing` does the same without code; a module
 * is for routes a table cannot express, like this name built from the source namespace.)
 *
 *   aerospike:
 *     transform: /etc/ferry/transforms/route-set.js
 */

const SET = 'audit';
const TO_NAMESPACE = 'archive';

/** @type {import('ferry/dist/transform/api.js').Transform} */
export default function routeSet(record) {
  if (record.set !== SET) return record;
  return { namespace: TO_NAMESPACE, set: `${SET}-${record.namespace}`, delete: record.isDelete };
}
