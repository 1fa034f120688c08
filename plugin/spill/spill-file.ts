/**
 * The spill file: where discrete events go when even they exceed the outbox's memory bound,
 * so a long gateway outage loses none of them. An append-only NDJSON file in the
 * data folder (`spill.ndjson`), one record per line:
 *
 *   {"wm": 1795867200250, "ev": [ ...discrete events, with their original e and n... ]}
 *
 * `wm` is the watermark the flush that wrote the record would have claimed; `null` on the
 * first parts of a flush split over several records (each record is at most one batch of
 * events, so reading one back costs one bounded slice). The plugin sends from the file in
 * order, forming batches only while the outbox has room, and forms no other batch until the
 * file is read to its end: a watermark never claims an event still waiting in the file.
 *
 * Durability: appends are plain synchronous writes, no fsync: a process crash keeps what
 * write() handed the kernel, and an fsync per flush would stall the game's tick on a slow
 * disk. `rewrite()` (at stop) and `close()` fsync. The file is emptied once everything read
 * from it is acked; what is left at stop is rewritten to exactly the events not acked, and
 * the next start (a new epoch) sends them again with their original ids, so downstream
 * recognises any it already has.
 *
 * Bounded: `maxBytes` is the size past which the spillway stops writing all but hunt
 * control events (spillway.ts has the policy). A failed append (ENOSPC, EIO) is undone, the
 * file cut back to its last whole record, so a torn line never swallows the next record.
 */
import { closeSync, fsyncSync, openSync, readSync, renameSync, writeSync, ftruncateSync, fstatSync } from 'node:fs';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import type { DiscreteEvent } from '../../protocol/index.js';
import { logger } from '../../common/log.js';

export const SPILL_FILE = 'spill.ndjson';

/** Default cap of the spill file (bytes): ~3 million discrete events at ~170 bytes each. */
export const DEFAULT_SPILL_MAX_BYTES = 512 * 1024 * 1024;

export interface SpillOptions {
  /** @default DEFAULT_SPILL_MAX_BYTES */
  maxBytes?: number;
  /** The write the file's appends use: the seam tests use to fail one (a full disk). @default fs.writeSync */
  write?: (fd: number, buf: Buffer, offset: number, length: number) => number;
}

const log = logger('plugin');

export interface SpillRecord {
  /** the watermark to claim once these events are in a batch; null: more of the same flush follows */
  wm: number | null;
  ev: DiscreteEvent[];
}

/** Bytes read from the file at a time when reading records back. */
const READ_CHUNK = 64 * 1024;

export class Spill {
  readonly file: string;
  /** the size past which only hunt control events are written (spillway.ts) */
  readonly maxBytes: number;
  private readonly write: NonNullable<SpillOptions['write']>;
  private fd: number;
  /** file size: where the next append goes */
  private size: number;
  /** offset of the next record to read */
  private readOffset = 0;
  private unread = 0;
  private unreadRecords = 0;
  /** bytes read past readOffset and not consumed yet */
  private buf: Buffer = Buffer.alloc(0);
  /** highest outbox seq formed from records read out of the file (0: none since the last reset) */
  private formedThrough = 0;
  /** events appended over this instance's life */
  appended = 0;

  private constructor(file: string, fd: number, size: number, opts: SpillOptions) {
    this.file = file;
    this.maxBytes = opts.maxBytes ?? DEFAULT_SPILL_MAX_BYTES;
    this.write = opts.write ?? writeSync;
    this.fd = fd;
    this.size = size;
  }

  /**
   * Opens (or creates) the spill file of `dataDir`. Events a previous run left in it are
   * unread: the plugin sends them first. A torn last line (crash mid-append) is cut off.
   */
  static open(dataDir: string, opts: SpillOptions = {}): Spill {
    const file = join(dataDir, SPILL_FILE);
    const fd = openSync(file, 'a+');
    const spill = new Spill(file, fd, fstatSync(fd).size, opts);
    spill.scan();
    return spill;
  }

  /** Discrete events in the file not read back yet. */
  get unreadEvents(): number {
    return this.unread;
  }

  get hasUnread(): boolean {
    return this.unreadRecords > 0;
  }

  /** Size of the file in bytes (what is read and not yet acked counts too). */
  get bytes(): number {
    return this.size;
  }

  /** Appends `events` in records of at most `perRecord` events; only the last carries `wm`. */
  append(events: readonly DiscreteEvent[], wm: number, perRecord: number): void {
    if (events.length === 0) return;
    let text = '';
    let records = 0;
    for (let start = 0; start < events.length; start += perRecord) {
      const last = start + perRecord >= events.length;
      const rec: SpillRecord = { wm: last ? wm : null, ev: events.slice(start, start + perRecord) };
      text += `${JSON.stringify(rec)}\n`;
      records++;
    }
    this.writeAll(Buffer.from(text));
    this.unreadRecords += records;
    this.unread += events.length;
    this.appended += events.length;
  }

