/**
 * Exactly-once granting of prizes, recorded in the ledger file (ledger-file.ts) by identity
 * `${hunt}|${reason}` (a prize is decided once per (hunt, reason)).
 *
 *   already in the ledger   -> nothing is given; the caller acks the delivery again
 *   player online           -> intent ('giving') made durable, then giveItem, then the
 *                              outcome ('granted', or 'held' if giveItem refused) made durable
 *   player offline          -> 'held' made durable; given (the same way) when the player joins
 *
 * Intent first: the seed's incident was a double award, so the order is the one under which
 * a crash can never give twice without anyone being told. A crash after the intent is durable
 * and before the outcome is leaves an intent without an outcome; at the next start the ledger
 * cannot know whether the game gave the item. A host that gives idempotently by prize key
 * (`Host.idempotentGive`) is asked again: it gives if it had not, and does nothing if it had.
 * With any other host the prize is held as 'uncertain': never given automatically, listed by
 * `/hunt prizes --uncertain`, and resolved by an admin with `/hunt grant` (given / give).
 *
 * Group commit: prize work that arrives together (what one gateway read returns, up to 1000
 * entries, comes in one burst of frames) is decided in memory as one `PrizeGroup` and
 * recorded with two appends and two fdatasyncs for the whole group (intents and holds;
 * then outcomes), not two per prize. One fsync per prize serialised a window's prizes
 * behind the disk (bench/prize-ledger).
 * The caller acks a group's deliveries only after its commit resolved, i.e. after every
 * record of it (and of every earlier group) is durable.
 *
 * Failures: if the first append fails nothing was given, and the group's records are
 * forgotten (the gateway delivers them again). If the second fails, the items were given:
 * their records stay in memory (this process never gives them again) and unsynced, written
 * again before the next commit's, and nothing is acked until that succeeds; a restart before
 * then finds their intents and resolves them as above.
 *
 * The state in memory is prize-states.ts. Over ~300 lines: staging, the two appends, the
 * failure handling and the resolution of interrupted grants all guard the one exactly-once
 * invariant, and the comments that argue it are a third of the file.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { prizeIdentity, type Prize, type PrizeKey } from '../protocol/index.js';
import { logger } from '../common/log.js';
import { syncDir } from './epoch.js';
import type { Host } from './host.js';
import { LEDGER_FILE, loadLedgerFile, nodeLedgerIo, type LedgerIo } from './ledger-file.js';
import { PrizeStates, type LedgerEntry } from './prize-states.js';

export { LEDGER_FILE, nodeLedgerIo, type LedgerIo, type LedgerRecord, type LedgerStatus } from './ledger-file.js';
export { prizeIdentity };
export type { LedgerEntry, PrizeState } from './prize-states.js';

const log = logger('plugin');

export type PrizeOutcome = 'granted' | 'held' | 'duplicate';

/** How an admin resolves an uncertain grant: the game did give it, or it did not (give it now). */
export type Resolution = 'given' | 'give';
export type ResolveOutcome = 'granted' | 'given-now' | 'held' | 'not-uncertain';

export interface PrizeLedgerOptions {
  dataDir: string;
  host: Host;
  /** fsync every commit. Only tests of unrelated parts should turn this off. @default true */
  fsync?: boolean;
  /** @default nodeLedgerIo */
  io?: LedgerIo;
}

/** What a group decided, once its commit resolved: one entry per call, in call order. */
export interface GroupResult {
  /** per `prize` call */
  prizes: PrizeOutcome[];
  /** per `grantHeld` call: how many prizes were given */
  joins: number[];
  /** per `resolve` call */
  resolutions: ResolveOutcome[];
}

/**
 * Prize work decided together. The calls stage records at once (a duplicate later in the
 * group, or in the next group, sees them); items are given only inside `commit`, after the
 * intents are durable. Nothing may be acked or reported before `commit` resolved.
 */
