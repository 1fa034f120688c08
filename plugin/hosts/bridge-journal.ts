/**
 * What `cairn sidecar` keeps on disk (in <data-dir>/bridge/) so a sidecar killed with
 * SIGKILL and started again loses nothing and gives nothing twice:
 *
 * - the sample journal, one file per game boot (`samples-<k>-<boot>.ndjson`): every
 *   numbered line the game sent, appended before it is acked to the game. A new sidecar
 *   plays the journal through a new plugin before it welcomes the game, which rebuilds the
 *   plugin's per-player state (sessions, which treasures a player stands in, speed
 *   references) exactly; the events this re-sends to the gateway are duplicates the hunt
 *   fold ignores (a find keeps its earliest time; start and stop are idempotent).
 * - the give book (`gives.ndjson`): every give handed to the game and the game's answer,
 *   and the latest closed window per hunt; gives not yet answered `given` are sent again
 *   when the game reconnects (the bridge dedupes by prize id).
 *
 * Writes are synchronous appends to the page cache: they survive the death of this
 * process (the case the sidecar guards against), not of the machine, which also takes the
 * game server down.
 */
import { appendFileSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { logger } from '../../common/log.js';

const log = logger('sidecar');

/** Reads an NDJSON file's complete lines; a torn last line (a write cut short) is dropped. */
function completeLines(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const end = text.lastIndexOf('\n');
  if (end < text.length - 1) log.warn({ file, dropped: text.slice(end + 1, end + 201) }, 'journal ends in a torn line; ignoring it');
  return end < 0 ? [] : text.slice(0, end).split('\n').filter((l) => l !== '');
}

export interface JournalFile {
  boot: string;
  path: string;
}

export class SampleJournal {
  private fd: number | undefined;
  private current: JournalFile | undefined;

  private constructor(private readonly dir: string) {}

  static open(dir: string): SampleJournal {
    mkdirSync(dir, { recursive: true });
    return new SampleJournal(dir);
  }

  /** Every boot's file, oldest first. */
  files(): JournalFile[] {
    return readdirSync(this.dir)
      .map((f) => /^samples-(\d{8})-(.+)\.ndjson$/.exec(f))
      .filter((m): m is RegExpExecArray => m !== null)
      .sort((a, b) => a[1]!.localeCompare(b[1]!))
      .map((m) => ({ boot: m[2]!, path: join(this.dir, m[0]) }));
  }

  lines(file: JournalFile): string[] {
    return completeLines(file.path);
  }

  get boot(): string | undefined {
    return this.current?.boot;
  }

  /** Appends to the newest file if it is `boot`'s, else starts a file for it. */
  useBoot(boot: string): void {
    if (this.current?.boot === boot) return;
    const files = this.files();
    const last = files[files.length - 1];
    if (this.fd !== undefined) closeSync(this.fd);
    if (last?.boot === boot) {
      this.current = last;
    } else {
      const k = last ? Number(/samples-(\d{8})-/.exec(last.path)![1]) + 1 : 1;
      this.current = { boot, path: join(this.dir, `samples-${String(k).padStart(8, '0')}-${boot}.ndjson`) };
    }
    this.fd = openSync(this.current.path, 'a');
  }

  append(data: Uint8Array): void {
    if (this.fd === undefined) throw new Error('sample journal: no boot in use');
    let off = 0;
    while (off < data.length) off += writeSync(this.fd, data, off);
  }

  /** Deletes the files of every boot before the current one (their events are all acked). */
  retireOlderBoots(): number {
    const files = this.files().filter((f) => f.path !== this.current?.path);
    for (const f of files) rmSync(f.path, { force: true });
    return files.length;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

export interface GiveEntry {
  prize: string;
  player: string;
  item: string;
  count: number;
  /** sent: not answered yet; held: the game could not give it (sent again on join / reconnect); given: done */
  state: 'sent' | 'held' | 'given';
}

type BookLine =
  | { op: 'give'; prize: string; player: string; item: string; count: number }
  | { op: 'given' | 'held'; prize: string }
  | { op: 'closed'; hunt: string; start: number; end: number };

export class GiveBook {
  readonly gives = new Map<string, GiveEntry>();
  readonly closed = new Map<string, { start: number; end: number }>();

  private constructor(private readonly file: string) {}

  /** Loads the book and rewrites it compacted (one line per prize, one per hunt). */
  static open(dir: string): GiveBook {
    mkdirSync(dir, { recursive: true });
    const book = new GiveBook(join(dir, 'gives.ndjson'));
    if (existsSync(book.file)) {
      for (const text of completeLines(book.file)) {
        try {
          book.apply(JSON.parse(text) as BookLine);
        } catch (err) {
          log.error({ err, file: book.file }, 'give book line is not valid; skipping it');
        }
      }
    }
    const lines: BookLine[] = [];
    for (const g of book.gives.values()) {
      lines.push({ op: 'give', prize: g.prize, player: g.player, item: g.item, count: g.count });
      if (g.state !== 'sent') lines.push({ op: g.state, prize: g.prize });
    }
    for (const [hunt, w] of book.closed) lines.push({ op: 'closed', hunt, ...w });
    const tmp = `${book.file}.tmp`;
    writeFileSync(tmp, lines.map((l) => `${JSON.stringify(l)}\n`).join(''));
    renameSync(tmp, book.file);
    return book;
  }

  /** Records a give; false when the prize is already in the book (given or on its way). */
  give(prize: string, player: string, item: string, count: number): boolean {
    if (this.gives.has(prize)) return false;
    this.write({ op: 'give', prize, player, item, count });
    return true;
  }

  answer(prize: string, state: 'given' | 'held'): GiveEntry | undefined {
    const g = this.gives.get(prize);
    if (!g || g.state === 'given' || g.state === state) return g;
    this.write({ op: state, prize });
    return g;
  }

  windowClosed(hunt: string, start: number, end: number): void {
    const prev = this.closed.get(hunt);
    if (prev && prev.end >= end) return;
    this.write({ op: 'closed', hunt, start, end });
  }

  /** Gives the game has not confirmed: all unanswered ones, and held ones of `online` players. */
  open(online: (player: string) => boolean, player?: string): GiveEntry[] {
    return [...this.gives.values()].filter((g) => (g.state === 'sent' || (g.state === 'held' && online(g.player))) && (player === undefined || g.player === player));
  }

  private write(line: BookLine): void {
    appendFileSync(this.file, `${JSON.stringify(line)}\n`);
    this.apply(line);
  }

  private apply(l: BookLine): void {
    if (l.op === 'give') this.gives.set(l.prize, { prize: l.prize, player: l.player, item: l.item, count: l.count, state: 'sent' });
    else if (l.op === 'closed') {
      const prev = this.closed.get(l.hunt);
      if (!prev || prev.end < l.end) this.closed.set(l.hunt, { start: l.start, end: l.end });
    } else {
      const g = this.gives.get(l.prize);
      if (g && g.state !== 'given') g.state = l.op;
    }
  }
}
