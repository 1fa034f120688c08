/**
 * Strings numbered in the order they were first seen: the dictionary of a columnar store
 * (a window's events, the fold's player table, a trace's move blocks), which keeps small
 * numbers in typed arrays and each string once.
 */
export class StringIndex {
  /** The strings, each at its number. */
  readonly values: string[] = [];
  private readonly numbers = new Map<string, number>();

  /** The number of `s`, given on first use. */
  of(s: string): number {
    let i = this.numbers.get(s);
    if (i === undefined) this.numbers.set(s, (i = this.values.push(s) - 1));
    return i;
  }

  /** The number of `s`, or undefined when it was never seen. */
  get(s: string): number | undefined {
    return this.numbers.get(s);
  }
}