export interface PrizeGroup {
  /** A delivered prize: 'duplicate' if the ledger (or this group) already has it. */
  prize(prize: Prize, server: string): void;
  /** The prizes held for `player` (who joined, or is online at start). */
  grantHeld(player: string): void;
  /** An admin's resolution of an uncertain grant. */
  resolve(key: PrizeKey, how: Resolution, by: string): void;
  /** Appends, gives, appends; resolves with the outcomes. Rejects when an append fails. */
  commit(): Promise<GroupResult>;
}

type Pending =
  | { k: 'prize'; outcome: PrizeOutcome | undefined; intent?: LedgerEntry }
  | { k: 'join'; intents: LedgerEntry[] }
  | { k: 'resolve'; outcome: ResolveOutcome | undefined; intent?: LedgerEntry };

interface Staging {
  /** records of the first append: intents, holds, resolutions as given */
  first: LedgerEntry[];
  /** what each record of `first` replaced, to forget them if the first append fails */
  undo: Array<[identity: string, prev: LedgerEntry | undefined]>;
  calls: Pending[];
  /** messages to the players, sent once the group is durable */
  tells: Array<() => void>;
}

export class PrizeLedger extends PrizeStates {
  readonly file: string;
  /** outcome records of items given whose append failed; written again before the next commit's */
  private unsynced: LedgerEntry[] = [];
  private groupOpen = false;
  /** the last write failed: the file may end in a torn line */
  private mayBeTorn = false;
  private fh: FileHandle | undefined;
  private closed = false;
  /** grants and holds made by this instance */
  granted = 0;
  heldCount = 0;
  /** appends (up to two per committed group), for stats and benchmarks */
  commits = 0;
  private interruptedAtStart = 0;

  private constructor(
    private readonly host: Host,
    file: string,
    private readonly fsync: boolean,
    private readonly io: LedgerIo,
  ) {
    super();
    this.file = file;
  }

  /** Opens (or creates) the ledger, loads it, and resolves intents a crash left without an outcome. */
  static async open(opts: PrizeLedgerOptions): Promise<PrizeLedger> {
    const file = join(opts.dataDir, LEDGER_FILE);
    const ledger = new PrizeLedger(opts.host, file, opts.fsync ?? true, opts.io ?? nodeLedgerIo);
    const { records, existed } = await loadLedgerFile(file);
    for (const rec of records) ledger.index(rec);
    ledger.resolveInterrupted();
    ledger.fh = await open(file, 'a');
    if (!existed) await syncDir(opts.dataDir);
    return ledger;
  }

  /** Intents without an outcome found at start (resolved through the host, or uncertain). */
  get interrupted(): number {
    return this.interruptedAtStart;
  }

  /** Outcome records in memory that a failed commit left to be written again. */
  get unsyncedRecords(): number {
    return this.unsynced.length;
  }

  /**
   * Starts a group. Groups must not overlap (the plugin runs them one at a time): a group's
   * records are in memory from the moment they are staged, and a second group deciding
   * against them before they are durable could ack a duplicate of a record not yet durable.
   */
  group(): PrizeGroup {
    if (this.groupOpen) throw new Error(`prize ledger ${this.file}: a group is already open; groups must not overlap`);
    this.groupOpen = true;
    const st: Staging = { first: [], undo: [], calls: [], tells: [] };
    return {
      prize: (prize, server) => this.stagePrize(st, prize, server),
      grantHeld: (player) => this.stageHeld(st, player),
      resolve: (key, how, by) => this.stageResolve(st, key, how, by),
      commit: () => this.commit(st),
    };
  }

  /** Grants `prize` once, in a group of its own. Resolves after its records are durable. */
  async handlePrize(prize: Prize, server: string): Promise<PrizeOutcome> {
    const g = this.group();
    g.prize(prize, server);
    return (await g.commit()).prizes[0]!;
  }

  async close(): Promise<void> {
    this.closed = true;
    const fh = this.fh;
    this.fh = undefined;
    await fh?.close();
  }

