/**
 * The routing rules compiled into byte tables, once per policy: names are Buffers matched in place,
 * so looking up a record's route allocates nothing, and a record no rule changes costs one lookup.
 *
 *   skip-sets ──▶ namespace (names) ──▶ its sets (names) ──▶ route index
 *                    └─ not listed ──▶ the fallback route
 *
 * A route that changes nothing compiles to NO_ROUTE: such records take the write policy's plain path.
 */

import { Scan, indexOfName } from '../protocol/index.js';
import { type RouteRule, type RoutingSettings, SkipReason } from '../threads/index.js';

export const NO_ROUTE = -1;

const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');

/** One compiled rule. */
export class Route {
  /** a SkipReason, or -1 to write */
  readonly skip: number;
  readonly namespace: Buffer | null;
  readonly set: Buffer | null;
  readonly include: Buffer[] | null;
  readonly exclude: Buffer[];
  readonly renameFrom: Buffer[];
  readonly renameTo: Buffer[];
  /** whether any bin rule applies (ops are walked) */
  readonly bins: boolean;
  /**
   * Bit `len & 31` is set for the length of every excluded or renamed name: an op whose name's bit
   * is clear matches none of them, so without an include list it is kept as it is, uncompared.
   */
  readonly binLengths: number;
  /** the source namespace of a rule listed under it (null: the fallback, or skip-sets) */
  readonly source: Buffer | null;

  /**
   * `source` and `sourceSet` are the namespace and set the rule is listed under (null: it serves
   * several); a rule naming them again as its target changes nothing there, so it compiles to null.
   */
  constructor(r: RouteRule, skip = r.skip ? SkipReason.Routing : -1, source: string | null = null, sourceSet: string | null = null) {
    this.skip = skip;
    this.source = source === null ? null : utf8(source);
    this.namespace = r.namespace === null || r.namespace === source ? null : utf8(r.namespace);
    this.set = r.set === null || r.set === sourceSet ? null : utf8(r.set);
    this.include = r.include === null ? null : r.include.map(utf8);
    this.exclude = r.exclude.map(utf8);
    this.renameFrom = r.rename.map(([f]) => utf8(f));
    this.renameTo = r.rename.map(([, t]) => utf8(t));
    this.bins = this.include !== null || this.exclude.length > 0 || this.renameFrom.length > 0;
    this.binLengths = [...this.exclude, ...this.renameFrom].reduce((bits, name) => bits | (1 << (name.length & 31)), 0);
  }

  get identity(): boolean {
    return this.skip < 0 && this.namespace === null && this.set === null && !this.bins;
  }
}

export class RouteTable {
  readonly routes: Route[] = [];
  private readonly skipSets: Buffer[];
  private readonly skipRoute: number;
  private readonly fallback: number;
  private readonly namespaces: Buffer[];
  private readonly nsRoute: number[];
  private readonly setNames: Buffer[][];
  private readonly setRoute: number[][];
  /** false when no rule changes anything: lookups are skipped altogether */
  readonly active: boolean;

  constructor(s: RoutingSettings) {
    this.skipSets = s.skipSets.map(utf8);
    this.skipRoute = this.skipSets.length === 0 ? NO_ROUTE : this.add(new Route({ skip: true, namespace: null, set: null, include: null, exclude: [], rename: [] }, SkipReason.SkipSet));
    this.fallback = this.add(new Route(s.fallback));
    this.namespaces = s.namespaces.map((n) => utf8(n.name));
    this.nsRoute = s.namespaces.map((n) => this.add(new Route(n.rule, undefined, n.name)));
    this.setNames = s.namespaces.map((n) => n.sets.map((x) => utf8(x.name)));
    this.setRoute = s.namespaces.map((n) => n.sets.map((x) => this.add(new Route(x.rule, undefined, n.name, x.name))));
    this.active = this.routes.length > 0;
  }

  private add(r: Route): number {
    if (r.identity) return NO_ROUTE;
    this.routes.push(r);
    return this.routes.length - 1;
  }

  /** The route of the record `scan` describes, or NO_ROUTE. */
  lookup(buf: Buffer, scan: Int32Array): number {
    const setAt = scan[Scan.SetOffset]!;
    const setLen = scan[Scan.SetLength]!;
    if (this.skipRoute >= 0 && setAt >= 0 && indexOfName(this.skipSets, buf, setAt, setLen) >= 0) return this.skipRoute;
    const ns = indexOfName(this.namespaces, buf, scan[Scan.NamespaceOffset]!, scan[Scan.NamespaceLength]!);
    if (ns < 0) return this.fallback;
    if (setAt >= 0) {
      const set = indexOfName(this.setNames[ns]!, buf, setAt, setLen);
      if (set >= 0) return this.setRoute[ns]![set]!;
    }
    return this.nsRoute[ns]!;
  }
}
