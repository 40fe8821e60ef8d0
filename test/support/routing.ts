/** Routing settings for tests and benchmarks, built the way `aerospike.namespace-mapping` resolves. */

import { IDENTITY_RULE, type RoutingSettings } from '../../src/threads/index.js';

/** `namespace-mapping` alone: each listed namespace written to its target, nothing else changed. */
export function namespaceMapped(map: ReadonlyArray<readonly [string, string]>): RoutingSettings {
  return { fallback: IDENTITY_RULE, namespaces: map.map(([name, to]) => ({ name, rule: { ...IDENTITY_RULE, namespace: to }, sets: [] })), skipSets: [] };
}
