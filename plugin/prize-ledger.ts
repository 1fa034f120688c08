/**
 * Exactly-once granting of prizes. The ledger is an append-only NDJSON file in the data
 * folder (`prizes.ndjson`) that records each prize by its identity `${hunt}|${reason}`
 * (DESIGN.md: a prize is decided once per (hunt, reason)).
 *
 *   already in the ledger             -> nothing is granted; the caller acks the delivery again
 *   player online and giveItem works  -> granted, then {status:'granted'} appended
 *   otherwise                         -> {status:'held'} appended; granted when the player joins
 *
 * Group commit: prize work that arrives together (a gateway read delivers up to 100 entries
 * in one burst) is decided in memory, in arrival order, as one `PrizeGroup`, then recorded
 * with one append and one fdatasync for the whole group. One fsync per prize serialised a
 * window's prizes behind the disk: 100 prizes x ~3 ms on each of 23 servers, against a goal
 * of window close -> granted p99 <= 100 ms (bench/prize-ledger: ~230-360 ms for 23 x 100 prizes one at a time, ~11-50 ms
 * grouped, on a loaded 2-core machine). The caller acks the deliveries of a group only after its commit resolved,
 * i.e. after every record of it (and of every earlier group) is durable, so a restart (same
 * data folder) or a resend by the gateway never grants twice.
 *
 * Known window: a crash after `giveItem` and before the append is
 * durable loses the record, and the redelivered prize is granted again. The alternative
 * order (append an intent first) would instead lose the prize in that window. With group
 * commit the window is as long as before for each prize (one append and fsync), but a crash
 * in it loses the records of every prize given in that group (the plugin caps a group at
 * MAX_PRIZE_GROUP items), not of one.
 *
 * A commit that fails (disk full, I/O error) leaves its records in memory, so this process
 * never gives those items again, and marks them unsynced: every later commit writes them
 * again (not just syncs again: after a failed fsync Linux may have dropped the dirty pages)
 * before its own, and nothing is acked until that succeeds.
 *
 * Over ~300 lines: loading, deciding, the group commit and its failure handling all guard
 * the one exactly-once invariant, and the comments that argue it are half the file.
 */
