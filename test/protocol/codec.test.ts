import { describe, expect, it } from 'vitest';
import { Packr } from 'msgpackr';
import {
  CloseCode,
  decodeGatewayMessage,
  decodePluginMessage,
  encode,
  Cap,
  ErrorCode,
  MAX_FRAME_BYTES,
  MAX_PRIZES_PER_FRAME,
  Op,
  PROTOCOL_VERSION,
  ProtocolError,
  type Batch,
  type Hello,
  type Prizes,
} from '../../protocol/index.js';

// Golden bytes: these pin the wire encoding. If they change, the protocol changed:
// bump PROTOCOL_VERSION and update protocol/SPEC.md.
const HELLO: Hello = { op: Op.Hello, v: PROTOCOL_VERSION, server: 'srv-a', epoch: 7, token: 'tok' };
const HELLO_HEX = 'de0005a26f7001a17602a6736572766572a57372762d61a565706f636807a5746f6b656ea3746f6b';
// A hello naming the optional features it takes, and a frame of several deliveries (op 11).
const HELLO_CAPS: Hello = { ...HELLO, caps: [Cap.Prizes] };
const HELLO_CAPS_HEX = 'de0006a26f7001a17602a6736572766572a57372762d61a565706f636807a5746f6b656ea3746f6ba46361707391a67072697a6573';
const PRIZES: Prizes = {
  op: Op.Prizes,
  items: [
    { op: Op.Prize, id: '1-0', hunt: 'h', reason: 'treasure:oak:1', player: 'p1', item: 'gold_ingot', count: 5 },
    { op: Op.WindowClosed, id: '1-1', hunt: 'h', start: 0, end: 60000 },
  ],
};
const PRIZES_HEX =
  'de0002a26f700ba56974656d7392de0007a26f7005a26964a3312d30a468756e74a168a6726561736f6eae74726561737572653a6f616b3a31a6706c61796572a27031a46974656daa676f6c645f696e676f74a5636f756e7405de0005a26f7007a26964a3312d31a468756e74a168a5737461727400a3656e64cdea60';
// The moves block is the one of protocol/SPEC.md's example (test/protocol/moves.test.ts).
const MOVES_HEX = '013fa999999999999afb949b90a23402020f027231a4038014a90603121b14';
const BATCH: Batch = {
  op: Op.Batch,
  seq: 3,
  wm: 1795867200123,
  ev: [{ k: 'enter', e: 7, n: 1, t: 1795867200100, p: 'p1', hunt: 'h', tr: 'oak', region: 'r1', at: [10.5, 64, -20.25] }],
  mv: Buffer.from(MOVES_HEX, 'hex'),
};
const BATCH_HEX =
  'de0005a26f7003a373657103a2776dcb427a22206ca7b000a2657691de0009a16ba5656e746572a16507a16e01a174cb427a22206ca64000a170a27031a468756e74a168a27472a36f616ba6726567696f6ea27231a2617493cb402500000000000040cbc034400000000000a26d76c41f' +
  MOVES_HEX;

function expectProtocolError(fn: () => unknown, close: number, code: string, text: RegExp) {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ProtocolError);
    expect((err as ProtocolError).close).toBe(close);
    expect((err as ProtocolError).code).toBe(code);
    expect((err as Error).message).toMatch(text);
    return;
  }
  throw new Error('expected a ProtocolError');
}

