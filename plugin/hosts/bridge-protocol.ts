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

/** Lines in the game's ordered stream: numbered from 1 per boot, journaled, acked. */
export type SeqLine = { n: number; t: number } & (
  | { type: 'join'; player: string; perms: string[] }
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

/** Parses one line (without its \n). `lineNo` counts the connection's lines from 1. */
export function parseGameLine(text: string, lineNo: number): GameLine {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new BridgeLineError(lineNo, undefined, `not JSON (${(err as Error).message}): ${preview(text)}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new BridgeLineError(lineNo, undefined, 'a line must be one JSON object');
  const o = v as Obj;
  const fail = (field: string, why: string): never => {
    throw new BridgeLineError(lineNo, field, why);
  };
  const type = o.type;
  if (typeof type !== 'string') fail('type', 'missing or not a string');
  switch (type) {
    case 'hello': {
      if (typeof o.v !== 'number') fail('v', 'missing or not a number');
      const server = id(o, 'server', fail);
      const boot = id(o, 'boot', fail);
      const hello: HelloLine = { type: 'hello', v: o.v as number, server, boot };
      if (o.t !== undefined) hello.t = time(o, 't', fail);
      return hello;
    }
    case 'given':
    case 'held':
      return { type, prize: str(o, 'prize', MAX_STRING * 2 + 1, fail) };
    case 'join':
    case 'leave':
    case 'move':
    case 'inventory':
    case 'command':
    case 'watermark':
      return seqLine(o, type, fail);
    default:
      return fail('type', `unknown type ${JSON.stringify(type)} (known: hello, join, leave, move, command, inventory, watermark, given, held)`);
  }
}

function seqLine(o: Obj, type: SeqLine['type'], fail: (field: string, why: string) => never): SeqLine {
  const n = o.n;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1) fail('n', 'must be an integer >= 1 (the line\'s number in this boot\'s stream)');
  const t = time(o, 't', fail);
  const base = { n: n as number, t };
  if (type === 'watermark') return { ...base, type };
  const player = type === 'command' ? str(o, 'player', MAX_STRING, fail) : id(o, 'player', fail);
  switch (type) {
    case 'join': {
      const perms = o.perms ?? [];
      if (!Array.isArray(perms) || perms.length > MAX_PERMS) fail('perms', `must be an array of at most ${MAX_PERMS} permission nodes`);
      (perms as unknown[]).forEach((p, i) => {
        if (typeof p !== 'string' || p.length === 0 || p.length > MAX_STRING) fail(`perms[${i}]`, `must be a string of 1-${MAX_STRING} characters`);
      });
      return { ...base, type, player, perms: perms as string[] };
    }
    case 'leave':
      return { ...base, type, player };
    case 'move': {
      const region = str(o, 'region', MAX_STRING, fail);
      const at = o.at;
      if (!Array.isArray(at) || at.length !== 3) fail('at', 'must be [x, y, z]');
      const [x, y, z] = at as unknown[];
      if (typeof x !== 'number' || typeof y !== 'number' || typeof z !== 'number' || !Number.isFinite(x + y + z)) fail('at', 'must be three finite numbers');
      return { ...base, type, player, region, at: at as [number, number, number] };
    }
    case 'inventory': {
      const item = str(o, 'item', MAX_STRING, fail);
      const count = o.count;
      if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 0) fail('count', 'must be an integer >= 0');
      return { ...base, type, player, item, count: count as number };
    }
    case 'command':
      return { ...base, type, player, line: str(o, 'line', MAX_COMMAND_CHARS, fail) };
  }
}

function time(o: Obj, field: string, fail: (field: string, why: string) => never): number {
  const t = o[field];
  if (typeof t !== 'number' || !Number.isSafeInteger(t) || t < 0) fail(field, 'must be a time in ms since the Unix epoch (an integer >= 0)');
  return t as number;
}

function id(o: Obj, field: string, fail: (field: string, why: string) => never): string {
  const s = o[field];
  if (typeof s !== 'string' || !ID_RE.test(s)) fail(field, `must match ${ID_PATTERN}, got ${preview(JSON.stringify(s) ?? 'nothing')}`);
  return s as string;
}

function str(o: Obj, field: string, max: number, fail: (field: string, why: string) => never): string {
  const s = o[field];
  if (typeof s !== 'string' || s.length === 0 || s.length > max) fail(field, `must be a string of 1-${max} characters`);
  return s as string;
}

function preview(s: string): string {
  return s.length > 80 ? `${s.slice(0, 80)}...` : s;
}
