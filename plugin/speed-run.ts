/**
 * The memory the windowed `maxSpeed` rule needs of one player's region run
 * (DESIGN.md "Hunt semantics"): for a sample S and a window W, the reference is the
 * latest earlier sample of the run with t <= t(S) - W, or the run's first sample when
 * there is none.
 *
 * Samples are kept in a ring, oldest first, and each window keeps a head: the index of
 * its current reference. Times only grow within a run, so a threshold t(S) - W only
 * grows and a head only moves forward: once a later sample is old enough to be the
 * reference, no earlier one can be again, so everything before the smallest head (the
 * longest window's) is dropped. O(1) amortized per sample and window.
 *
 * Size: the ring holds the samples of the last window plus the reference. Samples with
 * equal times share one slot (the later one is the only one a later sample can take as
 * reference), so with millisecond stamps (what hosts give and traces require) a window
 * of W ms holds at most W + 1 slots of 32 bytes, however large a burst is: the ring grows
 * by doubling to what the rule needs and is never cut short, so the rule stays exact.
 * A walker at 20 samples/s keeps about 21 slots for the default 1000 ms.
 */

/** Fields per slot in the ring: t, x, y, z. */
const F = 4;
const INITIAL_SLOTS = 4;

export class SpeedRun {
  private buf = new Float64Array(INITIAL_SLOTS * F);
  private mask = INITIAL_SLOTS - 1;
  /** absolute indices of the oldest kept sample and one past the newest */
  private start = 0;
  private end = 0;
  /** per window: absolute index of its reference, -1 while none is old enough */
  private heads: number[];
  /** the run's first sample, the reference while no sample is a window old */
  private ft = 0;
  private fx = 0;
  private fy = 0;
  private fz = 0;
  /** time of the newest sample: a run's clock never goes back */
  lastT = 0;

  constructor(t: number, x: number, y: number, z: number, windows: number) {
    this.heads = Array.from({ length: windows }, () => -1);
    this.begin(t, x, y, z);
  }

  /** Starts a new run (a region change) with this sample as its first. */
  begin(t: number, x: number, y: number, z: number): void {
    this.start = this.end = 0;
    this.heads.fill(-1);
    this.ft = t;
    this.fx = x;
    this.fy = y;
    this.fz = z;
    this.push(t, x, y, z);
  }

  /** How many samples the ring keeps now (for tests of its bound). */
  get kept(): number {
    return this.end - this.start;
  }

  /**
   * A different set of windows (a hunt reload): every head is found again from the
   * oldest kept sample. Exact unless a window grew (or speed was not checked before),
   * when samples the longer window would have used may already be gone; until one such
   * window has passed, its reference is then the oldest kept sample old enough, or else
   * the run's first.
   */
  setWindows(windows: number): void {
    this.heads = Array.from({ length: windows }, () => -1);
  }

  /**
   * Moves each window's reference up to what a sample at `t` (not yet pushed) sees, then
   * drops the samples no window can use any more. `t` must be >= lastT.
   */
  advance(t: number, windowsMs: readonly number[]): void {
    const buf = this.buf;
    const mask = this.mask;
    let keepFrom = this.end - 1;
    for (let i = 0; i < windowsMs.length; i++) {
      const threshold = t - windowsMs[i]!;
      let h = this.heads[i]!;
      let next = h < 0 ? this.start : h + 1;
      while (next < this.end && buf[(next & mask) * F]! <= threshold) h = next++;
      this.heads[i] = h;
      const need = h < 0 ? this.start : h;
      if (need < keepFrom) keepFrom = need;
    }
    this.start = keepFrom;
  }

  /**
   * Whether a sample at `t` and (x, y, z) breaks `maxSpeed` (blocks per second) over
   * window `i` of `windowMs`: its straight-line distance from the reference exceeds
   * maxSpeed * max(t - t(R), windowMs) / 1000. Call after advance(t).
   */
  suspect(i: number, windowMs: number, maxSpeed: number, t: number, x: number, y: number, z: number): boolean {
    const h = this.heads[i]!;
    let rt: number, rx: number, ry: number, rz: number;
    if (h < 0) {
      rt = this.ft;
      rx = this.fx;
      ry = this.fy;
      rz = this.fz;
    } else {
      const o = (h & this.mask) * F;
      rt = this.buf[o]!;
      rx = this.buf[o + 1]!;
      ry = this.buf[o + 2]!;
      rz = this.buf[o + 3]!;
    }
    const dx = x - rx;
    const dy = y - ry;
    const dz = z - rz;
    return Math.sqrt(dx * dx + dy * dy + dz * dz) > (maxSpeed * Math.max(t - rt, windowMs)) / 1000;
  }

  /** Appends a sample (after advance and suspect); `t` must be >= lastT. */
  push(t: number, x: number, y: number, z: number): void {
    let o: number;
    if (this.end > this.start && this.lastT === t) {
      // No head is on the newest slot (a head's time is at least 1 ms below t), and the
      // run's first sample is kept apart, so the later sample simply takes the slot.
      o = ((this.end - 1) & this.mask) * F;
    } else {
      if (this.end - this.start > this.mask) this.grow();
      o = (this.end & this.mask) * F;
      this.end++;
    }
    const buf = this.buf;
    buf[o] = t;
    buf[o + 1] = x;
    buf[o + 2] = y;
    buf[o + 3] = z;
    this.lastT = t;
  }

  private grow(): void {
    const old = this.buf;
    const oldMask = this.mask;
    const slots = (oldMask + 1) * 2;
    const buf = new Float64Array(slots * F);
    const mask = slots - 1;
    for (let a = this.start; a < this.end; a++) buf.set(old.subarray((a & oldMask) * F, (a & oldMask) * F + F), (a & mask) * F);
    this.buf = buf;
    this.mask = mask;
  }
}
