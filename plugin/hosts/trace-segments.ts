/**
 * The validating pass of `cairn replay` over a trace, split so that more than one thread can
 * share it, and kept so that the replay need not parse the trace again.
 *
 * The file is cut into segments of SEGMENT_BYTES by byte offset (a segment holds the lines
 * that start in it: trace.ts `TraceRange`), and each segment is read on its own: validated,
 * numbered from 1 and checked for time order within itself, its lines kept as a block
 * (trace-blocks.ts). Whoever reads segments (this thread, or a helper such as the replay's
 * back-end thread: a `SegmentReader`) takes the next one not yet taken, so a busy helper
 * takes fewer. The results are then joined in file order: line numbers offset by the lines
 * before, the time order checked across each boundary, and the first problem in file order
 * reported, in the same words and with the same line number as one pass over the file gives.
 *
 * Only the first CACHE_TEXT_BYTES of a trace are kept (about 110 MB of blocks); the replay
 * reads a longer trace's remainder from the file again.
 */
import { stat } from 'node:fs/promises';
import { TraceError } from '../../protocol/index.js';
import { readTraceChunks, readTraceInto, type TraceLine, type TraceProgress, type TraceRange, type TraceSink, type TraceSummary } from './trace.js';
import { blockLines, TraceBlockBuilder, type TraceBlock } from './trace-blocks.js';

/** A segment's size: small enough that two readers end close together, large enough that handing one out costs nothing. */
export const SEGMENT_BYTES = 4 << 20;
/** A little under a recorded move line's length (110-130 bytes), to size a segment's block. */
const BYTES_PER_LINE = 100;
/** Trace text whose lines the validating pass keeps for the replay. */
export const CACHE_TEXT_BYTES = 256 << 20;

/** What reading one segment found. */
export interface SegmentResult {
  /** lines in the segment, blank ones included */
  lineCount: number;
  /** non-blank lines */
  count: number;
  /** the first non-blank line and its number within the segment */
  first?: { t: number; lineNo: number };
  lastT: number;
  servers: string[];
  /** the first problem, by its line number within the segment */
  error?: { lineNo: number; problem: string };
  /** the segment's lines, when asked to keep them */
  block?: TraceBlock;
}

/** Something that reads segments elsewhere (another thread). */
export interface SegmentReader {
  /** Settles when the reader can start (until then the segments are read here). */
  readonly ready?: Promise<unknown>;
  readSegment(file: string, range: TraceRange, keep: boolean): Promise<SegmentResult>;
}

/** Reads the segment of a trace that `range` holds: validated, and its lines kept in a block when `keep`. */
export async function readSegment(file: string, range: TraceRange, keep: boolean): Promise<SegmentResult> {
  const progress: TraceProgress = { lineNo: 0, lastT: -Infinity };
  const servers = new Set<string>();
  // Sized for the segment's lines at about BYTES_PER_LINE each, so that it seldom grows:
  // doubling from a small start allocated, zeroed and copied 2.5x the final arrays.
  const capacity = Number.isFinite(range.to) ? Math.ceil((range.to - range.from) / BYTES_PER_LINE) + 64 : 8192;
  const builder = keep ? new TraceBlockBuilder(capacity) : undefined;
  let count = 0;
  let error: SegmentResult['error'];
  let server = '';
  const sink: TraceSink = {
    scanned: (m) => {
      count++;
      if (m.server !== server) servers.add((server = m.server));
      builder?.addMove(m.t, m.server, m.player, m.region, m.x, m.y, m.z);
    },
    parsed: (line) => {
      count++;
      if (line.server !== server) servers.add((server = line.server));
      builder?.add(line);
    },
  };
  try {
    for await (const _ of readTraceInto(file, sink, range, progress));
  } catch (err) {
    if (!(err instanceof TraceError)) throw err;
    error = { lineNo: err.line, problem: err.problem };
  }
  return {
    lineCount: progress.lineNo,
    count,
    ...(progress.first ? { first: progress.first } : {}),
    lastT: progress.lastT,
    servers: [...servers],
    ...(error ? { error } : {}),
    ...(builder && !error ? { block: builder.finish() } : {}),
  };
}

