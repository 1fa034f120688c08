/**
 * Where each event of a batch frame sits in the frame's bytes, so the gateway can put
 * an event into a Kinesis record as the plugin encoded it instead of encoding it again
 * (the per-event encode was the gateway's largest per-event cost).
 *
 * Runs only on frames that protocol/msgpack-scan.ts has accepted and decodePluginMessage
 * has validated as a Batch, so the structure is known to be sound; anything unexpected
 * still just returns undefined and the caller encodes the events itself.
 */

const EV_KEY = 0xa2; // fixstr of length 2: the key "ev"

/** Position after the msgpack value at `pos`, or -1 for bytes this reader does not take. */
function skip(buf: Buffer, pos: number): number {
  let left = 1;
  const len = buf.length;
  while (left > 0) {
    if (pos >= len) return -1;
    left--;
    const b = buf[pos++]!;
    if (b <= 0x7f || b >= 0xe0) continue;
    if (b <= 0x8f) left += (b & 0x0f) * 2;
    else if (b <= 0x9f) left += b & 0x0f;
    else if (b <= 0xbf) pos += b & 0x1f;
    else {
      switch (b) {
        case 0xc0: case 0xc2: case 0xc3: break;
        case 0xcc: case 0xd0: pos += 1; break;
        case 0xcd: case 0xd1: pos += 2; break;
        case 0xce: case 0xd2: case 0xca: pos += 4; break;
        case 0xcf: case 0xd3: case 0xcb: pos += 8; break;
        case 0xd9: case 0xc4: pos += 1 + buf[pos]!; break;
        case 0xda: case 0xc5: pos += 2 + buf.readUInt16BE(pos); break;
        case 0xdb: case 0xc6: pos += 4 + buf.readUInt32BE(pos); break;
        case 0xdc: left += buf.readUInt16BE(pos); pos += 2; break;
        case 0xdd: left += buf.readUInt32BE(pos); pos += 4; break;
        case 0xde: left += buf.readUInt16BE(pos) * 2; pos += 2; break;
        case 0xdf: left += buf.readUInt32BE(pos) * 2; pos += 4; break;
        default: return -1; // extension types: refused by the scan before we get here
      }
    }
  }
  return pos > len ? -1 : pos;
}

/** Header of a map or array at `pos`: [count, position after the header], or undefined. */
function header(buf: Buffer, pos: number, kind: 'map' | 'array'): [number, number] | undefined {
  const b = buf[pos];
  if (b === undefined) return undefined;
  if (kind === 'map') {
    if (b >= 0x80 && b <= 0x8f) return [b & 0x0f, pos + 1];
    if (b === 0xde && pos + 3 <= buf.length) return [buf.readUInt16BE(pos + 1), pos + 3];
    if (b === 0xdf && pos + 5 <= buf.length) return [buf.readUInt32BE(pos + 1), pos + 5];
  } else {
    if (b >= 0x90 && b <= 0x9f) return [b & 0x0f, pos + 1];
    if (b === 0xdc && pos + 3 <= buf.length) return [buf.readUInt16BE(pos + 1), pos + 3];
    if (b === 0xdd && pos + 5 <= buf.length) return [buf.readUInt32BE(pos + 1), pos + 5];
  }
  return undefined;
}

/**
 * [start0, end0, start1, end1, ...] of the elements of the top-level map's "ev" array,
 * or undefined when the frame is not shaped that way.
 */
export function eventSlices(frame: Buffer): number[] | undefined {
  const top = header(frame, 0, 'map');
  if (!top) return undefined;
  let [entries, pos] = top;
  for (; entries > 0; entries--) {
    const isEv = frame[pos] === EV_KEY && frame[pos + 1] === 0x65 && frame[pos + 2] === 0x76;
    pos = skip(frame, pos);
    if (pos < 0) return undefined;
    if (!isEv) {
      pos = skip(frame, pos);
      if (pos < 0) return undefined;
      continue;
    }
    const arr = header(frame, pos, 'array');
    if (!arr) return undefined;
    let [n, at] = arr;
    const out = new Array<number>(n * 2);
    for (let i = 0; i < n; i++) {
      const end = skip(frame, at);
      if (end < 0) return undefined;
      out[2 * i] = at;
      out[2 * i + 1] = end;
      at = end;
    }
    return out;
  }
  return undefined;
}
