/**
 * msgpack encoding of protocol messages. Hardened for bytes from the network:
 * no structured clone, no records extension, no custom extension types, a size
 * limit checked before decoding, and every decoded message validated before use.
 */
import { Packr, Unpackr } from 'msgpackr';
import { CloseCode, ErrorCode, ProtocolError } from './errors.js';
import { HUNT_ID_RE, MAX_CAP_CHARS, MAX_FRAME_BYTES, MAX_HELLO_CAPS, MAX_PRIZES_PER_FRAME } from './limits.js';
import { binBounds, MsgpackScanError, scanMap, scanMsgpack, type MapLayout } from './msgpack-scan.js';
import { Op, type Batch, type GatewayMessage, type Message, type PluginMessage } from './messages.js';
import type { DiscreteEvent, WireEvent } from './events.js';
import { movesProblem } from './moves-check.js';

const options = {
  structuredClone: false,
  useRecords: false,
  moreTypes: false,
  mapsAsObjects: true,
  bundleStrings: false,
  int64AsType: 'number' as const,
};

const packr = new Packr(options);
const unpackr = new Unpackr(options);

export function encode(msg: Message | object): Buffer {
  return packr.pack(msg);
}

/** Decodes bytes into an unvalidated value, enforcing the frame limit first. */
export function decodeRaw(bytes: Uint8Array, limit = MAX_FRAME_BYTES): unknown {
  if (bytes.byteLength > limit) {
    throw new ProtocolError(ErrorCode.FrameTooLarge, CloseCode.FrameTooLarge, `frame of ${bytes.byteLength} bytes exceeds the limit of ${limit}`);
  }
  const problem = scanMsgpack(bytes);
  if (problem) throw new ProtocolError(ErrorCode.FrameInvalid, CloseCode.FrameInvalid, `frame is not valid msgpack: ${problem}`);
  return decodeScanned(bytes);
}

/**
 * Decodes bytes that protocol/msgpack-scan.ts has already accepted (a whole frame, or one
 * value inside it). Throws a ProtocolError (FrameInvalid) if msgpackr still refuses them.
 */
export function decodeScanned(bytes: Uint8Array): unknown {
  try {
    return unpackr.unpack(bytes);
  } catch (err) {
    throw new ProtocolError(ErrorCode.FrameInvalid, CloseCode.FrameInvalid, `frame is not valid msgpack: ${(err as Error).message}`);
  }
}

/** The frame's layout (see scanMap), or a ProtocolError naming what is wrong with its bytes. */
function scanFrame(bytes: Uint8Array, limit: number): MapLayout {
  if (bytes.byteLength > limit) {
    throw new ProtocolError(ErrorCode.FrameTooLarge, CloseCode.FrameTooLarge, `frame of ${bytes.byteLength} bytes exceeds the limit of ${limit}`);
  }
  try {
    return scanMap(bytes, 'ev');
  } catch (err) {
    if (err instanceof MsgpackScanError) bad(`frame is not valid msgpack: ${err.message}`);
    throw err;
  }
}

/**
 * Where a decoded batch's events and moves block sit in the frame they were validated
 * from: the gateway writes exactly these bytes to Kinesis (gateway/batch-records.ts),
 * never an encoding of its own. Keyed by the batch's `ev` array.
 */
export interface BatchLayout {
  frame: Uint8Array;
  /** [start0, end0, start1, end1, ...] of each event of `ev` */
  at: number[];
  /** [start, end] of the moves block's bytes (inside its bin header), when the batch has one */
  moves: [number, number] | undefined;
}

const layouts = new WeakMap<readonly WireEvent[], BatchLayout>();

/** The layout of a batch decodePluginMessage returned, by its `ev` array; undefined for events that did not come from a frame. */
export function batchLayout(ev: readonly WireEvent[]): BatchLayout | undefined {
  return layouts.get(ev);
}

