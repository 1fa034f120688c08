/**
 * Exactly-once granting of prizes. The ledger is an append-only NDJSON file in the data
 * folder (`prizes.ndjson`), fsync'd on every append, that records each prize by its
 * identity `${hunt}|${reason}` (DESIGN.md: a prize is decided once per (hunt, reason)).
 *
 *   already in the ledger             -> nothing is granted; the caller acks the delivery again
 *   player online and giveItem works  -> granted, then {status:'granted'} appended
 *   otherwise                         -> {status:'held'} appended; granted when the player joins
 *
 * The caller acks a delivery only after `handlePrize` resolved, i.e. after the append is
 * durable, so a restart (same data folder) or a resend by the gateway never grants twice.
 *
 * Known window (see the report on #2): a crash after `giveItem` and before the append is
 * durable loses the record, and the redelivered prize is granted again. The alternative
 * order (append an intent first) would instead lose the prize in that window.
 */
import { open, readFile, truncate, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Prize } from '../protocol/index.js';
import { logger } from '../protocol/log.js';
import { syncDir } from './epoch.js';
import type { Host } from './host.js';

export const LEDGER_FILE = 'prizes.ndjson';

const log = logger('plugin');

export type LedgerStatus = 'granted' | 'held';

/** One line of the ledger. */
export interface LedgerRecord {
  hunt: string;
  reason: string;
  player: string;
  item: string;
  count: number;
  /** the server that grants it (this one) */
  server: string;
  status: LedgerStatus;
  /** delivery id (Redis stream entry) of the prize message that created the record */
  id: string;
  /** wall-clock ms of the append */
  at: number;
}

export type PrizeOutcome = 'granted' | 'held' | 'duplicate';

export const prizeIdentity = (p: { hunt: string; reason: string }): string => `${p.hunt}|${p.reason}`;

export interface PrizeLedgerOptions {
  dataDir: string;
  host: Host;
  /** fsync every append. Only tests of unrelated parts should turn this off. @default true */
  fsync?: boolean;
}

export class PrizeLedger {
  readonly file: string;
  /** identity -> latest record */
  private readonly byId = new Map<string, LedgerRecord>();
  /** player -> identities held for them */
  private readonly heldBy = new Map<string, Set<string>>();
  private fh: FileHandle | undefined;
  private closed = false;
  /** grants and holds made by this instance */
  granted = 0;
  heldCount = 0;

  private constructor(
    private readonly host: Host,
    file: string,
    private readonly fsync: boolean,
  ) {
    this.file = file;
  }

  /** Opens (or creates) the ledger and loads it. A torn last line (crash mid-append) is cut off. */
  static async open(opts: PrizeLedgerOptions): Promise<PrizeLedger> {
    const file = join(opts.dataDir, LEDGER_FILE);
    const ledger = new PrizeLedger(opts.host, file, opts.fsync ?? true);
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
        log.error({ file, line: lineNo, err: (err as Error).message }, 'prize ledger line is not valid; skipping it');
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

  /** Prizes held right now. */
  get heldNow(): number {
    let n = 0;
    for (const s of this.heldBy.values()) n += s.size;
    return n;
  }

  /** O(1): whether `player` has held prizes (checked on every join). */
  hasHeld(player: string): boolean {
    return this.heldBy.has(player);
  }

  /**
   * Grants `prize` once. Resolves after the ledger record is durable; the caller acks the
   * delivery only then. Calls must not overlap (the plugin runs them one at a time).
   */
  async handlePrize(prize: Prize, server: string): Promise<PrizeOutcome> {
    const identity = prizeIdentity(prize);
    if (this.byId.has(identity)) return 'duplicate';
    const base = { hunt: prize.hunt, reason: prize.reason, player: prize.player, item: prize.item, count: prize.count, server, id: prize.id };
    if (this.tryGive(prize.player, prize.item, prize.count)) {
      await this.appendGranted({ ...base, status: 'granted', at: Date.now() });
      this.granted++;
      this.tellWon(base);
      return 'granted';
    }
    await this.append({ ...base, status: 'held', at: Date.now() });
    this.heldCount++;
    if (this.isOnline(prize.player)) {
      this.tell(prize.player, `You won ${describe(base)}, but it could not be given to you now; you will get it when you next join.`);
    }
    return 'held';
  }

  /** Grants the prizes held for `player` (on join); returns how many were granted. */
  async grantHeld(player: string): Promise<number> {
    const held = this.heldBy.get(player);
    if (!held) return 0;
    let n = 0;
    for (const identity of [...held]) {
      const rec = this.byId.get(identity);
      if (!rec || rec.status !== 'held') continue;
      if (!this.tryGive(player, rec.item, rec.count)) break;
      await this.appendGranted({ ...rec, status: 'granted', at: Date.now() });
      this.granted++;
      n++;
      this.tellWon(rec);
    }
    return n;
  }

  async close(): Promise<void> {
    this.closed = true;
    const fh = this.fh;
    this.fh = undefined;
    await fh?.close();
  }

  /** Appends one record durably (write + fdatasync) and indexes it. */
  private async append(rec: LedgerRecord): Promise<void> {
    if (this.closed || !this.fh) throw new Error(`prize ledger ${this.file} is closed`);
    await this.fh.write(`${JSON.stringify(rec)}\n`);
    if (this.fsync) await this.fh.datasync();
    this.index(rec);
  }

  /**
   * The item is already given: if the append fails, the prize is still indexed in memory so
   * this process never gives it again; the delivery is not acked (the error propagates).
   */
  private async appendGranted(rec: LedgerRecord): Promise<void> {
    try {
      await this.append(rec);
    } catch (err) {
      this.index(rec);
      log.error({ err: (err as Error).message, file: this.file, hunt: rec.hunt, reason: rec.reason }, 'prize given but the ledger append failed; a restart could give it again');
      throw err;
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
      log.error({ err: (err as Error).message, player }, 'host.isOnline threw');
      return false;
    }
  }

  private tryGive(player: string, item: string, count: number): boolean {
    if (!this.isOnline(player)) return false;
    try {
      return this.host.giveItem(player, item, count) === true;
    } catch (err) {
      log.error({ err: (err as Error).message, player, item, count }, 'host.giveItem threw; holding the prize');
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
      log.warn({ err: (err as Error).message, player }, 'host.tell threw');
    }
  }
}

/** "5 x gold_ingot (oracle-hunt: treasure oak, rank 1)" */
function describe(p: Pick<LedgerRecord, 'hunt' | 'reason' | 'item' | 'count'>): string {
  const m = /^treasure:(.+):(\d+)$/.exec(p.reason) ?? /^(completion):(\d+)$/.exec(p.reason);
  const why = m ? (m[1] === 'completion' ? `completing the hunt, rank ${m[2]}` : `treasure ${m[1]}, rank ${m[2]}`) : p.reason;
  return `${p.count} x ${p.item} (${p.hunt}: ${why})`;
}
