/**
 * The replay trace format (DESIGN.md "Replay: the trace format"): NDJSON in time order,
 * one raw sample per line. Reading validates every line and names the line that is wrong.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { TraceError, type Vec3 } from '../../protocol/index.js';

export type TraceLine =
  | { t: number; server: string; type: 'join'; player: string; perms: string[] }
  | { t: number; server: string; type: 'leave'; player: string }
  | { t: number; server: string; type: 'move'; player: string; region: string; at: Vec3 }
  | { t: number; server: string; type: 'inventory'; player: string; item: string; count: number }
  | { t: number; server: string; type: 'command'; player: string; line: string };

const ID = /^[A-Za-z0-9_.:-]{1,64}$/;
const TYPES = ['join', 'leave', 'move', 'inventory', 'command'];

/** Validates one parsed line; returns an error message or undefined. */
function problem(v: unknown): string | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'must be a JSON object';
  const o = v as Record<string, unknown>;
  if (!Number.isSafeInteger(o.t) || (o.t as number) < 0) return '"t" must be a non-negative integer (ms since the Unix epoch)';
  if (typeof o.server !== 'string' || !ID.test(o.server)) return '"server" must be 1-64 characters of A-Z a-z 0-9 _ . : -';
  if (typeof o.type !== 'string' || !TYPES.includes(o.type)) return `"type" must be one of ${TYPES.join(', ')}`;
  if (typeof o.player !== 'string' || !ID.test(o.player)) return '"player" must be 1-64 characters of A-Z a-z 0-9 _ . : -';
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

/** Streams a trace file, validated, checking time order. Blank lines are skipped. */
export async function* readTrace(file: string): AsyncGenerator<TraceLine & { lineNo: number }> {
  const rl = createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity });
  let lineNo = 0;
  let lastT = -Infinity;
  try {
    for await (const text of rl) {
      lineNo++;
      if (!text.trim()) continue;
      const s = parseTraceLine(text, file, lineNo);
      if (s.t < lastT) throw new TraceError(file, lineNo, `"t" ${s.t} is earlier than the previous line's ${lastT}: a trace must be in time order`);
      lastT = s.t;
      yield Object.assign(s, { lineNo });
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new TraceError(file, 0, 'file not found');
    throw err;
  }
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
  for await (const s of readTrace(file)) {
    if (lines === 0) firstT = s.t;
    lastT = s.t;
    lines++;
    servers.add(s.server);
  }
  if (lines === 0) throw new TraceError(file, 0, 'the trace is empty');
  return { servers: [...servers].sort(), lines, firstT, lastT };
}
