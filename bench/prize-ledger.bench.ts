/**
 * The plugin's prize ledger alone (#5: window close -> granted, p99 <= 100 ms): the prizes of
 * one window on 23 servers (100 each, as in bench/window-close), recorded durably (real
 * files, write + fdatasync), all 23 ledgers at once as 23 plugins would on one machine.
 *
 *   oneAtATimeMs  baseline: each prize its own group (handlePrize), one after another: two
 *                 appends and fsyncs each (the intent, then the outcome)
 *   groupMs       group commit: the 100 prizes of a server as one PrizeGroup, two appends and
 *                 fsyncs in all (the intents, then the outcomes)
 *
 * Wall time until every prize of every server is durable; median of ROUNDS rounds, each on
 * fresh ledgers. The fsync cost depends on the disk and the file system of the temporary
 * folder, so read the ratio, not the absolute figures.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Op, type Prize } from '../protocol/index.js';
import type { Host } from '../plugin/host.js';
import { PrizeLedger, type LedgerIo, nodeLedgerIo } from '../plugin/prize-ledger.js';
import { fmt } from './run.js';

const SERVERS = 23;
const PRIZES = 100;
const ROUNDS = 5;

const host: Host = { serverId: 'bench', now: () => Date.now(), isOnline: () => true, hasPermission: () => false, giveItem: () => true, tell: () => {} };

const prizeOf = (s: number, i: number): Prize => ({ op: Op.Prize, id: `${1_800_000_000_000 + i}-${s}`, hunt: 'bench-hunt', reason: `treasure:t${s}:${i + 1}`, player: `p${s}-${i}`, item: 'bread', count: 1 });

interface Round {
  ms: number;
  syncs: number;
}

async function round(grouped: boolean): Promise<Round> {
  const dirs: string[] = [];
  let syncs = 0;
  const io: LedgerIo = { write: nodeLedgerIo.write, sync: (fh) => (syncs++, nodeLedgerIo.sync(fh)) };
  const ledgers: PrizeLedger[] = [];
  try {
    for (let s = 0; s < SERVERS; s++) {
      const dir = mkdtempSync(join(tmpdir(), 'cairn-bench-ledger-'));
      dirs.push(dir);
      ledgers.push(await PrizeLedger.open({ dataDir: dir, host, io }));
    }
    const t0 = performance.now();
    await Promise.all(
      ledgers.map(async (l, s) => {
        if (grouped) {
          const g = l.group();
          for (let i = 0; i < PRIZES; i++) g.prize(prizeOf(s, i), `srv-${s}`);
          await g.commit();
        } else {
          for (let i = 0; i < PRIZES; i++) await l.handlePrize(prizeOf(s, i), `srv-${s}`);
        }
      }),
    );
    return { ms: performance.now() - t0, syncs };
  } finally {
    for (const l of ledgers) await l.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function run(): Promise<Record<string, number>> {
  const one: Round[] = [];
  const group: Round[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    one.push(await round(false));
    group.push(await round(true));
  }
  const oneAtATimeMs = median(one.map((x) => x.ms));
  const groupMs = median(group.map((x) => x.ms));
  console.log(`${SERVERS} ledgers x ${PRIZES} prizes, durable (median of ${ROUNDS}, range in brackets):`);
  console.log(`  intent + outcome fsyncs per prize (baseline): ${fmt(oneAtATimeMs, 1)} ms [${fmt(Math.min(...one.map((x) => x.ms)), 1)}-${fmt(Math.max(...one.map((x) => x.ms)), 1)}], ${one[0]!.syncs} fsyncs`);
  console.log(`  group commit, one per server:              ${fmt(groupMs, 1)} ms [${fmt(Math.min(...group.map((x) => x.ms)), 1)}-${fmt(Math.max(...group.map((x) => x.ms)), 1)}], ${group[0]!.syncs} fsyncs (${fmt(oneAtATimeMs / groupMs, 1)}x faster)`);
  return { oneAtATimeMs: Math.round(oneAtATimeMs * 10) / 10, groupMs: Math.round(groupMs * 10) / 10, ratio: Math.round((oneAtATimeMs / groupMs) * 10) / 10 };
}