/** A trace that passed validation: its summary, and its lines as blocks or as ranges of the file still to read. */
export interface ValidatedTrace {
  file: string;
  summary: TraceSummary;
  parts: ({ block: TraceBlock } | { range: TraceRange })[];
}

/**
 * The validating pass: reads every segment, here and on the helpers (each takes the next
 * segment when it is done with one), and joins the results. Throws the TraceError that one
 * pass over the file throws for the first problem in it.
 */
export async function validateTrace(file: string, opts: { helpers?: readonly SegmentReader[]; cacheTextBytes?: number; segmentBytes?: number } = {}): Promise<ValidatedTrace> {
  let size: number;
  try {
    size = (await stat(file)).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new TraceError(file, 0, 'file not found');
    throw err;
  }
  const bytes = opts.segmentBytes ?? SEGMENT_BYTES;
  const segments = Math.max(1, Math.ceil(size / bytes));
  const ranges = Array.from({ length: segments }, (_, k) => ({ from: k * bytes, to: k === segments - 1 ? Infinity : (k + 1) * bytes }));
  const kept = Math.ceil((opts.cacheTextBytes ?? CACHE_TEXT_BYTES) / bytes);
  const results: SegmentResult[] = new Array(segments);
  let next = 0;
  // Past a segment with a problem nothing more is needed.
  let limit = segments;
  const take = async (read: (index: number, keep: boolean) => Promise<SegmentResult>) => {
    const index = next++;
    const r = await read(index, index < kept);
    results[index] = r;
    if (r.error && index < limit) limit = index + 1;
  };
  const here = (i: number, keep: boolean) => readSegment(file, ranges[i]!, keep);
  const current = new Set<Promise<void>>();
  let thrown: { err: unknown } | undefined;
  const helping = async (h: SegmentReader) => {
    if (h.ready) {
      try {
        await h.ready;
      } catch {
        return; // never started: takes no part
      }
    }
    // A helper that fails (its thread died) hands its segment back and takes no more.
    let failed = false;
    const read = (i: number, keep: boolean) => (failed ? here(i, keep) : h.readSegment(file, ranges[i]!, keep).catch(() => ((failed = true), here(i, keep))));
    while (next < limit) {
      const p = take(read);
      current.add(p);
      try {
        await p;
      } catch (err) {
        thrown ??= { err };
        return;
      } finally {
        current.delete(p);
      }
    }
  };
  for (const h of opts.helpers ?? []) void helping(h);
  while (next < limit) await take(here);
  // What the helpers still read; one not ready yet takes nothing more, and is not waited for.
  while (current.size > 0) await Promise.allSettled(current);
  if (thrown) throw thrown.err;
  return join(file, results.slice(0, limit), ranges);
}

function join(file: string, results: SegmentResult[], ranges: TraceRange[]): ValidatedTrace {
  const servers = new Set<string>();
  const parts: ValidatedTrace['parts'] = [];
  let lineBase = 0;
  let lines = 0;
  let firstT = NaN;
  let lastT = -Infinity;
  for (const [index, r] of results.entries()) {
    if (r.first && r.first.t < lastT) {
      throw new TraceError(file, lineBase + r.first.lineNo, `"t" ${r.first.t} is earlier than the previous line's ${lastT}: a trace must be in time order`);
    }
    if (r.error) throw new TraceError(file, lineBase + r.error.lineNo, r.error.problem);
    lineBase += r.lineCount;
    if (r.count === 0) continue;
    if (lines === 0) firstT = r.first!.t;
    lines += r.count;
    lastT = r.lastT;
    for (const s of r.servers) servers.add(s);
    const last = parts.at(-1);
    if (r.block) parts.push({ block: r.block });
    else if (last && 'range' in last && last.range.to === ranges[index]!.from) last.range.to = ranges[index]!.to;
    else parts.push({ range: { ...ranges[index]! } });
  }
  if (lines === 0) throw new TraceError(file, 0, 'the trace is empty');
  return { file, summary: { servers: [...servers].sort(), lines, firstT, lastT }, parts };
}

/** The lines of a validated trace, in arrays: from its blocks, and from the file where none were kept. */
export async function* validatedLines(trace: ValidatedTrace): AsyncGenerator<TraceLine[]> {
  for (const part of trace.parts) {
    if ('block' in part) yield* blockLines(part.block);
    else yield* readTraceChunks(trace.file, part.range);
  }
}
