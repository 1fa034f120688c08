/**
 * A structural scan of msgpack bytes from the network, run before decoding: only nil,
 * booleans, numbers, strings, binary, arrays and maps are allowed, nested at most
 * MAX_DEPTH deep, with lengths that fit the frame. Extension types are refused: msgpackr
 * decodes its own extensions (records, RegExp, Error, Date, Set...) whatever the
 * Unpackr's options, and a record definition would change how later bytes decode.
 */
export const MAX_DEPTH = 32;

export function scanMsgpack(buf: Uint8Array): string | undefined {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let pos = 0;
  // Items still to read at each open container level.
  const stack: number[] = [1];
  while (stack.length) {
    if (stack[stack.length - 1] === 0) {
      stack.pop();
      continue;
    }
    stack[stack.length - 1]!--;
    if (pos >= buf.length) return 'truncated msgpack';
    const b = buf[pos++]!;
    let skip = 0;
    let items = -1;
    if (b <= 0x7f || b >= 0xe0 || b === 0xc0 || b === 0xc2 || b === 0xc3) skip = 0;
    else if (b >= 0x80 && b <= 0x8f) items = (b & 0x0f) * 2;
    else if (b >= 0x90 && b <= 0x9f) items = b & 0x0f;
    else if (b >= 0xa0 && b <= 0xbf) skip = b & 0x1f;
    else {
      const need = (n: number) => pos + n <= buf.length;
      switch (b) {
        case 0xcc: case 0xd0: skip = 1; break;
        case 0xcd: case 0xd1: skip = 2; break;
        case 0xce: case 0xd2: case 0xca: skip = 4; break;
        case 0xcf: case 0xd3: case 0xcb: skip = 8; break;
        case 0xd9: case 0xc4:
          if (!need(1)) return 'truncated msgpack';
          skip = 1 + view.getUint8(pos);
          break;
        case 0xda: case 0xc5:
          if (!need(2)) return 'truncated msgpack';
          skip = 2 + view.getUint16(pos);
          break;
        case 0xdb: case 0xc6:
          if (!need(4)) return 'truncated msgpack';
          skip = 4 + view.getUint32(pos);
          break;
        case 0xdc:
          if (!need(2)) return 'truncated msgpack';
          items = view.getUint16(pos);
          pos += 2;
          break;
        case 0xdd:
          if (!need(4)) return 'truncated msgpack';
          items = view.getUint32(pos);
          pos += 4;
          break;
        case 0xde:
          if (!need(2)) return 'truncated msgpack';
          items = view.getUint16(pos) * 2;
          pos += 2;
          break;
        case 0xdf:
          if (!need(4)) return 'truncated msgpack';
          items = view.getUint32(pos) * 2;
          pos += 4;
          break;
        default:
          return `msgpack type 0x${b.toString(16)} (extension or reserved) is not allowed`;
      }
    }
    if (items >= 0) {
      // Every item takes at least one byte: a count beyond the frame is a lie.
      if (items > buf.length - pos) return 'msgpack container longer than the frame';
      if (stack.length > MAX_DEPTH) return `msgpack nested deeper than ${MAX_DEPTH}`;
      stack.push(items);
    } else {
      pos += skip;
      if (pos > buf.length) return 'truncated msgpack';
    }
  }
  return pos === buf.length ? undefined : 'trailing bytes after the msgpack value';
}