describe('codec', () => {
  it('encodes hello and batch to the pinned bytes', () => {
    expect(encode(HELLO).toString('hex')).toBe(HELLO_HEX);
    expect(encode(BATCH).toString('hex')).toBe(BATCH_HEX);
  });

  it('decodes the pinned bytes back to the same messages', () => {
    expect(decodePluginMessage(Buffer.from(HELLO_HEX, 'hex'))).toEqual(HELLO);
    expect(decodePluginMessage(Buffer.from(BATCH_HEX, 'hex'))).toEqual(BATCH);
  });

  it('pins a hello with caps and a prizes frame, both ways', () => {
    expect(encode(HELLO_CAPS).toString('hex')).toBe(HELLO_CAPS_HEX);
    expect(decodePluginMessage(Buffer.from(HELLO_CAPS_HEX, 'hex'))).toEqual(HELLO_CAPS);
    expect(encode(PRIZES).toString('hex')).toBe(PRIZES_HEX);
    expect(decodeGatewayMessage(Buffer.from(PRIZES_HEX, 'hex'))).toEqual(PRIZES);
  });

  it('names what is wrong with hello caps and with a prizes frame', () => {
    expectProtocolError(() => decodePluginMessage(encode({ ...HELLO, caps: 'prizes' })), CloseCode.FrameInvalid, ErrorCode.FrameInvalid, /hello\.caps/);
    expectProtocolError(() => decodePluginMessage(encode({ ...HELLO, caps: [''] })), CloseCode.FrameInvalid, ErrorCode.FrameInvalid, /hello\.caps/);
    // A feature this side does not know is no error: the other side may be newer.
    expect(decodePluginMessage(encode({ ...HELLO, caps: ['prizes', 'teleport'] }))).toEqual({ ...HELLO, caps: ['prizes', 'teleport'] });
    const item = PRIZES.items[0]!;
    expectProtocolError(() => decodeGatewayMessage(encode({ op: Op.Prizes, items: [] })), CloseCode.FrameInvalid, ErrorCode.FrameInvalid, /prizes\.items: must be a list of 1 to/);
    const tooMany = Array.from({ length: MAX_PRIZES_PER_FRAME + 1 }, (_, i) => ({ ...item, id: `1-${i}` }));
    expectProtocolError(() => decodeGatewayMessage(encode({ op: Op.Prizes, items: tooMany })), CloseCode.FrameInvalid, ErrorCode.FrameInvalid, /prizes\.items/);
    expectProtocolError(() => decodeGatewayMessage(encode({ op: Op.Prizes, items: [item, { op: Op.Ack, seq: 1 }] })), CloseCode.FrameInvalid, ErrorCode.FrameInvalid, /prizes\.items\[1\]: must be a prize/);
    expectProtocolError(() => decodeGatewayMessage(encode({ op: Op.Prizes, items: [item, { ...item, count: 'five' }] })), CloseCode.FrameInvalid, ErrorCode.FrameInvalid, /prizes\.items\[1\]: a prize needs/);
  });

  it('round-trips every gateway message', () => {
    const msgs = [
      { op: Op.Welcome, durable: 12 },
      { op: Op.Ack, seq: 4 },
      { op: Op.Prize, id: '1-0', hunt: 'h', reason: 'treasure:oak:1', player: 'p1', item: 'gold_ingot', count: 5 },
      { op: Op.WindowClosed, id: '2-0', hunt: 'h', start: 0, end: 60000 },
      { op: Op.Error, code: ErrorCode.AuthFailed, message: 'bad token' },
      { op: Op.Reply, id: 3, ok: true, data: { top: [{ rank: 1, player: 'p1', found: 2, last: 5 }] } },
      { op: Op.Reply, id: 4, ok: false, error: 'unknown hunt' },
    ];
    for (const m of msgs) expect(decodeGatewayMessage(encode(m))).toEqual(m);
  });

  it('round-trips queries and names a wrong query field', () => {
    const q = { op: Op.Query, id: 1, q: 'leaderboard', hunt: 'spring', n: 5, player: 'p1' };
    expect(decodePluginMessage(encode(q))).toEqual(q);
    expectProtocolError(() => decodePluginMessage(encode({ ...q, q: 'drop-tables' })), CloseCode.FrameInvalid, ErrorCode.FrameInvalid, /query\.q/);
    expectProtocolError(() => decodePluginMessage(encode({ ...q, n: 1000 })), CloseCode.FrameInvalid, ErrorCode.FrameInvalid, /query\.n/);
  });

  it('refuses an oversized frame before decoding it', () => {
    expectProtocolError(() => decodePluginMessage(Buffer.alloc(MAX_FRAME_BYTES + 1)), CloseCode.FrameTooLarge, ErrorCode.FrameTooLarge, /exceeds the limit/);
  });

  it('refuses bytes that are not msgpack', () => {
    expectProtocolError(() => decodePluginMessage(Buffer.from([0x85, 0xa1])), CloseCode.FrameInvalid, ErrorCode.FrameInvalid, /not valid msgpack/);
  });

  it('names the field that is wrong', () => {
    expectProtocolError(() => decodePluginMessage(encode({ op: Op.Batch, seq: 0, wm: 1, ev: [] })), CloseCode.FrameInvalid, ErrorCode.FrameInvalid, /batch\.seq/);
    expectProtocolError(
      () => decodePluginMessage(encode({ op: Op.Batch, seq: 1, wm: 1, ev: [{ k: 'enter', e: 1, n: 1, t: 1, p: 'p', hunt: 'h', tr: 't', region: 'r', at: [1, 2] }] })),
      CloseCode.FrameInvalid,
      ErrorCode.FrameInvalid,
      /batch\.ev\[0\]\.at/,
    );
    expectProtocolError(() => decodePluginMessage(encode({ op: Op.Welcome, durable: 1 })), CloseCode.FrameInvalid, ErrorCode.FrameInvalid, /not a plugin message/);
    expectProtocolError(() => decodePluginMessage(encode([1, 2])), CloseCode.FrameInvalid, ErrorCode.FrameInvalid, /not a map/);
  });

  it('does not honour structured-clone or record extensions from the wire', () => {
    const hostile = new Packr({ structuredClone: true, useRecords: true });
    const bytes = hostile.pack({ op: Op.Hello, v: 1, server: 's', epoch: 1, token: 't', nested: new Map([[1, 2]]) });
    expectProtocolError(() => decodePluginMessage(bytes), CloseCode.FrameInvalid, ErrorCode.FrameInvalid, /extension or reserved/);
  });

  it('refuses containers that claim more items than the frame holds, and deep nesting', () => {
    expectProtocolError(() => decodePluginMessage(Buffer.from([0xdf, 0xff, 0xff, 0xff, 0xff])), CloseCode.FrameInvalid, ErrorCode.FrameInvalid, /longer than the bytes/);
    const deep = Buffer.concat([Buffer.from([0x81, 0xa1, 0x61]), Buffer.alloc(100, 0x91)]);
    expectProtocolError(() => decodePluginMessage(deep), CloseCode.FrameInvalid, ErrorCode.FrameInvalid, /nested deeper/);
  });

  it('refuses a key twice in any map, a key that is not a string, and __proto__', () => {
    const mp = (v: unknown) => encode(v as object);
    const hello = (extra: Buffer, n: number) => Buffer.concat([Buffer.from([0x80 | n]), mp('op'), mp(1), mp('v'), mp(2), mp('server'), mp('s'), mp('epoch'), mp(1), mp('token'), mp('t'), extra]);
    expect(decodePluginMessage(hello(Buffer.alloc(0), 5))).toMatchObject({ op: 1, server: 's' });
    expectProtocolError(() => decodePluginMessage(hello(Buffer.concat([mp('token'), mp('u')]), 6)), CloseCode.FrameInvalid, ErrorCode.FrameInvalid, /duplicate map key "token"/);
    // the same key with another string header (str8 instead of fixstr) is the same key
    expectProtocolError(() => decodePluginMessage(hello(Buffer.from([0xd9, 0x05, ...Buffer.from('token'), 0xa1, 0x75]), 6)), CloseCode.FrameInvalid, ErrorCode.FrameInvalid, /duplicate map key "token"/);
    expectProtocolError(() => decodePluginMessage(hello(Buffer.concat([mp('x'), Buffer.from([0x82, 0x01, 0x02, 0x01, 0x03])]), 6)), CloseCode.FrameInvalid, ErrorCode.FrameInvalid, /keys must be strings/);
    expectProtocolError(() => decodePluginMessage(hello(Buffer.concat([mp('x'), Buffer.from([0x81]), mp('__proto__'), mp({ polluted: 1 })]), 6)), CloseCode.FrameInvalid, ErrorCode.FrameInvalid, /__proto__/);
    // a big map (past the linear comparison) with a key twice
    const big: Buffer[] = [Buffer.from([0xde, 0x00, 0x32])];
    for (let k = 0; k < 49; k++) big.push(mp(`k${k}`), mp(k));
    big.push(mp('k7'), mp(0));
    expectProtocolError(() => decodePluginMessage(hello(Buffer.concat([mp('x'), ...big]), 6)), CloseCode.FrameInvalid, ErrorCode.FrameInvalid, /duplicate map key "k7"/);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    // a string that is not UTF-8: two such byte strings could decode to the same text
    expectProtocolError(() => decodePluginMessage(hello(Buffer.concat([mp('x'), Buffer.from([0xa2, 0xa0, 0x20])]), 6)), CloseCode.FrameInvalid, ErrorCode.FrameInvalid, /string is not UTF-8/);
  });

  it('refuses a delta in ev (protocol 1) and a moves block that does not follow its format', () => {
    expectProtocolError(
      () => decodePluginMessage(encode({ op: Op.Batch, seq: 1, wm: 1, ev: [{ k: 'delta', t: 1, i: 2, x: 1.25 }] })),
      CloseCode.FrameInvalid,
      ErrorCode.FrameInvalid,
      /batch\.ev\[0\]\.k: "delta" is not an event since protocol 2/,
    );
    const mv = Buffer.from(MOVES_HEX, 'hex');
    expectProtocolError(() => decodePluginMessage(encode({ op: Op.Batch, seq: 1, wm: 1, ev: [], mv: mv.subarray(0, mv.length - 1) })), CloseCode.FrameInvalid, ErrorCode.FrameInvalid, /batch\.mv: moves block byte \d+: truncated/);
    expectProtocolError(() => decodePluginMessage(encode({ op: Op.Batch, seq: 1, wm: 1, ev: [], mv: 'moves' })), CloseCode.FrameInvalid, ErrorCode.FrameInvalid, /batch\.mv: must be binary/);
  });
});
