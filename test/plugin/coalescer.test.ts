import { describe, expect, it } from 'vitest';
import { Coalescer } from '../../plugin/coalescer.js';

const T = 1_000;

describe('Coalescer', () => {
  it('emits every field on the first flush after join, then only the fields that changed', () => {
    const c = new Coalescer();
    const i = c.join('p1', T);
    c.move('p1', T + 1, 'r1', 10, 64, -20);
    expect(c.flush()).toEqual([{ k: 'delta', t: T + 1, i, region: 'r1', x: 10, y: 64, z: -20 }]);
    c.move('p1', T + 2, 'r1', 11, 64, -20);
    expect(c.flush()).toEqual([{ k: 'delta', t: T + 2, i, x: 11 }]);
    c.move('p1', T + 3, 'r1', 11, 65.5, -21);
    expect(c.flush()).toEqual([{ k: 'delta', t: T + 3, i, y: 65.5, z: -21 }]);
  });

  it('emits nothing for clean players, nor for a player who moved back to what was sent', () => {
    const c = new Coalescer();
    c.join('p1', T);
    c.join('p2', T);
    c.move('p1', T, 'r1', 0, 0, 0);
    c.move('p2', T, 'r1', 5, 5, 5);
    expect(c.flush()).toHaveLength(2);
    expect(c.flush()).toEqual([]);
    c.move('p1', T + 1, 'r1', 0, 0, 0); // same position: still clean
    c.move('p2', T + 1, 'r1', 9, 5, 5);
    c.move('p2', T + 2, 'r1', 5, 5, 5); // and back again before the flush
    expect(c.dirtyCount).toBe(1);
    expect(c.flush()).toEqual([]);
  });

  it('quantizes positions to the quantum and writes clean decimals', () => {
    const c = new Coalescer({ quantum: 0.05, minChange: 0.05 });
    const i = c.join('p1', T);
    c.move('p1', T, 'r1', 10.026, 0.149, -0.02);
    // 0.15 and not 0.15000000000000002; -0.02 rounds to 0, not -0
    const [d] = c.flush();
    expect(d).toEqual({ k: 'delta', t: T, i, region: 'r1', x: 10.05, y: 0.15, z: 0 });
    expect(Object.is(d!.z, -0)).toBe(false);
    expect(c.wireValue(3 * 0.05)).toBe(0.15);
  });

  it('re-sends a field only when it moved at least minChange from the value last sent', () => {
    const c = new Coalescer({ quantum: 0.05, minChange: 0.5 });
    const i = c.join('p1', T);
    c.move('p1', T, 'r1', 0, 0, 0);
    c.flush();
    c.move('p1', T + 1, 'r1', 0.3, 0, 0);
    expect(c.flush()).toEqual([]);
    c.move('p1', T + 2, 'r1', 0.45, 0, 0); // creeping up: compared with the sent 0, not the last sample
    expect(c.flush()).toEqual([]);
    c.move('p1', T + 3, 'r1', 0.5, 0, 0);
    expect(c.flush()).toEqual([{ k: 'delta', t: T + 3, i, x: 0.5 }]);
    c.move('p1', T + 4, 'r1', 0.52, 0, 0); // quantized to 0.5: nothing changed
    expect(c.flush()).toEqual([]);
  });

  it('with the defaults, movement below 0.05 blocks is not re-sent', () => {
    const c = new Coalescer();
    const i = c.join('p1', T);
    c.move('p1', T, 'r1', 1, 1, 1);
    c.flush();
    c.move('p1', T + 1, 'r1', 1.02, 1, 1);
    expect(c.flush()).toEqual([]);
    c.move('p1', T + 2, 'r1', 1.05, 1, 1);
    expect(c.flush()).toEqual([{ k: 'delta', t: T + 2, i, x: 1.05 }]);
  });

  it('re-sends the whole position on a region change', () => {
    const c = new Coalescer();
    const i = c.join('p1', T);
    c.move('p1', T, 'r1', 1, 2, 3);
    c.flush();
    c.move('p1', T + 1, 'r2', 1, 2, 3);
    expect(c.flush()).toEqual([{ k: 'delta', t: T + 1, i, region: 'r2', x: 1, y: 2, z: 3 }]);
  });

  it('assigns compact indices at join, never reuses them, and forgets a player at leave', () => {
    const c = new Coalescer();
    const a = c.join('a', T);
    const b = c.join('b', T);
    expect([a, b]).toEqual([1, 2]);
    expect(c.indexOf('a')).toBe(a);
    c.move('a', T, 'r1', 1, 1, 1);
    expect(c.leave('a')).toBe(true);
    expect(c.indexOf('a')).toBeUndefined();
    expect(c.flush()).toEqual([]); // the leaver's pending state is dropped
    expect(c.move('a', T, 'r1', 1, 1, 1)).toBe(false); // no session
    const again = c.join('a', T + 5);
    expect(again).toBe(3);
    c.move('a', T + 6, 'r1', 1, 1, 1);
    expect(c.flush()).toEqual([{ k: 'delta', t: T + 6, i: 3, region: 'r1', x: 1, y: 1, z: 1 }]);
    expect(c.size).toBe(2);
  });

  it('a rejoin without a leave starts a new session with a new index', () => {
    const c = new Coalescer();
    c.join('a', T);
    c.move('a', T, 'r1', 1, 1, 1);
    const second = c.join('a', T + 1);
    expect(second).toBe(2);
    c.move('a', T + 2, 'r1', 1, 1, 1);
    expect(c.flush()).toEqual([{ k: 'delta', t: T + 2, i: 2, region: 'r1', x: 1, y: 1, z: 1 }]);
  });

  it('keeps one entry per dirty player however many samples arrive between flushes', () => {
    const c = new Coalescer();
    c.join('a', T);
    for (let k = 0; k < 1000; k++) c.move('a', T + k, 'r1', k, 0, 0);
    expect(c.dirtyCount).toBe(1);
    const out = c.flush();
    expect(out).toEqual([{ k: 'delta', t: T + 999, i: 1, region: 'r1', x: 999, y: 0, z: 0 }]);
  });

  it('rejects a non-positive quantum', () => {
    expect(() => new Coalescer({ quantum: 0 })).toThrow(/quantum/);
  });
});