function bad(what: string): never {
  throw new ProtocolError(ErrorCode.FrameInvalid, CloseCode.FrameInvalid, what);
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStr = (v: unknown, max = 256): v is string => typeof v === 'string' && v.length > 0 && v.length <= max;
const isInt = (v: unknown): v is number => Number.isSafeInteger(v);
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** Checks one discrete event as it arrived; throws a ProtocolError (FrameInvalid) naming the field. */
export function checkEvent(ev: unknown, where: string): asserts ev is DiscreteEvent {
  if (!isObj(ev)) bad(`${where}: not a map`);
  if (!isNum(ev.t)) bad(`${where}.t: must be a number`);
  const k = ev.k;
  if (k === 'delta') bad(`${where}.k: "delta" is not an event since protocol 2: deltas travel in the batch's moves block (mv)`);
  if (!isInt(ev.e) || !isInt(ev.n) || ev.e < 0 || ev.n < 0) bad(`${where}: discrete event needs non-negative integer e and n`);
  if (ev.hunt !== undefined && !(typeof ev.hunt === 'string' && HUNT_ID_RE.test(ev.hunt))) bad(`${where}.hunt: must be a hunt id (${HUNT_ID_RE.source})`);
  switch (k) {
    case 'join':
      if (!isStr(ev.p) || !isInt(ev.i)) bad(`${where}: join needs p and i`);
      return;
    case 'leave':
      if (!isStr(ev.p)) bad(`${where}: leave needs p`);
      return;
    case 'enter':
      if (!isStr(ev.p) || !isStr(ev.hunt) || !isStr(ev.tr) || !isStr(ev.region)) bad(`${where}: enter needs p, hunt, tr, region`);
      if (!Array.isArray(ev.at) || ev.at.length !== 3 || !ev.at.every(isNum)) bad(`${where}.at: must be [x, y, z]`);
      return;
    case 'start':
    case 'rules':
      if (!isStr(ev.hunt) || !isObj(ev.rules) || !isStr(ev.hash)) bad(`${where}: ${k} needs hunt, rules, hash`);
      if (k === 'start' && !isStr(ev.p)) bad(`${where}: start needs p`);
      return;
    case 'stop':
      if (!isStr(ev.p) || !isStr(ev.hunt)) bad(`${where}: stop needs p and hunt`);
      return;
    default:
      bad(`${where}.k: unknown event kind ${JSON.stringify(k)}`);
  }
}

/** Decodes and validates a message sent by a plugin (the gateway's side). */
export function decodePluginMessage(bytes: Uint8Array, limit = MAX_FRAME_BYTES): PluginMessage {
  const layout = scanFrame(bytes, limit);
  // No duplicate key anywhere (the scan refuses them): each element of the decoded `ev`
  // is exactly the bytes of layout.elements at its index.
  const m = decodeScanned(bytes);
  if (!isObj(m)) bad('message is not a map');
  switch (m.op) {
    case Op.Hello:
      if (!isInt(m.v)) bad('hello.v: must be an integer');
      if (!isStr(m.server, 64) || !/^[A-Za-z0-9_.:-]+$/.test(m.server)) bad('hello.server: must be 1-64 characters of A-Z a-z 0-9 _ . : -');
      if (!isInt(m.epoch) || m.epoch < 0) bad('hello.epoch: must be a non-negative integer');
      if (typeof m.token !== 'string') bad('hello.token: must be a string');
      if (m.caps !== undefined && !(Array.isArray(m.caps) && m.caps.length <= MAX_HELLO_CAPS && m.caps.every((c) => isStr(c, MAX_CAP_CHARS)))) {
        bad(`hello.caps: must be a list of at most ${MAX_HELLO_CAPS} feature names (1-${MAX_CAP_CHARS} characters each)`);
      }
      return m as unknown as PluginMessage;
    case Op.Batch: {
      if (!isInt(m.seq) || m.seq < 1) bad('batch.seq: must be a positive integer');
      if (!isNum(m.wm)) bad('batch.wm: must be a number');
      if (!Array.isArray(m.ev) || !layout.elements) bad('batch.ev: must be an array');
      m.ev.forEach((ev, i) => checkEvent(ev, `batch.ev[${i}]`));
      let moves: [number, number] | undefined;
      const mv = layout.entries.find((en) => en.key === 'mv');
      if (mv) {
        moves = binBounds(bytes, mv.start, mv.end);
        if (!moves) bad('batch.mv: must be binary (the moves block)');
        const problem = movesProblem(bytes.subarray(moves[0], moves[1]));
        if (problem) bad(`batch.mv: ${problem}`);
        m.mv = bytes.subarray(moves[0], moves[1]);
      }
      layouts.set(m.ev as WireEvent[], { frame: bytes, at: layout.elements, moves });
      return m as unknown as Batch;
    }
    case Op.PrizeAck:
      if (!Array.isArray(m.ids) || !m.ids.every((id) => isStr(id, 64))) bad('prize-ack.ids: must be an array of ids');
      return m as unknown as PluginMessage;
    case Op.Query:
      if (!isInt(m.id) || m.id < 0) bad('query.id: must be a non-negative integer');
      if (m.q !== 'status' && m.q !== 'leaderboard') bad(`query.q: must be "status" or "leaderboard", got ${JSON.stringify(m.q)}`);
      if (!isStr(m.hunt, 64)) bad('query.hunt: must be a hunt id');
      if (m.n !== undefined && (!isInt(m.n) || m.n < 1 || m.n > 100)) bad('query.n: must be an integer from 1 to 100');
      if (m.player !== undefined && !isStr(m.player, 64)) bad('query.player: must be a player id');
      return m as unknown as PluginMessage;
    default:
      bad(`op ${JSON.stringify(m.op)} is not a plugin message`);
  }
}

/** Checks a Prize or WindowClosed (alone, or an item of a Prizes frame); `where` names it in the error. */
function checkDelivery(m: Record<string, unknown>, where: string): void {
  if (m.op === Op.Prize) {
    if (!isStr(m.id) || !isStr(m.hunt) || !isStr(m.reason) || !isStr(m.player) || !isStr(m.item) || !isInt(m.count)) {
      bad(`${where}: a prize needs id, hunt, reason, player, item, count`);
    }
  } else if (!isStr(m.id) || !isStr(m.hunt) || !isNum(m.start) || !isNum(m.end)) {
    bad(`${where}: a window-closed needs id, hunt, start, end`);
  }
}

/** Decodes and validates a message sent by the gateway (the plugin's side). */
export function decodeGatewayMessage(bytes: Uint8Array, limit = MAX_FRAME_BYTES): GatewayMessage {
  const m = decodeRaw(bytes, limit);
  if (!isObj(m)) bad('message is not a map');
  switch (m.op) {
    case Op.Welcome:
      if (!isInt(m.durable)) bad('welcome.durable: must be an integer');
      break;
    case Op.Ack:
      if (!isInt(m.seq)) bad('ack.seq: must be an integer');
      break;
    case Op.Prize:
    case Op.WindowClosed:
      checkDelivery(m, m.op === Op.Prize ? 'prize' : 'window-closed');
      break;
    case Op.Prizes:
      if (!Array.isArray(m.items) || m.items.length === 0 || m.items.length > MAX_PRIZES_PER_FRAME) bad(`prizes.items: must be a list of 1 to ${MAX_PRIZES_PER_FRAME} deliveries`);
      m.items.forEach((item, i) => {
        if (!isObj(item) || (item.op !== Op.Prize && item.op !== Op.WindowClosed)) bad(`prizes.items[${i}]: must be a prize (op ${Op.Prize}) or a window-closed (op ${Op.WindowClosed})`);
        checkDelivery(item, `prizes.items[${i}]`);
      });
      break;
    case Op.Error:
      if (typeof m.code !== 'string' || typeof m.message !== 'string') bad('error: needs code and message');
      break;
    case Op.Reply:
      if (!isInt(m.id) || typeof m.ok !== 'boolean') bad('reply: needs id and ok');
      if (m.data !== undefined && !isObj(m.data)) bad('reply.data: must be a map');
      if (m.error !== undefined && typeof m.error !== 'string') bad('reply.error: must be a string');
      break;
    default:
      bad(`op ${JSON.stringify(m.op)} is not a gateway message`);
  }
  return m as unknown as GatewayMessage;
}
