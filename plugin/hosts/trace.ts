/**
 * The replay trace format (DESIGN.md "Replay: the trace format"): NDJSON in time order,
 * one raw sample per line. Reading validates every line and names the line that is wrong.
 *
 * Reading is on the replay's hot path (`cairn replay` reads a trace twice, and
 * JSON.parse alone caps it near 1 M lines/s): the file is read in 1 MiB chunks and split by
 * hand (readline costs a regex, an event and a promise per line), lines come out in arrays,
 * and move lines written the usual way take a scanner (trace-fast-path.ts) instead of
 * JSON.parse. Line breaks are those of readline: \n, \r\n, or a lone \r.
 */
import { open } from 'node:fs/promises';
import { TraceError, type Vec3 } from '../../protocol/index.js';
import { MoveLineScanner } from './trace-fast-path.js';

export type TraceLine =
  | { t: number; server: string; type: 'join'; player: string; perms: string[] }
  | { t: number; server: string; type: 'leave'; player: string }
  | { t: number; server: string; type: 'move'; player: string; region: string; at: Vec3 }
  | { t: number; server: string; type: 'inventory'; player: string; item: string; count: number }
  | { t: number; server: string; type: 'command'; player: string; line: string };

const ID = /^[A-Za-z0-9_.:-]{1,64}$/;
const TYPES = ['join', 'leave', 'move', 'inventory', 'command'];
const isId = (v: unknown): v is string => typeof v === 'string' && ID.test(v);

/** Validates one parsed line; returns an error message or undefined. */
function problem(v: unknown): string | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'must be a JSON object';
  const o = v as Record<string, unknown>;
  if (!Number.isSafeInteger(o.t) || (o.t as number) < 0) return '"t" must be a non-negative integer (ms since the Unix epoch)';
  if (!isId(o.server)) return '"server" must be 1-64 characters of A-Z a-z 0-9 _ . : -';
  if (typeof o.type !== 'string' || !TYPES.includes(o.type)) return `"type" must be one of ${TYPES.join(', ')}`;
  if (!isId(o.player)) return '"player" must be 1-64 characters of A-Z a-z 0-9 _ . : -';
  switch (o.type) {
    case 'join':
      if (o.perms !== undefined && (!Array.isArray(o.perms) || !o.perms.every((p) => typeof p === 'string'))) return '"perms" must be an array of strings';
      break;
    case 'move':
      if (typeof o.region !== 'string' || !o.region) return '"region" must be a non-empty string';
      if (!Array.isArray(o.at) || o.at.length !== 3 || !o.at.every((n) => typeof n === 'number' && Number.isFinite(n))) return '"at" must be [x, y, z] numbers';
      break;
    case 'inventory':
      if (typeof o.item !== 'string' || !o.item) return '"item" must be a non-empty string';
      if (!Number.isSafeInteger(o.count)) return '"count" must be an integer';
      break;
    case 'command':
      if (typeof o.line !== 'string') return '"line" must be a string';
      break;
  }
  return undefined;
}

export function parseTraceLine(text: string, file: string, lineNo: number): TraceLine {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new TraceError(file, lineNo, `not valid JSON: ${(err as Error).message}`);
  }
  const p = problem(v);
  if (p) throw new TraceError(file, lineNo, p);
  const o = v as TraceLine;
  if (o.type === 'join' && !o.perms) (o as { perms: string[] }).perms = [];
  return o;
}

export type NumberedLine = TraceLine & { lineNo: number };

/** Bytes read from the trace at a time. */
const CHUNK_BYTES = 1 << 20;

/**
 * A part of a trace file by byte offsets: the lines that start at an offset in [from, to).
 * Ranges that meet (one's `to` the next one's `from`) split a file's lines between them,
 * whatever the offsets, so readers can each take a range of one file.
 */
export interface TraceRange {
  from: number;
  to: number;
}

/** What a reader has seen so far, kept up to date line by line (also when it throws). */
export interface TraceProgress {
  /** lines read, blank ones included: the number of the last line read */
  lineNo: number;
  /** the first non-blank line accepted, with its number */
  first?: { t: number; lineNo: number };
  /** the time of the last line accepted */
  lastT: number;
}

/** Receives a reader's lines, in file order. */
export interface TraceSink {
  /** A move line the fast path read: its fields are the scanner's (`t`, `server`, ...) until the next line. */
  scanned(line: MoveLineScanner, lineNo: number): void;
  /** Any other line, parsed and validated. */
  parsed(line: NumberedLine): void;
}

/**
 * Streams a trace file, validated and checked for time order, in arrays of lines (one array
 * per chunk read). Blank lines are skipped (they still count in line numbers). With `range`,
 * only the lines starting in it, numbered and ordered as if they were a file of their own.
 */
export async function* readTraceChunks(file: string, range?: TraceRange, progress?: TraceProgress): AsyncGenerator<NumberedLine[]> {
  let out: NumberedLine[] = [];
  const sink: TraceSink = {
    scanned: (line, lineNo) => out.push(line.line(lineNo) as NumberedLine),
    parsed: (line) => out.push(line),
  };
  for await (const _ of readTraceInto(file, sink, range, progress)) {
    if (out.length === 0) continue;
    const chunk = out;
    out = [];
    yield chunk;
  }
}

/**
 * The reader itself: hands each line to `sink` (a move line of the fast path without making
 * an object of it), and yields after each chunk read.
 */
