/**
 * A metric whose values are computed when it is scraped, from counters the data path keeps in plain
 * numbers and typed arrays. It plugs into a prom-client Registry (which asks each metric for
 * `get()`), so nothing on the hot path ever calls prom-client.
 */

import type { BucketHistogram } from '../source/bucket-histogram.js';

export type Labels = Record<string, string | number>;

export interface Sample {
  value: number;
  labels: Labels;
  metricName?: string;
}

interface MetricSnapshot {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  values: Sample[];
  aggregator: 'sum';
}

export class ScrapeMetric {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge' | 'histogram',
    private readonly read: () => Sample[],
  ) {}

  get(): MetricSnapshot {
    return { name: this.name, help: this.help, type: this.type, values: this.read(), aggregator: 'sum' };
  }

  // The registry may call these; a scrape-time metric has nothing to reset.
  reset(): void {}
}

/** Samples of a BucketHistogram in Prometheus form: cumulative `le` buckets, sum and count. */
export function histogramSamples(name: string, h: BucketHistogram, labels: Labels = {}): Sample[] {
  const out: Sample[] = [];
  let cumulative = 0;
  for (let i = 0; i < h.counts.length; i++) {
    cumulative += h.counts[i]!;
    const le = i < h.bounds.length ? String(h.bounds[i]) : '+Inf';
    out.push({ metricName: `${name}_bucket`, labels: { ...labels, le }, value: cumulative });
  }
  out.push({ metricName: `${name}_sum`, labels, value: h.sum });
  out.push({ metricName: `${name}_count`, labels, value: cumulative });
  return out;
}
