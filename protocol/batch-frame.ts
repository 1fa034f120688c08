/**
 * The gateway's fast path for batch frames: one walk over the frame checks its bytes (what
 * protocol/msgpack-scan.ts checks: lengths within the bytes, strings UTF-8, no key twice,
 * nesting, nothing after the map), locates each event, and checks each discrete event's
 * fields (what codec.ts checkEvent checks) where they lie, with no object built. The
 * gateway forwards those bytes (gateway/batch-records.ts), so nothing needs the events
 * decoded; the live page, which does, decodes them on demand.
 *
 * It accepts a frame only when decodePluginMessage (protocol/codec.ts) accepts it as the
 * same batch: the same seq and watermark, the same events at the same bytes, the same
 * moves block (test/support/frame-fuzz.ts checks this on every fuzzed frame). Anything it
 * is not sure of (another message, a key or an encoding the plugin does not write, and
 * every frame with a problem) it leaves to decodePluginMessage, which accepts it or names
 * what is wrong.
 *
 * The walk over the frame is here; each event's fields are checked by
 * protocol/batch-event-check.ts, and numbers and strings read by protocol/msgpack-read.ts.
 */
import { decodeScanned, batchLayout, type BatchLayout } from './codec.js';
import type { DiscreteEvent } from './events.js';
import { MAX_FRAME_BYTES } from './limits.js';
import { Op, type Batch } from './messages.js';
import { movesValid } from './moves-check.js';
import { eventEnd } from './batch-event-check.js';
import { cur, numberAt, readFrom } from './msgpack-read.js';
import { u16 } from './msgpack-scan.js';

/** A validated batch frame: what the gateway needs to forward it. */
export interface BatchFrame {
  seq: number;
  wm: number;
  /** number of discrete events in `ev` */
  count: number;
  /** where each event and the moves block sit in the frame */
  layout: BatchLayout;
  /** the moves block, when the batch has one */
  mv: Uint8Array | undefined;
  /** The events, decoded (once, on the first call): they were validated already. */
  events(): DiscreteEvent[];
}

/** The BatchFrame of a batch that decodePluginMessage returned (decoded from `frame`). */
export function batchFrameOf(msg: Batch): BatchFrame {
  const layout = batchLayout(msg.ev);
  if (!layout) throw new TypeError('batchFrameOf: the batch was not decoded from a frame');
  return { seq: msg.seq, wm: msg.wm, count: msg.ev.length, layout, mv: msg.mv, events: () => msg.ev };
}

/**
 * The frame as a batch, validated, or undefined when decodePluginMessage must decide
 * (not a batch, not the plugin's usual encoding, or not valid).
 *
 * One walk over the bytes checks what protocol/msgpack-scan.ts would (lengths within the
 * bytes, strings UTF-8, no key twice, nesting, nothing after the map) and what codec.ts
 * checks of a batch and its events, for the keys and encodings a batch has; a key it does
 * not know is left to the decoder.
 */
export function readBatchFrame(bytes: Uint8Array, limit = MAX_FRAME_BYTES): BatchFrame | undefined {
  const len = bytes.length;
  if (len > limit || len < 3) return undefined;
  readFrom(bytes);
  const b = bytes;
  let p: number;
  let n: number;
  if (b[0]! >= 0x80 && b[0]! <= 0x8f) {
    n = b[0]! & 0x0f;
    p = 1;
  } else if (b[0] === 0xde) {
    n = u16(b, 1);
    p = 3;
  } else return undefined;
  let seen = 0;
  let op = NaN;
  let seq = NaN;
  let wm = NaN;
  let at: number[] | undefined;
  let evStart = 0;
  let evEnd = 0;
  let moves: [number, number] | undefined;
  for (let f = 0; f < n; f++) {
    // Keys: "op", "seq", "wm", "ev", "mv" (fixstr); any other goes to the decoder.
    if (p + 3 > len) return undefined;
    const k0 = b[p + 1]!;
    const k1 = b[p + 2]!;
    let key: number;
    if (b[p] === 0xa2) {
      key = k0 === 0x6f && k1 === 0x70 ? 1 : k0 === 0x77 && k1 === 0x6d ? 4 : k0 === 0x65 && k1 === 0x76 ? 8 : k0 === 0x6d && k1 === 0x76 ? 16 : 0;
      p += 3;
    } else if (b[p] === 0xa3 && p + 4 <= len && k0 === 0x73 && k1 === 0x65 && b[p + 3] === 0x71) {
      key = 2;
      p += 4;
    } else return undefined;
    if (key === 0 || seen & key || p >= len) return undefined;
    seen |= key;
    /** Where the value ends when no reader set rp (-1: rp says). */
    let end = -1;
    switch (key) {
      case 1:
        op = numberAt(b, p, len);
        break;
      case 2:
        seq = numberAt(b, p, len);
        break;
      case 4:
        wm = numberAt(b, p, len);
        break;
      case 8: {
        evStart = p;
        let count: number;
        const x = b[p]!;
        if (x >= 0x90 && x <= 0x9f) {
          count = x & 0x0f;
          p += 1;
        } else if (x === 0xdc && p + 3 <= len) {
          count = u16(b, p + 1);
          p += 3;
        } else return undefined;
        if (count > len - p) return undefined;
        at = new Array<number>(2 * count);
        for (let j = 0; j < count; j++) {
          at[2 * j] = p;
          p = eventEnd(b, p, len);
          if (p < 0) return undefined;
          at[2 * j + 1] = p;
        }
        end = evEnd = p;
        break;
      }
      case 16: {
        const x = b[p]!;
        const head = x === 0xc4 ? 2 : x === 0xc5 ? 3 : 0; // bin8, bin16 (a block fits in a frame)
        if (head === 0 || p + head > len) return undefined;
        const size = head === 2 ? b[p + 1]! : u16(b, p + 1);
        const s = p + head;
        if (s + size > len || !movesValid(b.subarray(s, s + size))) return undefined;
        moves = [s, s + size];
        end = s + size;
        break;
      }
    }
    if (end < 0) {
      if (Number.isNaN(cur.rp)) return undefined;
      end = cur.rp;
    }
    p = end;
  }
  if (p !== len || op !== Op.Batch || !Number.isSafeInteger(seq) || seq < 1 || !Number.isFinite(wm) || !at) return undefined;
  let decoded: DiscreteEvent[] | undefined;
  const evBytes = b.subarray(evStart, evEnd);
  return {
    seq,
    wm,
    count: at.length / 2,
    layout: { frame: bytes, at, moves },
    mv: moves ? b.subarray(moves[0], moves[1]) : undefined,
    events: () => (decoded ??= decodeScanned(evBytes) as DiscreteEvent[]),
  };
}
