/**
 * The sidecar's local protocol (docs/sidecar-protocol.md): NDJSON lines between a game
 * server's bridge (hosts/java-bridge) and `cairn sidecar`. This file parses and validates
 * what the game sends, strictly, so the plugin never sees a malformed sample: a bad line
 * throws a BridgeLineError naming the line number and the field, and the session closes.
 */
import { ID_PATTERN, ID_RE } from '../../protocol/limits.js';

export const BRIDGE_PROTOCOL_VERSION = 1;
/** Longest line accepted (bytes, without the \n); a join with many permission nodes fits easily. */
export const MAX_BRIDGE_LINE_BYTES = 64 * 1024;
/** Strings the plugin puts on the wire are 1-256 characters (protocol/codec.ts). */
const MAX_STRING = 256;
/** A command line as typed by a player; longer ones are refused, not cut. */
const MAX_COMMAND_CHARS = 4096;
const MAX_PERMS = 1024;

export interface HelloLine {
  type: 'hello';
  v: number;
  server: string;
  /** one id per run of the game process: a new boot means every player's session ended */
  boot: string;
  /**
   * the game's clock at connect time: with --clock game, the plugin's start time when the
   * sidecar has no journal yet (it never moves the clock: only samples and watermarks do)
   */
  t?: number;
}

/** The game's answer to a give. */
export interface AnswerLine {
  type: 'given' | 'held';
  prize: string;
}

/**
 * Lines in the game's ordered stream: numbered from 1 per boot, journaled, acked. `n` may
 * be left out (0 here): the line is then the one after the last (the bridge writes moves
 * so, in the trace's own format, which the sidecar reads on a fast path).
 */
export type SeqLine = { n: number; t: number } & (
  | { type: 'join'; player: string; perms: string[] }
  | { type: 'perms'; player: string; perms: string[] }
  | { type: 'leave'; player: string }
  | { type: 'move'; player: string; region: string; at: [number, number, number] }
  | { type: 'inventory'; player: string; item: string; count: number }
  | { type: 'command'; player: string; line: string }
  | { type: 'watermark' }
);

export type GameLine = HelloLine | AnswerLine | SeqLine;

/** A line the sidecar refuses: which line of the connection, which field, what is wrong. */
export class BridgeLineError extends Error {
  constructor(
    readonly line: number,
    readonly field: string | undefined,
    readonly why: string,
  ) {
    super(`line ${line}${field ? `, field "${field}"` : ''}: ${why}`);
  }
}

type Obj = Record<string, unknown>;

function bad(line: number, field: string | undefined, why: string): never {
  throw new BridgeLineError(line, field, why);
}

/** Parses one line (without its \n). `lineNo` counts the connection's lines from 1. */
export function parseGameLine(text: string, lineNo: number): GameLine {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    return bad(lineNo, undefined, `not JSON (${(err as Error).message}): ${preview(text)}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return bad(lineNo, undefined, 'a line must be one JSON object');
  const o = v as Obj;
  const type = o.type;
  switch (type) {
    case 'move': {
      // The hot path: checked field by field, one object built.
      const n = seqNo(o, lineNo);
      const t = time(o, 't', lineNo);
      const player = id(o, 'player', lineNo);
      const region = str(o, 'region', MAX_STRING, lineNo);
      const at = o.at;
      if (!Array.isArray(at) || at.length !== 3) return bad(lineNo, 'at', 'must be [x, y, z]');
      const x = at[0] as unknown;
      const y = at[1] as unknown;
      const z = at[2] as unknown;
      if (typeof x !== 'number' || typeof y !== 'number' || typeof z !== 'number' || !Number.isFinite(x + y + z)) return bad(lineNo, 'at', 'must be three finite numbers');
      return { n, t, type, player, region, at: at as [number, number, number] };
    }
    case 'hello': {
      if (typeof o.v !== 'number') return bad(lineNo, 'v', 'missing or not a number');
      const hello: HelloLine = { type: 'hello', v: o.v, server: id(o, 'server', lineNo), boot: id(o, 'boot', lineNo) };
      if (o.t !== undefined) hello.t = time(o, 't', lineNo);
      return hello;
    }
    case 'given':
    case 'held':
      return { type, prize: str(o, 'prize', MAX_STRING * 2 + 1, lineNo) };
    case 'watermark':
      return { n: seqNo(o, lineNo), t: time(o, 't', lineNo), type };
    case 'join':
    case 'perms': {
      const n = seqNo(o, lineNo);
      const t = time(o, 't', lineNo);
      const player = id(o, 'player', lineNo);
      const perms = o.perms ?? [];
      if (!Array.isArray(perms) || perms.length > MAX_PERMS) return bad(lineNo, 'perms', `must be an array of at most ${MAX_PERMS} permission nodes`);
      for (let i = 0; i < perms.length; i++) {
        const p = perms[i] as unknown;
        if (typeof p !== 'string' || p.length === 0 || p.length > MAX_STRING) bad(lineNo, `perms[${i}]`, `must be a string of 1-${MAX_STRING} characters`);
      }
      return { n, t, type, player, perms: perms as string[] };
    }
    case 'leave':
      return { n: seqNo(o, lineNo), t: time(o, 't', lineNo), type, player: id(o, 'player', lineNo) };
    case 'inventory': {
      const n = seqNo(o, lineNo);
      const t = time(o, 't', lineNo);
      const player = id(o, 'player', lineNo);
      const item = str(o, 'item', MAX_STRING, lineNo);
      const count = o.count;
      if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 0) return bad(lineNo, 'count', 'must be an integer >= 0');
      return { n, t, type, player, item, count };
    }
    case 'command': {
      const n = seqNo(o, lineNo);
      const t = time(o, 't', lineNo);
      return { n, t, type, player: str(o, 'player', MAX_STRING, lineNo), line: str(o, 'line', MAX_COMMAND_CHARS, lineNo) };
    }
    default:
      if (typeof type !== 'string') return bad(lineNo, 'type', 'missing or not a string');
      return bad(lineNo, 'type', `unknown type ${JSON.stringify(type)} (known: hello, join, perms, leave, move, command, inventory, watermark, given, held)`);
  }
}

/** The line's number; 0 when it has none (it is then the one after the last). */
function seqNo(o: Obj, line: number): number {
  const n = o.n;
  if (n === undefined) return 0;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1) bad(line, 'n', "must be an integer >= 1 (the line's number in this boot's stream)");
  return n as number;
}

function time(o: Obj, field: string, line: number): number {
  const t = o[field];
  if (typeof t !== 'number' || !Number.isSafeInteger(t) || t < 0) bad(line, field, 'must be a time in ms since the Unix epoch (an integer >= 0)');
  return t as number;
}

function id(o: Obj, field: string, line: number): string {
  const s = o[field];
  if (typeof s !== 'string' || !ID_RE.test(s)) bad(line, field, `must match ${ID_PATTERN}, got ${preview(JSON.stringify(s) ?? 'nothing')}`);
  return s as string;
}

function str(o: Obj, field: string, max: number, line: number): string {
  const s = o[field];
  if (typeof s !== 'string' || s.length === 0 || s.length > max) bad(line, field, `must be a string of 1-${max} characters`);
  return s as string;
}

function preview(s: string): string {
  return s.length > 80 ? `${s.slice(0, 80)}...` : s;
}
