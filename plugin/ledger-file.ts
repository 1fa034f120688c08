/**
 * The prize ledger's file: an append-only NDJSON file in the data folder (`prizes.ndjson`),
 * one record per line, the latest record of a prize (by identity `${hunt}|${reason}`) being
 * its state. This file holds the record format, the I/O seam and loading; deciding and
 * committing are in prize-ledger.ts.
 *
 * Statuses on disk:
 *   giving   the intent: durable before giveItem is called, so a crash between the give and
 *            the record of it leaves a trace (an intent without an outcome) instead of nothing
 *   granted  given in game (or resolved as given by an admin: `by` names them)
 *   held     not given (player offline, or giveItem refused); given when the player joins
 */
import { readFile, truncate, type FileHandle } from 'node:fs/promises';
import type { PrizeAward } from '../protocol/index.js';
import { logger } from '../common/log.js';

export const LEDGER_FILE = 'prizes.ndjson';

const log = logger('plugin');

export type LedgerStatus = 'giving' | 'granted' | 'held';

/** One line of the ledger. */
export interface LedgerRecord extends PrizeAward {
  status: LedgerStatus;
  /** delivery id (Redis stream entry) of the prize message that created the record */
  id: string;
  /** wall-clock ms of the append */
  at: number;
  /** the admin who resolved an uncertain grant by hand */
  by?: string;
}

const STATUSES: ReadonlySet<string> = new Set<LedgerStatus>(['giving', 'granted', 'held']);

/**
 * How the ledger writes to and syncs its file: the seam tests use to count fsyncs, to stall
 * or fail an append (a full or broken disk) and to stop a process at a chosen point of a
 * grant, and benchmarks to time them.
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

/**
 * Reads every valid record of the file, in order; [] and existed=false when it is missing.
 * A torn last line (a crash during an append) is cut off the file: it was never durable, so
 * nothing was given on its strength (an intent is synced before the give) and nothing it
 * covers was acked. Any other line that is not a record is logged and skipped.
 */
export async function loadLedgerFile(file: string): Promise<{ records: LedgerRecord[]; existed: boolean }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    return { records: [], existed: false };
  }
  if (text.length > 0 && !text.endsWith('\n')) {
    const keep = text.lastIndexOf('\n') + 1;
    log.warn({ file, dropped: text.slice(keep, keep + 200) }, 'prize ledger ends in a torn line (crash during an append); cutting it off');
    await truncate(file, Buffer.byteLength(text.slice(0, keep)));
    text = text.slice(0, keep);
  }
  const records: LedgerRecord[] = [];
  let lineNo = 0;
  for (const line of text.split('\n')) {
    lineNo++;
    if (line === '') continue;
    try {
      const rec = JSON.parse(line) as LedgerRecord;
      if (typeof rec.hunt !== 'string' || typeof rec.reason !== 'string' || typeof rec.player !== 'string' || !STATUSES.has(rec.status)) throw new Error('not a ledger record');
      records.push(rec);
    } catch (err) {
      log.error({ file, line: lineNo, err }, 'prize ledger line is not valid; skipping it');
    }
  }
  return { records, existed: true };
}