  private stagePrize(st: Staging, prize: Prize, server: string): void {
    // Also catches a duplicate earlier in this group, or an outcome left unsynced by a failed
    // commit: both are written (again) by this group's commit, before the caller acks anything.
    if (this.get(prizeIdentity(prize))) {
      st.calls.push({ k: 'prize', outcome: 'duplicate' });
      return;
    }
    const base = { hunt: prize.hunt, reason: prize.reason, player: prize.player, item: prize.item, count: prize.count, server, id: prize.id, at: Date.now() };
    if (this.isOnline(prize.player)) {
      const intent: LedgerEntry = { ...base, status: 'giving' };
      this.stage(st, intent);
      st.calls.push({ k: 'prize', outcome: undefined, intent });
      return;
    }
    this.stage(st, { ...base, status: 'held' });
    st.calls.push({ k: 'prize', outcome: 'held' });
  }

  private stageHeld(st: Staging, player: string): void {
    const intents: LedgerEntry[] = [];
    if (this.hasHeld(player) && this.isOnline(player)) {
      for (const identity of this.held(player).map(prizeIdentity)) {
        const rec = this.get(identity);
        if (rec?.status !== 'held') continue;
        const intent: LedgerEntry = { ...rec, status: 'giving', at: Date.now() };
        this.stage(st, intent);
        intents.push(intent);
      }
    }
    st.calls.push({ k: 'join', intents });
  }

  private stageResolve(st: Staging, key: PrizeKey, how: Resolution, by: string): void {
    const rec = this.get(prizeIdentity(key));
    if (rec?.status !== 'uncertain') {
      st.calls.push({ k: 'resolve', outcome: 'not-uncertain' });
      return;
    }
    const base = { ...rec, at: Date.now(), by };
    if (how === 'given') {
      this.stage(st, { ...base, status: 'granted' });
      st.calls.push({ k: 'resolve', outcome: 'granted' });
    } else if (this.isOnline(rec.player)) {
      const intent: LedgerEntry = { ...base, status: 'giving' };
      this.stage(st, intent);
      st.calls.push({ k: 'resolve', outcome: undefined, intent });
    } else {
      this.stage(st, { ...base, status: 'held' });
      st.calls.push({ k: 'resolve', outcome: 'held' });
    }
  }

  /**
   * Indexed at once, before it is durable: a duplicate later in the group, or a join during
   * the fsync (hasHeld), sees it.
   */
  private stage(st: Staging, rec: LedgerEntry): void {
    const identity = prizeIdentity(rec);
    st.undo.push([identity, this.get(identity)]);
    st.first.push(rec);
    this.index(rec);
  }

  private async commit(st: Staging): Promise<GroupResult> {
    try {
      const first = this.unsynced.length > 0 ? [...this.unsynced, ...st.first] : st.first;
      try {
        await this.append(first);
      } catch (err) {
        this.forget(st);
        log.error({ err, file: this.file, records: first.length }, 'prize ledger append (intents) failed; nothing of the group was given or is acked, and the gateway delivers it again');
        throw err;
      }
      this.unsynced = [];
      for (const rec of st.first) if (rec.status === 'held') this.heldCount++;
      // Every intent is durable: give.
      const outcomes: LedgerEntry[] = [];
      const give = (intent: LedgerEntry): boolean => {
        const ok = this.tryGive(intent);
        const rec: LedgerEntry = { ...intent, status: ok ? 'granted' : 'held', at: Date.now() };
        this.index(rec);
        outcomes.push(rec);
        if (ok) {
          this.granted++;
          st.tells.push(() => this.tell(rec.player, `You won ${describePrize(rec)}!`));
        } else {
          this.heldCount++;
          if (this.isOnline(rec.player)) st.tells.push(() => this.tell(rec.player, `You won ${describePrize(rec)}, but it could not be given to you now; you will get it when you next join.`));
        }
        return ok;
      };
      const result: GroupResult = { prizes: [], joins: [], resolutions: [] };
      for (const call of st.calls) {
        if (call.k === 'prize') result.prizes.push(call.intent ? (give(call.intent) ? 'granted' : 'held') : call.outcome!);
        else if (call.k === 'resolve') result.resolutions.push(call.intent ? (give(call.intent) ? 'given-now' : 'held') : call.outcome!);
        else {
          let n = 0;
          for (const intent of call.intents) if (give(intent)) n++;
          result.joins.push(n);
        }
      }
      try {
        await this.append(outcomes);
      } catch (err) {
        this.unsynced = outcomes;
        const given = outcomes.filter((r) => r.status === 'granted').length;
        log.error({ err, file: this.file, records: outcomes.length, given }, 'prize ledger append (outcomes) failed after giving; nothing is acked, the records are written again with the next commit, and a restart before then finds their intents (resolved through the host, or held as uncertain)');
        throw err;
      }
      for (const tell of st.tells) tell();
      return result;
    } finally {
      this.groupOpen = false;
    }
  }

