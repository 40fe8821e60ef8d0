/**
 * The worker's per-record cost of the routing rules and of a transform module, on one core: each
 * task turns a batch of BATCH records into destination writes as the Aerospike sink does (scan,
 * route lookup, size, byte-patched write), with no rules, with several matching declarative rules,
 * and through an identity transform module. End-to-end CPU per record, the same three side by
 * side, comes from bench/steady.ts (bench/RESULTS.md, "Transforms").
 *
 *   node --import tsx bench/transforms.ts
 */

import { Bench } from 'tinybench';
import { WritePolicy } from '../src/destination/write-policy.js';
import { newScan, scanRecordMessage } from '../src/protocol/index.js';
import { IDENTITY_RULE, type PolicySettings, type RouteRule } from '../src/threads/index.js';
import { TransformStage } from '../src/transform/index.js';
import { xdrMessage } from '../test/support/xdr-ship.js';
import { runMain } from './lib/processes.js';

const BATCH = 512;

/**
 * XDR writes of one 256-byte bin in namespace test, set testset, as the steady bench's load ships,
 * back to back in one buffer as in a worker's ring: [start, end) of each, proto header skipped.
 */
const messages = Array.from({ length: BATCH }, (_, k) => xdrMessage({ namespace: 'test', set: 'testset', key: k, bins: { bin0: 'x'.repeat(256) } }));
const ring = Buffer.concat(messages);
const spans: Array<readonly [number, number]> = [];
for (let at = 0, i = 0; i < BATCH; at += messages[i]!.length, i++) spans.push([at + 8, at + messages[i]!.length]);

const NONE: PolicySettings = { stripLut: false, stripDurableDelete: false, routing: { fallback: IDENTITY_RULE, namespaces: [], skipSets: [] }, transform: null, lastWriteWins: null };

/** The steady bench's declarative variant: every record matches a set rule that moves it to namespace bar and renames its bin. */
const rule = (r: Partial<RouteRule>): RouteRule => ({ ...IDENTITY_RULE, ...r });
const RULES: PolicySettings = {
  ...NONE,
  routing: {
    fallback: rule({ exclude: ['tmp'] }),
    namespaces: [
      {
        name: 'test',
        rule: rule({ namespace: 'bar', exclude: ['tmp'] }),
        sets: [
          { name: 'testset', rule: rule({ namespace: 'bar', exclude: ['tmp', 'scratch'], rename: [['bin0', 'payload']] }) },
          { name: 'other', rule: rule({ skip: true }) },
        ],
      },
    ],
    skipSets: ['cache', 'scratch'],
  },
};

runMain(async () => {
  const identity = new TransformStage();
  identity.configure({ url: new URL('./fixtures/identity-transform.mjs', import.meta.url).href, version: 0 });
  await identity.loading;
  const bench = new Bench({ name: 'transforms', time: 1000, warmupTime: 200 });
  const scan = newScan();
  const out = Buffer.allocUnsafe(BATCH * 1024);
  let sink = 0;
  const task = (name: string, policy: WritePolicy, stage: TransformStage | null): void => {
    bench.add(name, () => {
      let o = 0;
      for (const [start, end] of spans) {
        scanRecordMessage(ring, start, end, scan);
        if (stage !== null && stage.run(ring, start, end, scan).kind !== 'pass') throw new Error('the identity module did not pass');
        const r = policy.routeOf(ring, scan);
        if (r >= 0 && policy.skipOf(r) >= 0) continue;
        const digest = r >= 0 ? policy.rekey(ring, scan, r) : null;
        const len = policy.outputLength(ring, start, end, scan, r);
        policy.write(ring, start, end, scan, r, out, o, len, digest);
        o += len;
      }
      sink += o;
    });
  };
  task('no rules', new WritePolicy(NONE), null);
  task('declarative rules (skip-sets, namespace, set: exclude + map)', new WritePolicy(RULES), null);
  task('identity transform module', new WritePolicy(NONE), identity);
  await bench.run();
  const rows = bench.tasks.map((t) => {
    const r = t.result;
    const mean = r.state === 'completed' ? r.latency.mean : Number.NaN;
    return { task: t.name, 'ns/record': Math.round((mean * 1e6) / BATCH) };
  });
  console.table(rows);
  process.stdout.write(`${JSON.stringify({ rows, bytes: sink > 0 })}\n`);
});
