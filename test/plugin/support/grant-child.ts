/**
 * A standalone game server for the crash-while-granting test: a sim host (3 bots, all
 * online) whose gives go to the game's own record (argv[4]), a plugin connected to the
 * gateway in argv[2] with data folder argv[3]. argv[5] names the point at which the process
 * stops dead, for the parent to kill it with SIGKILL ('none' runs on); argv[6] is 'idempotent'
 * for a host that gives each prize at most once.
 *
 * It prints "ready", "at <point>" (and then blocks the thread: no more of the plugin runs),
 * every message told to a player ("tell <player> <message>"), and "dump <json>"; it reads
 * lines from stdin: "cmd <line>" (a command of the admin bot), "dump", "exit".
 */
import { writeSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { PrizeKey } from '../../../protocol/index.js';
import { CairnPlugin } from '../../../plugin/cairn-plugin.js';
import { SimHost } from '../../../plugin/hosts/sim-host.js';
import { nodeLedgerIo, type LedgerIo } from '../../../plugin/prize-ledger.js';
import { testHunts } from './hunts.js';

const [url, dataDir, givesFile, crashAt, mode] = process.argv.slice(2) as [string, string, string, string, string];

const say = (line: string) => writeSync(1, `${line}\n`);

/** Stops the process dead at `point`: the thread blocks, and only SIGKILL ends it. */
function reached(point: string): void {
  if (point !== crashAt) return;
  say(`at ${point}`);
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
}

class ChildHost extends SimHost {
  override giveItem(player: string, item: string, count: number, prize?: PrizeKey): boolean {
    const ok = super.giveItem(player, item, count, prize);
    if (prize) reached('given');
    return ok;
  }
  override tell(player: string, message: string): void {
    say(`tell ${player} ${message}`);
  }
}

/** The ledger's real I/O, stopping after the write or the fsync of an intent or an outcome. */
let last = '';
const io: LedgerIo = {
  async write(fh, data) {
    await nodeLedgerIo.write(fh, data);
    last = data.includes('"status":"giving"') ? 'intent' : data.includes('"status":"granted"') ? 'outcome' : 'other';
    reached(`${last}-written`);
  },
  async sync(fh) {
    await nodeLedgerIo.sync(fh);
    reached(`${last}-synced`);
  },
};

const hunts = testHunts();
const host = new ChildHost('srv-g', hunts, { bots: 3, seed: 1, namePrefix: 'g', givesFile, idempotentGive: mode === 'idempotent' });
const plugin = await CairnPlugin.start({ host, hunts, dataDir, gatewayUrl: url, token: 't', autoFlush: false, ledgerIo: io, link: { backoffBaseMs: 10, backoffCapMs: 50 } });
for (const s of host.joinAll()) plugin.accept(s);
say('ready');

for await (const line of createInterface({ input: process.stdin })) {
  if (line.startsWith('cmd ')) plugin.accept(host.command(host.admin, line.slice(4)));
  else if (line === 'dump') say(`dump ${JSON.stringify({ prizes: plugin.prizes(), stats: plugin.stats() })}`);
  else if (line === 'exit') {
    await plugin.stop(1000);
    host.close();
    process.exit(0);
  }
}