export async function* readTraceInto(file: string, sink: TraceSink, range?: TraceRange, progress?: TraceProgress): AsyncGenerator<void> {
  let fh;
  try {
    fh = await open(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new TraceError(file, 0, 'file not found');
    throw err;
  }
  const seen: TraceProgress = progress ?? { lineNo: 0, lastT: -Infinity };
  seen.lineNo = 0;
  seen.lastT = -Infinity;
  delete seen.first;
  let rest: Buffer = Buffer.alloc(0);
  const buf = Buffer.allocUnsafe(CHUNK_BYTES);
  const scanner = new MoveLineScanner();
  const inOrder = (t: number) => {
    if (t < seen.lastT) throw new TraceError(file, seen.lineNo, `"t" ${t} is earlier than the previous line's ${seen.lastT}: a trace must be in time order`);
    seen.lastT = t;
    seen.first ??= { t, lineNo: seen.lineNo };
  };
  const take = (text: string) => {
    seen.lineNo++;
    if (text.length === 0 || (text.charCodeAt(0) <= 0x20 && !text.trim())) return;
    const line = parseTraceLine(text, file, seen.lineNo) as NumberedLine;
    inOrder(line.t);
    line.lineNo = seen.lineNo;
    sink.parsed(line);
  };
  /** Splits text that ends where a line ends on \n, \r\n and lone \r (as readline does). */
  const textLines = (text: string) => {
    // A final \r is the first half of the \r\n we cut at, or a lone \r ending the file.
    if (text.endsWith('\r')) text = text.slice(0, -1);
    for (const line of text.split(/\r\n|\r|\n/)) take(line);
  };
  /** Lines of chunk[0, end) where every line ends in \n (or at `end`) and there is no \r. */
  const byteLines = (chunk: Buffer, end: number) => {
    let start = 0;
    while (start <= end) {
      // The scanner finds the line's end itself; only other lines need a search for it.
      let nl: number;
      if (start < end && scanner.read(chunk, start, end)) {
        nl = scanner.lineEnd;
        seen.lineNo++;
        inOrder(scanner.t);
        sink.scanned(scanner, seen.lineNo);
      } else {
        nl = chunk.indexOf(10, start);
        if (nl < 0 || nl > end) nl = end;
        take(chunk.toString('utf8', start, nl));
      }
      start = nl + 1;
    }
  };
  const lines = (chunk: Buffer, end: number) => {
    // A \r anywhere (CRLF files, lone \r breaks): the general splitting, on text.
    const cr = chunk.indexOf(13);
    if (cr >= 0 && cr < end) textLines(chunk.toString('utf8', 0, end));
    else byteLines(chunk, end);
  };
  const to = range?.to ?? Infinity;
  // A range starting inside a line begins after that line: read from the byte before
  // `from`, and skip through the first \n (which is that byte when a line starts at `from`).
  let skipping = range !== undefined && range.from > 0;
  let pos = skipping ? range!.from - 1 : 0;
  /** the file offset of rest[0], which is always where a line starts */
  let restAt = pos;
  try {
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, CHUNK_BYTES, pos);
      if (bytesRead === 0) break;
      pos += bytesRead;
      let chunk = rest.length > 0 ? Buffer.concat([rest, buf.subarray(0, bytesRead)]) : buf.subarray(0, bytesRead);
      let at = restAt;
      if (skipping) {
        const nl = chunk.indexOf(10);
        if (nl < 0) {
          restAt = pos;
          continue;
        }
        skipping = false;
        chunk = chunk.subarray(nl + 1);
        at += nl + 1;
      }
      if (at >= to) return;
      if (at + chunk.length >= to) {
        // The range's last line is the one holding byte to - 1: cut at its \n.
        const end = chunk.indexOf(10, to - 1 - at);
        if (end >= 0) {
          lines(chunk, end);
          yield;
          return;
        }
      }
      // Cut at the last \n: a \n byte is never inside a multi-byte UTF-8 character.
      const cut = chunk.lastIndexOf(10);
      if (cut < 0) {
        rest = Buffer.from(chunk);
        restAt = at;
        continue;
      }
      lines(chunk, cut);
      rest = Buffer.from(chunk.subarray(cut + 1));
      restAt = at + cut + 1;
      yield;
    }
    if (rest.length > 0 && !skipping) {
      lines(rest, rest.length);
      yield;
    }
  } finally {
    await fh.close();
  }
}

/** Streams a trace file, validated, checking time order, one line at a time. Blank lines are skipped. */
export async function* readTrace(file: string): AsyncGenerator<NumberedLine> {
  for await (const chunk of readTraceChunks(file)) yield* chunk;
}

export interface TraceSummary {
  servers: string[];
  lines: number;
  firstT: number;
  lastT: number;
}

/** First pass: validates the whole trace and collects what the replay needs up front. */
export async function summarizeTrace(file: string): Promise<TraceSummary> {
  const servers = new Set<string>();
  let lines = 0;
  let firstT = NaN;
  let lastT = NaN;
  for await (const chunk of readTraceChunks(file)) {
    if (lines === 0) firstT = chunk[0]!.t;
    lastT = chunk.at(-1)!.t;
    lines += chunk.length;
    for (const s of chunk) servers.add(s.server);
  }
  if (lines === 0) throw new TraceError(file, 0, 'the trace is empty');
  return { servers: [...servers].sort(), lines, firstT, lastT };
}
