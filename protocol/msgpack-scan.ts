/**
 * A structural scan of msgpack bytes from the network, run before decoding: only nil,
 * booleans, numbers, strings, binary, arrays and maps are allowed, nested at most
 * MAX_DEPTH deep, with lengths that fit the frame. Extension types are refused: msgpackr
 * decodes its own extensions (records, RegExp, Error, Date, Set...) whatever the
 * Unpackr's options, and a record definition would change how later bytes decode.
 */
export const MAX_DEPTH = 32;

const TRUNCATED = 'truncated msgpack';

export function scanMsgpack(buf: Uint8Array): string | undefined {
  const len = buf.length;
  // Items still to read at each open container level.
  const left = new Float64Array(MAX_DEPTH + 2);
  let depth = 0;
  left[0] = 1;
  let pos = 0;
  for (;;) {
    while (left[depth] === 0) {
      if (depth === 0) return pos === len ? undefined : 'trailing bytes after the msgpack value';
      depth--;
    }
    left[depth]! -= 1;
    if (pos >= len) return TRUNCATED;
    const b = buf[pos++]!;
    let items = -1;
    if (b <= 0x7f || b >= 0xe0) continue;
    if (b <= 0x8f) items = (b & 0x0f) * 2;
    else if (b <= 0x9f) items = b & 0x0f;
    else if (b <= 0xbf) {
      pos += b & 0x1f;
    } else {
      switch (b) {
        case 0xc0: case 0xc2: case 0xc3: break;
        case 0xcc: case 0xd0: pos += 1; break;
        case 0xcd: case 0xd1: pos += 2; break;
        case 0xce: case 0xd2: case 0xca: pos += 4; break;
        case 0xcf: case 0xd3: case 0xcb: pos += 8; break;
        case 0xd9: case 0xc4:
          if (pos + 1 > len) return TRUNCATED;
          pos += 1 + buf[pos]!;
          break;
        case 0xda: case 0xc5:
          if (pos + 2 > len) return TRUNCATED;
          pos += 2 + ((buf[pos]! << 8) | buf[pos + 1]!);
          break;
        case 0xdb: case 0xc6:
          if (pos + 4 > len) return TRUNCATED;
          pos += 4 + (buf[pos]! * 0x1000000 + ((buf[pos + 1]! << 16) | (buf[pos + 2]! << 8) | buf[pos + 3]!));
          break;
        case 0xdc: case 0xde:
          if (pos + 2 > len) return TRUNCATED;
          items = (buf[pos]! << 8) | buf[pos + 1]!;
          if (b === 0xde) items *= 2;
          pos += 2;
          break;
        case 0xdd: case 0xdf:
          if (pos + 4 > len) return TRUNCATED;
          items = buf[pos]! * 0x1000000 + ((buf[pos + 1]! << 16) | (buf[pos + 2]! << 8) | buf[pos + 3]!);
          if (b === 0xdf) items *= 2;
          pos += 4;
          break;
        default:
          return `msgpack type 0x${b.toString(16)} (extension or reserved) is not allowed`;
      }
    }
    if (items >= 0) {
      // Every item takes at least one byte: a count beyond the frame is a lie.
      if (items > len - pos) return 'msgpack container longer than the frame';
      if (depth >= MAX_DEPTH) return `msgpack nested deeper than ${MAX_DEPTH}`;
      left[++depth] = items;
    } else if (pos > len) {
      return TRUNCATED;
    }
  }
}
