/**
 * Small traces, one per hunt-semantics rule, with the prizes the contract says they
 * give ("reason player@server"), written out by hand.
 */
import type { HuntRules } from '../../protocol/index.js';
import { T0, TraceBuilder, tinyHunt } from '../support/trace-builder.js';

export interface RuleCase {
  name: string;
  hunts: HuntRules[];
  trace: TraceBuilder;
  expected: string[];
}

const admin = (b: TraceBuilder, server = 's1') => b.join(0, server, 'admin', ['cairn.admin']);
const started = (server = 's1', t = 100) => admin(new TraceBuilder(), server).command(t, server, 'admin', 'hunt start tiny');
const twoTreasures = (over: Partial<HuntRules> = {}): HuntRules =>
  tinyHunt({
    treasures: [
      { id: 'a', region: 'r1', at: [0, 64, 0], radius: 2, prizes: [{ ranks: '1-10', item: 'gem', count: 1 }] },
      { id: 'b', region: 'r1', at: [20, 64, 0], radius: 2, prizes: [{ ranks: '1-10', item: 'gem', count: 1 }] },
    ],
    completion: { prizes: [{ ranks: '1', item: 'crown', count: 1 }, { ranks: '2', item: 'medal', count: 1 }] },
    ...over,
  });

/**
 * An honest walker at 5 blocks/s toward the oak along x, sending a move every 50 ms, as a
 * busy server reads them: in bursts of 4 every 200 ms, each burst stamped alike. The
 * entry (x = 3) is the second move of a burst, 0 ms after the one before.
 */
function burstWalker(b: TraceBuilder, server: string, player: string, from: number): TraceBuilder {
  for (let n = 0; 20.25 - 0.25 * n >= 0; n++) b.move(from + 200 * Math.floor(n / 4), server, player, 'r1', [20.25 - 0.25 * n, 64, 0]);
  return b;
}

