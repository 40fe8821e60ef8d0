/** Metrics of fleet membership (`fleet:`), read at scrape time from the FleetMember. */

import type { Registry } from 'prom-client';
import type { FleetMember } from '../coordination/fleet.js';
import type { SourceDc } from '../coordination/source-dc.js';
import { ScrapeMetric } from './scrape-metric.js';

export function registerFleetMetrics(registry: Registry, member: FleetMember, dc: SourceDc | null): void {
  const metrics = [
    new ScrapeMetric('ferry_fleet_registered', '1 while this instance is registered in its fleet (its record is in etcd under a live lease).', 'gauge', () => [{ labels: {}, value: member.registered ? 1 : 0 }]),
    new ScrapeMetric('ferry_fleet_members', 'Members of the fleet at the last refresh, this one included.', 'gauge', () => [{ labels: {}, value: member.members }]),
    new ScrapeMetric('ferry_fleet_failures_total', 'Fleet etcd requests that failed (each is retried with backoff).', 'counter', () => [{ labels: {}, value: member.failures }]),
    ...(dc === null
      ? []
      : [
          new ScrapeMetric('ferry_fleet_source_nodes', 'Source nodes known to the DC driver (fleet.source), tended through seeds and peers.', 'gauge', () => [{ labels: {}, value: dc.nodes.size }]),
          new ScrapeMetric('ferry_fleet_dc_commands_total', 'set-config commands sent to source nodes, by action (add, remove) and result (ok, failed: retried).', 'counter', () =>
            (['add', 'remove'] as const).flatMap((action) => (['ok', 'failed'] as const).map((result) => ({ labels: { action, result }, value: dc.commands[action][result] }))),
          ),
          new ScrapeMetric('ferry_fleet_dc_removals_total', 'Orphaned addresses (their member gone) this instance claimed and removed from the source DC.', 'counter', () => [{ labels: {}, value: dc.removals }]),
          new ScrapeMetric('ferry_fleet_dc_failures_total', 'DC driver rounds that failed (a seed, etcd or a command); each is retried with backoff.', 'counter', () => [{ labels: {}, value: dc.failures }]),
        ]),
  ];
  for (const m of metrics) registry.registerMetric(m as unknown as Parameters<Registry['registerMetric']>[0]);
}
