/**
 * Resharding during a replay: a shard split at an odd key, then one child merged with its
 * neighbour, while the sample fixture replays. The gateway follows the open shards
 * (ListShards) without a restart, every shard that was ever open receives records, the
 * worker reads parents before children, and the prizes are exactly expected.json.
 */
import { readFileSync } from 'node:fs';
import { ListShardsCommand, MergeShardsCommand, SplitShardCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import { afterEach, describe, expect, it } from 'vitest';
import { loadRulesFile } from '../../plugin/rules-file.js';
import { replay } from '../../cli/replay.js';
import { prizeKeys } from '../support/trace-builder.js';
import { testStack } from '../support/stack.js';
import { readAll } from '../gateway/support.js';

const DIR = new URL('../fixtures/sample-hunt/', import.meta.url).pathname;
const RULES = loadRulesFile(`${DIR}rules.json`);
const TRACE = `${DIR}trace.ndjson`;
const EXPECTED = JSON.parse(readFileSync(`${DIR}expected.json`, 'utf8'));

let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});

async function until(what: string, check: () => Promise<boolean> | boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function openShards(k: KinesisClient, stream: string) {
  const all = (await k.send(new ListShardsCommand({ StreamName: stream }))).Shards ?? [];
  return all.filter((s) => s.SequenceNumberRange?.EndingSequenceNumber === undefined);
}

describe('resharding during a replay', () => {
  it('a split and a merge: writes follow the new shards within seconds, every shard receives records, exactly the expected prizes', async () => {
    const stack = await testStack({ shards: 2 });
    cleanup = stack.cleanup;
    const { kinesis: k, stream } = stack;
    const gw = stack.gateway!;
    await until('the gateway lists the two shards', () => gw.stats().openShards === 2);
    const [s0, s1] = (await openShards(k, stream)).map((s) => s.ShardId!).sort();
    const recordsBy = async () => {
      const n = new Map<string, number>();
      for (const r of await readAll(k, stream)) n.set(r.shardId, (n.get(r.shardId) ?? 0) + 1);
      return n;
    };
    let children: string[] = [];
    let merged = '';
    const marks: Map<string, number>[] = [];

    const { prizes } = await replay({
      hunts: [{ ...RULES, window: '10s' }],
      traceFile: TRACE,
      gatewayUrl: gw.url,
      token: 'cairn-dev-token',
      graceMs: 0,
      onProgress: async ({ windows }) => {
        if (windows === 3) {
          // Split the first shard at a quarter of the key space: its children are 1/4 and 1/4 wide.
          const before = new Set((await openShards(k, stream)).map((s) => s.ShardId!));
          await k.send(new SplitShardCommand({ StreamName: stream, ShardToSplit: s0!, NewStartingHashKey: (1n << 126n).toString() }));
          await until('split done', async () => (await openShards(k, stream)).length === 3);
          children = (await openShards(k, stream)).map((s) => s.ShardId!).filter((s) => !before.has(s)).sort();
          await until('the gateway sees three open shards', () => gw.stats().openShards === 3);
          marks.push(await recordsBy());
        }
        if (windows === 7) {
          // Merge the upper child with the second shard: [2^126, 2^128), three quarters of the space.
          const before = new Set((await openShards(k, stream)).map((s) => s.ShardId!));
          await k.send(new MergeShardsCommand({ StreamName: stream, ShardToMerge: children[1]!, AdjacentShardToMerge: s1! }));
          await until('merge done', async () => (await openShards(k, stream)).length === 2);
          merged = (await openShards(k, stream)).map((s) => s.ShardId!).find((s) => !before.has(s))!;
          await until('the gateway sees two open shards', () => gw.stats().openShards === 2);
          marks.push(await recordsBy());
        }
      },
    });

    expect(prizeKeys(prizes)).toEqual(EXPECTED);
    expect(children).toHaveLength(2);
    expect(merged).toBeTruthy();
    expect(gw.stats().reshards).toBe(2);
    const end = await recordsBy();
    // Every shard that was ever open received records, each child after it was made.
    for (const s of [s0!, s1!, ...children, merged]) expect(end.get(s) ?? 0, `records in ${s}`).toBeGreaterThan(0);
    // Both halves of the split kept receiving records until the merge; the merged shard and the untouched lower child after it.
    for (const s of children) expect((marks[1]!.get(s) ?? 0) - (marks[0]!.get(s) ?? 0), `records in ${s} between split and merge`).toBeGreaterThan(0);
    expect((end.get(children[0]!) ?? 0) - (marks[1]!.get(children[0]!) ?? 0), 'lower child after the merge').toBeGreaterThan(0);
    // Nothing reached the parents once they were closed.
    expect(end.get(s0!)).toBe(marks[0]!.get(s0!));
    expect(end.get(children[1]!)).toBe(marks[1]!.get(children[1]!));
  }, 120_000);
});