export const ruleCases: RuleCase[] = [
  {
    name: 'an entry is a find; staying inside, leaving and re-entering find nothing more',
    hunts: [tinyHunt()],
    trace: started()
      .join(0, 's1', 'p1')
      .move(1000, 's1', 'p1', 'r1', [10, 64, 0])
      .move(1100, 's1', 'p1', 'r1', [2, 64, 0])
      .move(1200, 's1', 'p1', 'r1', [1, 64, 0])
      .move(1300, 's1', 'p1', 'r1', [10, 64, 0])
      .move(1400, 's1', 'p1', 'r1', [0, 64, 0]),
    expected: ['treasure:oak:1 p1@s1'],
  },
  {
    name: 'a sample exactly on the radius is inside; just beyond it is not',
    hunts: [tinyHunt()],
    trace: started()
      .join(0, 's1', 'on')
      .join(0, 's1', 'off')
      .move(1000, 's1', 'off', 'r1', [3.0000001, 64, 0])
      .move(1000, 's1', 'on', 'r1', [1, 66, 2]),
    expected: ['treasure:oak:1 on@s1'],
  },
  {
    name: 'a runner crossing the treasure between two samples finds nothing',
    hunts: [tinyHunt()],
    trace: started().join(0, 's1', 'runner').move(1000, 's1', 'runner', 'r1', [-5, 64, 0]).move(1100, 's1', 'runner', 'r1', [5, 64, 0]),
    expected: [],
  },
  {
    name: 'the same coordinates in another region are not inside',
    hunts: [tinyHunt()],
    trace: started().join(0, 's1', 'p1').move(1000, 's1', 'p1', 'r2', [0, 64, 0]).move(2000, 's1', 'p1', 'r1', [0, 64, 0]),
    expected: ['treasure:oak:1 p1@s1'],
  },
  {
    name: 'ties at the same millisecond go by server id, then player id',
    hunts: [tinyHunt()],
    trace: started()
      .join(0, 'srv-b', 'aaa')
      .join(0, 'srv-a', 'zzz')
      .join(0, 'srv-a', 'mmm')
      .move(1000, 'srv-b', 'aaa', 'r1', [0, 64, 0])
      .move(1000, 'srv-a', 'zzz', 'r1', [0, 64, 0])
      .move(1000, 'srv-a', 'mmm', 'r1', [1, 64, 0]),
    expected: ['treasure:oak:1 mmm@srv-a', 'treasure:oak:2 zzz@srv-a', 'treasure:oak:3 aaa@srv-b'],
  },
  {
    name: 'start is inclusive, stop exclusive, by event time, from any server',
    hunts: [tinyHunt()],
    trace: admin(new TraceBuilder(), 's2')
      .join(0, 's1', 'early')
      .join(0, 's1', 'atstart')
      .join(0, 's1', 'atstop')
      .join(0, 's1', 'before')
      .move(999, 's1', 'early', 'r1', [0, 64, 0])
      .command(1000, 's2', 'admin', 'hunt start tiny')
      .move(1000, 's1', 'atstart', 'r1', [0, 64, 0])
      .move(4999, 's1', 'before', 'r1', [0, 64, 0])
      .command(5000, 's2', 'admin', 'hunt stop tiny')
      .move(5000, 's1', 'atstop', 'r1', [0, 64, 0]),
    expected: ['treasure:oak:1 atstart@s1', 'treasure:oak:2 before@s1'],
  },
  {
    name: 'a player already inside when the hunt starts must leave and re-enter',
    hunts: [tinyHunt()],
    trace: admin(new TraceBuilder())
      .join(0, 's1', 'camper')
      .move(50, 's1', 'camper', 'r1', [0, 64, 1])
      .command(1000, 's1', 'admin', 'hunt start tiny')
      .move(1500, 's1', 'camper', 'r1', [0, 64, 2])
      .move(2000, 's1', 'camper', 'r1', [0, 64, 9])
      .move(2500, 's1', 'camper', 'r1', [0, 64, 3]),
    expected: ['treasure:oak:1 camper@s1'],
  },
  {
    name: 'a command from a player without cairn.admin changes nothing',
    hunts: [tinyHunt()],
    trace: new TraceBuilder()
      .join(0, 's1', 'mallory')
      .join(0, 's1', 'p1')
      .command(100, 's1', 'mallory', 'hunt start tiny')
      .move(1000, 's1', 'p1', 'r1', [0, 64, 0]),
    expected: [],
  },
  {
    name: 'a rejoin starts a new session: the first sample inside is an entry',
    hunts: [tinyHunt()],
    trace: admin(new TraceBuilder())
      .join(0, 's1', 'p1')
      .move(50, 's1', 'p1', 'r1', [0, 64, 0])
      .leave(60, 's1', 'p1')
      .command(100, 's1', 'admin', 'hunt start tiny')
      .join(2000, 's1', 'p1')
      .move(2100, 's1', 'p1', 'r1', [0, 64, 0]),
    expected: ['treasure:oak:1 p1@s1'],
  },
  {
    name: 'each player finds a treasure once, across servers: the earliest entry counts',
    hunts: [tinyHunt()],
    trace: started()
      .join(0, 's1', 'p1')
      .join(0, 's2', 'p2')
      .move(1000, 's1', 'p1', 'r1', [0, 64, 0])
      .leave(1500, 's1', 'p1')
      .join(1600, 's2', 'p1')
      .move(2000, 's2', 'p1', 'r1', [0, 64, 0])
      .move(3000, 's2', 'p2', 'r1', [0, 64, 0]),
    expected: ['treasure:oak:1 p1@s1', 'treasure:oak:2 p2@s2'],
  },
  {
    name: 'completion ranks players by their last find, granted on its server',
    hunts: [twoTreasures()],
    trace: started()
      .join(0, 's1', 'p1')
      .join(0, 's2', 'p2')
      .move(1000, 's1', 'p1', 'r1', [0, 64, 0])
      .move(1500, 's2', 'p2', 'r1', [20, 64, 0])
      .move(2000, 's2', 'p2', 'r1', [0, 64, 0])
      .leave(2500, 's1', 'p1')
      .join(2600, 's2', 'p1')
      .move(3000, 's2', 'p1', 'r1', [20, 64, 0]),
    expected: ['completion:1 p2@s2', 'completion:2 p1@s2', 'treasure:a:1 p1@s1', 'treasure:a:2 p2@s2', 'treasure:b:1 p2@s2', 'treasure:b:2 p1@s2'],
  },
  {
    name: 'ordered: an entry counts only after a strictly earlier find of the previous treasure',
    hunts: [twoTreasures({ ordered: true })],
    trace: started()
      .join(0, 's1', 'p1')
      .move(1000, 's1', 'p1', 'r1', [20, 64, 0])
      .move(1100, 's1', 'p1', 'r1', [0, 64, 0])
      .move(1200, 's1', 'p1', 'r1', [20, 64, 1])
      .move(1300, 's1', 'p1', 'r1', [10, 64, 0])
      .move(1400, 's1', 'p1', 'r1', [20, 64, 0]),
    expected: ['completion:1 p1@s1', 'treasure:a:1 p1@s1', 'treasure:b:1 p1@s1'],
  },
  {
    name: 'maxSpeed: a too-fast sample finds nothing but still becomes the previous sample and a later reference',
    hunts: [tinyHunt({ maxSpeed: 20 })],
    trace: started()
      .join(0, 's1', 'cheat')
      .join(0, 's1', 'walker')
      .move(1000, 's1', 'cheat', 'r1', [100, 64, 0])
      .move(1100, 's1', 'cheat', 'r1', [0, 64, 0])
      .move(1200, 's1', 'cheat', 'r1', [0, 64, 1])
      .move(1300, 's1', 'walker', 'r1', [5, 64, 0])
      .move(1400, 's1', 'walker', 'r1', [3, 64, 0])
      .move(2000, 's1', 'cheat', 'r1', [0, 64, 5])
      .move(2200, 's1', 'cheat', 'r1', [0, 64, 2]),
    expected: ['treasure:oak:1 walker@s1', 'treasure:oak:2 cheat@s1'],
  },
  {
    name: 'maxSpeed: moves of an honest walker stamped alike in bursts are not suspect',
    hunts: [tinyHunt({ maxSpeed: 6 })],
    trace: burstWalker(started().join(0, 's1', 'walker'), 's1', 'walker', 1000),
    expected: ['treasure:oak:1 walker@s1'],
  },
  {
    name: 'maxSpeed: a teleport inside the first window of a run is suspect',
    hunts: [tinyHunt({ maxSpeed: 20 })],
    trace: started()
      .join(0, 's1', 'cheat')
      .join(0, 's1', 'walker')
      .move(1000, 's1', 'cheat', 'r1', [40, 64, 0])
      .move(1200, 's1', 'cheat', 'r1', [39, 64, 0])
      .move(1900, 's1', 'cheat', 'r1', [1, 64, 0])
      .move(1000, 's1', 'walker', 'r1', [5, 64, 0])
      .move(1400, 's1', 'walker', 'r1', [2, 64, 0]),
    expected: ['treasure:oak:1 walker@s1'],
  },
  {
    name: 'maxSpeed: after a long pause a player may cover what the pause allows, and no more',
    hunts: [tinyHunt({ maxSpeed: 20 })],
    trace: started()
      .join(0, 's1', 'p1')
      .join(0, 's1', 'p2')
      .move(1000, 's1', 'p1', 'r1', [150, 64, 0])
      .move(1000, 's1', 'p2', 'r1', [170, 64, 0])
      .move(9000, 's1', 'p1', 'r1', [1, 64, 0])
      .move(9000, 's1', 'p2', 'r1', [1, 64, 0]),
    expected: ['treasure:oak:1 p1@s1'],
  },
  {
    name: 'maxSpeed: a region change or a rejoin starts a new run, whose first sample is never suspect',
    hunts: [tinyHunt({ maxSpeed: 20 })],
    trace: started()
      .join(0, 's1', 'p1')
      .join(0, 's1', 'p2')
      .join(0, 's1', 'p3')
      .join(0, 's1', 'p4')
      // p1 changes region: a new run; p2 makes the same jump within r1
      .move(1000, 's1', 'p1', 'r2', [500, 64, 500])
      .move(1010, 's1', 'p1', 'r1', [0, 64, 0])
      .move(1000, 's1', 'p2', 'r1', [500, 64, 500])
      .move(1010, 's1', 'p2', 'r1', [0, 64, 0])
      // p3's run in r1 starts 40 blocks out: r2's sample next to the oak is no reference
      .move(1000, 's1', 'p3', 'r2', [0, 64, 0])
      .move(1100, 's1', 'p3', 'r1', [40, 64, 0])
      .move(1600, 's1', 'p3', 'r1', [2, 64, 0])
      .move(1000, 's1', 'p4', 'r1', [300, 64, 0])
      .leave(1100, 's1', 'p4')
      .join(1200, 's1', 'p4')
      .move(1300, 's1', 'p4', 'r1', [0, 64, 0]),
    expected: ['treasure:oak:1 p1@s1', 'treasure:oak:2 p4@s1'],
  },
  {
    name: 'maxSpeed: the reference is the first sample of the run until a sample is a window old, then the latest such',
    hunts: [tinyHunt({ maxSpeed: 20 })],
    trace: started()
      .join(0, 's1', 'p1')
      .join(0, 's1', 'p2')
      .join(0, 's1', 'p3')
      // p1: the previous sample is far, the first near (16 blocks): a find
      .move(1000, 's1', 'p1', 'r1', [18, 64, 0])
      .move(1300, 's1', 'p1', 'r1', [60, 64, 0])
      .move(1600, 's1', 'p1', 'r1', [2, 64, 0])
      // p2: the previous sample is near, the first far (37.5 blocks): suspect
      .move(1000, 's1', 'p2', 'r1', [40, 64, 0])
      .move(1900, 's1', 'p2', 'r1', [5, 64, 0])
      .move(1950, 's1', 'p2', 'r1', [2.5, 64, 0])
      // p3: the reference of the entry at 3500 is the sample at 2000 (23 blocks in 1.5 s), not the first (98)
      .move(1000, 's1', 'p3', 'r1', [100, 64, 0])
      .move(2000, 's1', 'p3', 'r1', [25, 64, 0])
      .move(3000, 's1', 'p3', 'r1', [5, 64, 0])
      .move(3500, 's1', 'p3', 'r1', [2, 64, 0]),
    expected: ['treasure:oak:1 p1@s1', 'treasure:oak:2 p3@s1'],
  },
  {
    name: 'maxSpeed: a suspect entry is the last position (staying inside finds nothing) and a reference for the next entry',
    hunts: [tinyHunt({ maxSpeed: 20 })],
    trace: started()
      .join(0, 's1', 'cheat')
      .join(0, 's1', 'walker')
      .move(1000, 's1', 'cheat', 'r1', [100, 64, 0])
      .move(1100, 's1', 'cheat', 'r1', [0, 64, 2])
      .move(3000, 's1', 'cheat', 'r1', [0, 64, 1])
      .move(3000, 's1', 'walker', 'r1', [6, 64, 0])
      .move(3100, 's1', 'walker', 'r1', [2, 64, 0])
      .move(3100, 's1', 'cheat', 'r1', [0, 64, 9])
      .move(3200, 's1', 'cheat', 'r1', [0, 64, 2]),
    expected: ['treasure:oak:1 walker@s1', 'treasure:oak:2 cheat@s1'],
  },
  {
    name: 'maxSpeed: speedWindowMs sets the shortest time speed is measured over',
    hunts: [
      tinyHunt({ maxSpeed: 10, speedWindowMs: 3000 }),
      tinyHunt({ id: 'tiny2', maxSpeed: 10, treasures: [{ id: 'elm', region: 'r1', at: [0, 64, 0], radius: 3, prizes: [{ ranks: '1', item: 'gold', count: 1 }] }] }),
    ],
    trace: started()
      .command(100, 's1', 'admin', 'hunt start tiny2')
      .join(0, 's1', 'p1')
      .move(1000, 's1', 'p1', 'r1', [25, 64, 0])
      .move(3000, 's1', 'p1', 'r1', [2, 64, 0]),
    expected: ['treasure:oak:1 p1@s1'],
  },
  {
    name: 'schedule: the hunt runs from its start (inclusive) to its end (exclusive) without any command',
    hunts: [tinyHunt({ schedule: { start: new Date(T0 + 1000).toISOString(), end: new Date(T0 + 5000).toISOString() } })],
    trace: new TraceBuilder()
      .join(0, 's1', 'early')
      .join(0, 's1', 'atstart')
      .join(0, 's1', 'inside')
      .join(0, 's1', 'atend')
      .move(999, 's1', 'early', 'r1', [0, 64, 0])
      .move(1000, 's1', 'atstart', 'r1', [0, 64, 0])
      .move(3000, 's1', 'inside', 'r1', [0, 64, 0])
      .move(5000, 's1', 'atend', 'r1', [0, 64, 0]),
    expected: ['treasure:oak:1 atstart@s1', 'treasure:oak:2 inside@s1'],
  },
  {
    name: 'schedule: a hunt stop command ends a scheduled hunt early',
    hunts: [tinyHunt({ schedule: { start: new Date(T0 + 1000).toISOString() } })],
    trace: admin(new TraceBuilder())
      .join(0, 's1', 'a')
      .join(0, 's1', 'b')
      .move(2000, 's1', 'a', 'r1', [0, 64, 0])
      .command(2500, 's1', 'admin', 'hunt stop tiny')
      .move(3000, 's1', 'b', 'r1', [0, 64, 0]),
    expected: ['treasure:oak:1 a@s1'],
  },
  {
    name: 'ranks beyond every prize range win nothing but still count',
    hunts: [tinyHunt({ treasures: [{ id: 'oak', region: 'r1', at: [0, 64, 0], radius: 3, prizes: [{ ranks: '2', item: 'gem', count: 1 }] }] })],
    trace: started().join(0, 's1', 'a').join(0, 's1', 'b').join(0, 's1', 'c').move(1000, 's1', 'a', 'r1', [0, 64, 0]).move(1001, 's1', 'b', 'r1', [0, 64, 0]).move(1002, 's1', 'c', 'r1', [0, 64, 0]),
    expected: ['treasure:oak:2 b@s1'],
  },
];
