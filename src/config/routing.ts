/**
 * Resolves `aerospike.routing`, `bin-transforms`, `namespaces`, `skip-sets` and `namespace-mapping`
 * into one rule per (namespace, set) listed, plus a fallback, so the workers never walk the
 * inheritance: for each record, a set's own `routing` (and, separately, `bin-transforms`) wins over
 * its namespace's, which wins over the top level's.
 *
 * `namespace-mapping` is the destination namespace of a rule whose routing names none.
 */

import type { BinTransformsRaw, RawConfig, RoutingRaw } from './schema.js';

export interface ResolvedRule {
  readonly skip: boolean;
  readonly namespace: string | null;
  readonly set: string | null;
  readonly include: readonly string[] | null;
  readonly exclude: readonly string[];
  readonly rename: ReadonlyArray<readonly [string, string]>;
}

export interface ResolvedRouting {
  readonly fallback: ResolvedRule;
  readonly namespaces: ReadonlyArray<{ readonly name: string; readonly rule: ResolvedRule; readonly sets: ReadonlyArray<{ readonly name: string; readonly rule: ResolvedRule }> }>;
  readonly skipSets: readonly string[];
}

type Aerospike = NonNullable<RawConfig['aerospike']>;

function ruleOf(routing: RoutingRaw | undefined, bins: BinTransformsRaw | undefined, mappedTo: string | null): ResolvedRule {
  return {
    skip: routing?.mode === 'skip',
    namespace: routing?.namespace ?? mappedTo,
    set: routing?.set ?? null,
    include: bins?.include ?? null,
    exclude: bins?.exclude ?? [],
    rename: Object.entries(bins?.map ?? {}),
  };
}

export function resolveRouting(a: Aerospike): ResolvedRouting {
  const mapping = a['namespace-mapping'];
  const names = [...new Set([...Object.keys(a.namespaces), ...Object.keys(mapping)])];
  return {
    fallback: ruleOf(a.routing, a['bin-transforms'], null),
    namespaces: names.map((name) => {
      const ns = a.namespaces[name];
      const routing = ns?.routing ?? a.routing;
      const bins = ns?.['bin-transforms'] ?? a['bin-transforms'];
      const mappedTo = mapping[name] ?? null;
      return {
        name,
        rule: ruleOf(routing, bins, mappedTo),
        sets: Object.entries(ns?.sets ?? {}).map(([set, level]) => ({ name: set, rule: ruleOf(level.routing ?? routing, level['bin-transforms'] ?? bins, mappedTo) })),
      };
    }),
    skipSets: a['skip-sets'],
  };
}