import { open, readFile, truncate, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { prizeIdentity, type Prize, type PrizeAward, type PrizeGift, type PrizeKey, type PrizeView } from '../protocol/index.js';
import { logger } from '../common/log.js';
import { syncDir } from './epoch.js';
import type { Host } from './host.js';

export const LEDGER_FILE = 'prizes.ndjson';

const log = logger('plugin');

export type LedgerStatus = 'granted' | 'held';

/** One line of the ledger. */
export interface LedgerRecord extends PrizeAward {
  status: LedgerStatus;
  /** delivery id (Redis stream entry) of the prize message that created the record */
  id: string;
  /** wall-clock ms of the append */
  at: number;
}

export type PrizeOutcome = 'granted' | 'held' | 'duplicate';

export { prizeIdentity };

/**
 * How the ledger writes to and syncs its file: the seam tests use to count fsyncs and to
 * stall or fail an append (a crash or a broken disk), and benchmarks to time them.
 */
export interface LedgerIo {
  /** Appends all of `data` at the end of the file. */
  write(fh: FileHandle, data: string): Promise<void>;
  /** Makes what was written durable. */
  sync(fh: FileHandle): Promise<void>;
}

/** writeFile loops until every byte is written (a plain write may write less); fdatasync. */
export const nodeLedgerIo: LedgerIo = {
  write: (fh, data) => fh.writeFile(data),
  sync: (fh) => fh.datasync(),
};

export interface PrizeLedgerOptions {
  dataDir: string;
  host: Host;
  /** fsync every commit. Only tests of unrelated parts should turn this off. @default true */
  fsync?: boolean;
  /** @default nodeLedgerIo */
  io?: LedgerIo;
}

/**
 * Prize work decided together and recorded with one append and one fsync. `prize` and
 * `grantHeld` decide at once (items are given then), in call order; their outcomes hold
 * once `commit` resolved. Nothing may be acked or reported before that.
 */
export interface PrizeGroup {
  /** Decides a delivered prize: 'duplicate' if the ledger (or this group) already has it. */
  prize(prize: Prize, server: string): PrizeOutcome;
  /** Gives the prizes held for `player` (who joined); returns how many were given. */
  grantHeld(player: string): number;
  /**
   * Appends the group's records (after any left unsynced by a failed commit) with one write
   * and one fsync, then tells the players. Rejects when the append fails; the records stay
   * in memory and unsynced, for the next commit to write again. Resolves at once, with no
   * I/O, when there is nothing to write.
   */
  commit(): Promise<void>;
  /** Records this group appends (so far). */
  readonly records: number;
}

interface Staging {
  records: LedgerRecord[];
  /** messages to the players, sent once the group is durable */
  tells: Array<() => void>;
}

export class PrizeLedger {
  readonly file: string;
  /** identity -> latest record */
  private readonly byId = new Map<string, LedgerRecord>();
  /** player -> identities held for them */
  private readonly heldBy = new Map<string, Set<string>>();
  /** records in memory whose append failed, in order; written again before the next commit's */
  private unsynced: LedgerRecord[] = [];
  private groupOpen = false;
  private fh: FileHandle | undefined;
  private closed = false;
  /** grants and holds made by this instance */
  granted = 0;
  heldCount = 0;
  /** appends (one per committed group with records), for stats and benchmarks */
  commits = 0;

  private constructor(
    private readonly host: Host,
    file: string,
    private readonly fsync: boolean,
    private readonly io: LedgerIo,
  ) {
    this.file = file;
  }

  /** Opens (or creates) the ledger and loads it. A torn last line (crash mid-append) is cut off. */
  static async open(opts: PrizeLedgerOptions): Promise<PrizeLedger> {
    const file = join(opts.dataDir, LEDGER_FILE);
    const ledger = new PrizeLedger(opts.host, file, opts.fsync ?? true, opts.io ?? nodeLedgerIo);
    let text = '';
    let existed = true;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      existed = false;
    }
    if (text.length > 0 && !text.endsWith('\n')) {
      const keep = text.lastIndexOf('\n') + 1;
      log.warn({ file, dropped: text.slice(keep, keep + 200) }, 'prize ledger ends in a torn line (crash during an append); cutting it off');
      // The torn record was never durable, so its prize was never acked: the gateway delivers it again.
      await truncate(file, Buffer.byteLength(text.slice(0, keep)));
      text = text.slice(0, keep);
    }
    let lineNo = 0;
    for (const line of text.split('\n')) {
      lineNo++;
      if (line === '') continue;
      let rec: LedgerRecord;
      try {
        rec = JSON.parse(line) as LedgerRecord;
        if (typeof rec.hunt !== 'string' || typeof rec.reason !== 'string' || (rec.status !== 'granted' && rec.status !== 'held')) throw new Error('not a ledger record');
      } catch (err) {
        log.error({ file, line: lineNo, err }, 'prize ledger line is not valid; skipping it');
        continue;
      }
      ledger.index(rec);
    }
    ledger.fh = await open(file, 'a');
    if (!existed) await syncDir(opts.dataDir);
    return ledger;
  }

  /** The latest record of a prize, by identity. */
  get(identity: string): LedgerRecord | undefined {
    return this.byId.get(identity);
  }

  /** Every prize in the ledger, one record each (its latest status). */
  records(): LedgerRecord[] {
    return [...this.byId.values()];
  }

  /** Every prize in the ledger as the plugin reports it: granted, or 'pending' while held. */
  views(): PrizeView[] {
    return this.records().map((r) => ({
      hunt: r.hunt,
      reason: r.reason,
      player: r.player,
      server: r.server,
      item: r.item,
      count: r.count,
      status: r.status === 'granted' ? 'granted' : 'pending',
    }));
  }

  /** The prizes held for `player` (for every player when undefined). */
  held(player?: string): PrizeGift[] {
    return this.records()
      .filter((r) => r.status === 'held' && (player === undefined || r.player === player))
      .map(({ player: p, hunt, reason, item, count }) => ({ player: p, hunt, reason, item, count }));
  }

  /** Prizes held right now. */
  get heldNow(): number {
    let n = 0;
    for (const s of this.heldBy.values()) n += s.size;
    return n;
  }

  /** Records in memory that a failed commit left to be written again. */
  get unsyncedRecords(): number {
    return this.unsynced.length;
  }

  /** O(1): whether `player` has held prizes (checked on every join). */
  hasHeld(player: string): boolean {
    return this.heldBy.has(player);
  }

  /**
   * Starts a group. Groups must not overlap (the plugin runs them one at a time): a group's
   * records are in memory from the moment they are decided, and a second group deciding
   * against them before they are durable could ack a duplicate of a record not yet durable.
   */
  group(): PrizeGroup {
    if (this.groupOpen) throw new Error(`prize ledger ${this.file}: a group is already open; groups must not overlap`);
    this.groupOpen = true;
    const st: Staging = { records: [], tells: [] };
    return {
      prize: (prize, server) => this.decidePrize(st, prize, server),
      grantHeld: (player) => this.giveHeld(st, player),
      commit: () => this.commit(st),
      get records() {
        return st.records.length;
      },
    };
  }

  /** Grants `prize` once, in a group of its own. Resolves after its record is durable. */
  async handlePrize(prize: Prize, server: string): Promise<PrizeOutcome> {
    const g = this.group();
    const outcome = g.prize(prize, server);
    await g.commit();
    return outcome;
  }

  async close(): Promise<void> {
    this.closed = true;
    const fh = this.fh;
    this.fh = undefined;
    await fh?.close();
  }

  private decidePrize(st: Staging, prize: Prize, server: string): PrizeOutcome {
    // Also catches a duplicate earlier in this group, or one left unsynced by a failed commit:
    // both are written (again) by this group's commit, before the caller acks anything.
    if (this.byId.has(prizeIdentity(prize))) return 'duplicate';
    const base = { hunt: prize.hunt, reason: prize.reason, player: prize.player, item: prize.item, count: prize.count, server, id: prize.id };
    if (this.tryGive(prize.player, prize.item, prize.count, prize)) {
      this.stage(st, { ...base, status: 'granted', at: Date.now() });
      this.granted++;
      st.tells.push(() => this.tellWon(base));
      return 'granted';
    }
    this.stage(st, { ...base, status: 'held', at: Date.now() });
    this.heldCount++;
    if (this.isOnline(prize.player)) {
      st.tells.push(() => this.tell(prize.player, `You won ${describe(base)}, but it could not be given to you now; you will get it when you next join.`));
    }
    return 'held';
  }

  private giveHeld(st: Staging, player: string): number {
    const held = this.heldBy.get(player);
    if (!held) return 0;
    let n = 0;
    for (const identity of [...held]) {
      const rec = this.byId.get(identity);
      if (!rec || rec.status !== 'held') continue;
      if (!this.tryGive(player, rec.item, rec.count, rec)) break;
      this.stage(st, { ...rec, status: 'granted', at: Date.now() });
      this.granted++;
      n++;
      st.tells.push(() => this.tellWon(rec));
    }
    return n;
  }

  /**
   * Indexed at once, before it is durable: a duplicate later in the group, or a join during
   * the fsync (hasHeld), sees it; and an item already given must never be given again by
   * this process, whatever becomes of the append.
   */
  private stage(st: Staging, rec: LedgerRecord): void {
    st.records.push(rec);
    this.index(rec);
  }

  private async commit(st: Staging): Promise<void> {
    try {
      const records = this.unsynced.length > 0 ? [...this.unsynced, ...st.records] : st.records;
      if (records.length === 0) return;
      let data = '';
      for (const rec of records) data += `${JSON.stringify(rec)}\n`;
      try {
        const fh = this.fh;
        if (this.closed || !fh) throw new Error(`prize ledger ${this.file} is closed`);
        await this.io.write(fh, data);
        if (this.fsync) await this.io.sync(fh);
      } catch (err) {
        this.unsynced = records;
        const given = records.filter((r) => r.status === 'granted').length;
        log.error({ err, file: this.file, records: records.length, given }, 'prize ledger append failed; nothing is acked, and the records are written again with the next commit (a restart before then could give the granted ones again)');
        throw err;
      }
      this.unsynced = [];
      this.commits++;
      for (const tell of st.tells) tell();
    } finally {
      this.groupOpen = false;
    }
  }

  private index(rec: LedgerRecord): void {
    const identity = prizeIdentity(rec);
    const prev = this.byId.get(identity);
    // 'granted' is final: a stray 'held' after it (never written by us) must not re-arm a grant.
    if (prev?.status === 'granted') return;
    this.byId.set(identity, rec);
    if (rec.status === 'held') {
      let set = this.heldBy.get(rec.player);
      if (!set) this.heldBy.set(rec.player, (set = new Set()));
      set.add(identity);
    } else {
      const set = this.heldBy.get(rec.player);
      set?.delete(identity);
      if (set?.size === 0) this.heldBy.delete(rec.player);
    }
  }

  private isOnline(player: string): boolean {
    try {
      return this.host.isOnline(player);
    } catch (err) {
      log.error({ err, player }, 'host.isOnline threw');
      return false;
    }
  }

  private tryGive(player: string, item: string, count: number, key: PrizeKey): boolean {
    if (!this.isOnline(player)) return false;
    try {
      return this.host.giveItem(player, item, count, { hunt: key.hunt, reason: key.reason }) === true;
    } catch (err) {
      log.error({ err, player, item, count }, 'host.giveItem threw; holding the prize');
      return false;
    }
  }

  private tellWon(p: Pick<LedgerRecord, 'player' | 'hunt' | 'reason' | 'item' | 'count'>): void {
    this.tell(p.player, `You won ${describe(p)}!`);
  }

  private tell(player: string, message: string): void {
    try {
      this.host.tell(player, message);
    } catch (err) {
      log.warn({ err, player }, 'host.tell threw');
    }
  }
}

/** "5 x gold_ingot (oracle-hunt: treasure oak, rank 1)" */
function describe(p: Pick<LedgerRecord, 'hunt' | 'reason' | 'item' | 'count'>): string {
  const m = /^treasure:(.+):(\d+)$/.exec(p.reason) ?? /^(completion):(\d+)$/.exec(p.reason);
  const why = m ? (m[1] === 'completion' ? `completing the hunt, rank ${m[2]}` : `treasure ${m[1]}, rank ${m[2]}`) : p.reason;
  return `${p.count} x ${p.item} (${p.hunt}: ${why})`;
}