  /** The next unread record, or undefined at the end of the file. */
  next(): SpillRecord | undefined {
    while (this.unreadRecords > 0) {
      let nl = this.buf.indexOf(10);
      while (nl < 0) {
        const at = this.readOffset + this.buf.length;
        if (at >= this.size) {
          // Counted records and the bytes disagree: only an outside edit of the file does that.
          log.error({ file: this.file, offset: this.readOffset }, 'spill file ends inside a record; ignoring the rest');
          this.unreadRecords = 0;
          this.unread = 0;
          return undefined;
        }
        const chunk = Buffer.allocUnsafe(Math.min(READ_CHUNK, this.size - at));
        const n = readSync(this.fd, chunk, 0, chunk.length, at);
        this.buf = this.buf.length === 0 ? chunk.subarray(0, n) : Buffer.concat([this.buf, chunk.subarray(0, n)]);
        nl = this.buf.indexOf(10);
      }
      const line = this.buf.subarray(0, nl).toString('utf8');
      this.buf = this.buf.subarray(nl + 1);
      this.readOffset += nl + 1;
      this.unreadRecords--;
      const rec = parseRecord(line);
      if (!rec) {
        log.error({ file: this.file, offset: this.readOffset - nl - 1, line: line.slice(0, 200) }, 'spill file line is not a spill record; skipping it');
        continue;
      }
      this.unread = Math.max(0, this.unread - rec.ev.length);
      return rec;
    }
    return undefined;
  }

  /** Records that outbox batches up to `seq` hold events read from the file. */
  formed(seq: number): void {
    this.formedThrough = Math.max(this.formedThrough, seq);
  }

  /**
   * Empties the file once everything in it was read and every batch formed from it is acked
   * (`ackedThrough`); returns true if it did.
   */
  release(ackedThrough: number): boolean {
    if (this.unreadRecords > 0 || this.size === 0 || ackedThrough < this.formedThrough) return false;
    ftruncateSync(this.fd, 0);
    this.size = 0;
    this.readOffset = 0;
    this.buf = Buffer.alloc(0);
    this.formedThrough = 0;
    return true;
  }

  /**
   * Replaces the file with exactly `before` (events no batch got acked for, in order) followed
   * by the records not read yet; durable (temporary file, fsync, rename) before it returns.
   * Returns the number of events the file holds then.
   */
  rewrite(before: readonly SpillRecord[], perRecord: number): number {
    const rest: SpillRecord[] = [];
    for (let r = this.next(); r; r = this.next()) rest.push(r);
    const tmp = `${this.file}.tmp`;
    const fd = openSync(tmp, 'w');
    let events = 0;
    let records = 0;
    let size = 0;
    try {
      for (const rec of [...before, ...rest]) {
        if (rec.ev.length === 0) continue;
        for (let start = 0; start < rec.ev.length; start += perRecord) {
          const last = start + perRecord >= rec.ev.length;
          const buf = Buffer.from(`${JSON.stringify({ wm: last ? rec.wm : null, ev: rec.ev.slice(start, start + perRecord) })}\n`);
          writeFully(fd, buf);
          size += buf.length;
          records++;
        }
        events += rec.ev.length;
      }
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.file);
    closeSync(this.fd);
    this.fd = openSync(this.file, 'a+');
    this.size = size;
    this.readOffset = 0;
    this.buf = Buffer.alloc(0);
    this.unread = events;
    this.unreadRecords = records;
    this.formedThrough = 0;
    return events;
  }

  close(): void {
    if (this.fd < 0) return;
    try {
      fsyncSync(this.fd);
    } finally {
      closeSync(this.fd);
      this.fd = -1;
    }
  }

  /** Appends all of `buf`, or nothing: a failed write is cut back off the file, then rethrown. */
  private writeAll(buf: Buffer): void {
    let off = 0;
    try {
      while (off < buf.length) off += this.write(this.fd, buf, off, buf.length - off);
    } catch (err) {
      // Whatever part of it reached the file (a write may fail after writing some bytes) goes.
      try {
        ftruncateSync(this.fd, this.size);
      } catch (cut) {
        log.error({ err: cut, file: this.file }, 'could not cut a failed append off the spill file; its last line is torn');
      }
      throw err;
    }
    this.size += buf.length;
  }

  /** Counts the records a previous run left, and cuts off a torn last line. */
  private scan(): void {
    if (this.size === 0) return;
    let offset = 0;
    let lastGood = 0;
    let rest = '';
    const chunk = Buffer.allocUnsafe(READ_CHUNK);
    // A chunk may end inside a multi-byte character: the decoder carries it over.
    const decoder = new StringDecoder('utf8');
    while (offset < this.size) {
      const n = readSync(this.fd, chunk, 0, chunk.length, offset);
      if (n <= 0) break;
      offset += n;
      const text = rest + decoder.write(chunk.subarray(0, n));
      const lines = text.split('\n');
      rest = lines.pop()!;
      for (const line of lines) {
        lastGood += Buffer.byteLength(line) + 1;
        // Every line is a record for next(), which reports and skips a bad one.
        this.unreadRecords++;
        this.unread += parseRecord(line)?.ev.length ?? 0;
      }
    }
    rest += decoder.end();
    if (rest.length > 0 || lastGood !== this.size) {
      log.warn({ file: this.file, dropped: rest.slice(0, 200) }, 'spill file ends in a torn line (crash during an append); cutting it off');
      ftruncateSync(this.fd, lastGood);
      this.size = lastGood;
    }
    if (this.unread > 0) log.info({ file: this.file, events: this.unread }, 'spill file holds discrete events from an earlier run; sending them first');
  }
}

function writeFully(fd: number, buf: Buffer): void {
  let off = 0;
  while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
}

function parseRecord(line: string): SpillRecord | undefined {
  if (line.length === 0) return undefined;
  try {
    const v = JSON.parse(line) as SpillRecord;
    if (typeof v !== 'object' || v === null || !Array.isArray(v.ev) || !(v.wm === null || typeof v.wm === 'number')) return undefined;
    return v;
  } catch {
    return undefined;
  }
}
