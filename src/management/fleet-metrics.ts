/** Metrics of fleet membership (`fleet:`), read at scrape time from the FleetMember. */

import type { Registry } from 'prom-client';
import type { FleetMember } from '../coordination/fleet.js';
import { ScrapeMetric } from './scrape-metric.js';

export function registerFleetMetrics(registry: Registry, member: FleetMember): void {
  const metrics = [
    new ScrapeMetric('ferry_fleet_registered', '1 while this instance is registered in its fleet (its record is in etcd under a live lease).', 'gauge', () => [{ labels: {}, value: member.registered ? 1 : 0 }]),
    new ScrapeMetric('ferry_fleet_members', 'Members of the fleet at the last refresh, this one included.', 'gauge', () => [{ labels: {}, value: member.members }]),
    new ScrapeMetric('ferry_fleet_failures_total', 'Fleet etcd requests that failed (each is retried with backoff).', 'counter', () => [{ labels: {}, value: member.failures }]),
  ];
  for (const m of metrics) registry.registerMetric(m as unknown as Parameters<Registry['registerMetric']>[0]);
}