  /** One write and one fsync; nothing when there is nothing to write. */
  private async append(records: LedgerEntry[]): Promise<void> {
    if (records.length === 0) return;
    // After a failed write (ENOSPC mid-way) the file may end in a torn line: start on a new
    // line, so the torn one is skipped at load on its own instead of swallowing this record.
    let data = this.mayBeTorn ? '\n' : '';
    for (const rec of records) data += `${JSON.stringify(rec)}\n`;
    const fh = this.fh;
    if (this.closed || !fh) throw new Error(`prize ledger ${this.file} is closed`);
    try {
      await this.io.write(fh, data);
    } catch (err) {
      this.mayBeTorn = true;
      throw err;
    }
    this.mayBeTorn = false;
    if (this.fsync) await this.io.sync(fh);
    this.commits++;
  }

  /** Undoes a group's staging (its first append failed, so nothing of it was given). */
  private forget(st: Staging): void {
    for (let i = st.undo.length - 1; i >= 0; i--) {
      const [identity, prev] = st.undo[i]!;
      this.restore(identity, prev);
    }
  }

  /**
   * An intent whose outcome was never recorded: the game may or may not have given it.
   * Through an idempotent host it is held (given again when its player is online; the host
   * gives only if it had not); otherwise it is uncertain.
   */
  private resolveInterrupted(): void {
    const interrupted = this.records().filter((r) => r.status === 'giving');
    if (interrupted.length === 0) return;
    this.interruptedAtStart = interrupted.length;
    const idempotent = this.host.idempotentGive === true;
    for (const rec of interrupted) this.index({ ...rec, status: idempotent ? 'held' : 'uncertain' }, true);
    const prizes = interrupted.slice(0, 20).map((r) => `${r.hunt} ${r.reason} -> ${r.player}`);
    if (idempotent) log.warn({ file: this.file, interrupted: interrupted.length, prizes }, 'grants interrupted by a crash (intent recorded, outcome not); the host gives idempotently, so they are given again through it when their players are online');
    else log.error({ file: this.file, interrupted: interrupted.length, prizes }, 'grants interrupted by a crash (intent recorded, outcome not): the game may or may not have given them, so they are held as uncertain and never given automatically; an admin resolves them (/hunt prizes --uncertain, /hunt grant <hunt> <reason> given|give)');
  }

  private isOnline(player: string): boolean {
    try {
      return this.host.isOnline(player);
    } catch (err) {
      log.error({ err, player }, 'host.isOnline threw');
      return false;
    }
  }

  private tryGive(rec: LedgerEntry): boolean {
    if (!this.isOnline(rec.player)) return false;
    try {
      return this.host.giveItem(rec.player, rec.item, rec.count, { hunt: rec.hunt, reason: rec.reason }) === true;
    } catch (err) {
      log.error({ err, player: rec.player, item: rec.item, count: rec.count }, 'host.giveItem threw; holding the prize');
      return false;
    }
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
export function describePrize(p: Pick<LedgerEntry, 'hunt' | 'reason' | 'item' | 'count'>): string {
  const m = /^treasure:(.+):(\d+)$/.exec(p.reason) ?? /^(completion):(\d+)$/.exec(p.reason);
  const why = m ? (m[1] === 'completion' ? `completing the hunt, rank ${m[2]}` : `treasure ${m[1]}, rank ${m[2]}`) : p.reason;
  return `${p.count} x ${p.item} (${p.hunt}: ${why})`;
}
