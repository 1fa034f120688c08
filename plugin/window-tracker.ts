/**
 * What the plugin knows about closed windows: for each hunt, the largest `end` of the
 * WindowClosed messages received (every prize of the hunt for events before it has been
 * delivered to this server), and promises waiting for a hunt to be closed through a time.
 */
interface Waiter {
  hunt: string;
  end: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

export class WindowTracker {
  private readonly through = new Map<string, number>();
  private waiters: Waiter[] = [];
  private closedWith: Error | undefined;

  closedThrough(hunt: string): number | undefined {
    return this.through.get(hunt);
  }

  /** Records a closed window; windows may repeat or arrive late, the maximum wins. */
  record(hunt: string, end: number): void {
    const prev = this.through.get(hunt);
    if (prev !== undefined && prev >= end) return;
    this.through.set(hunt, end);
    if (this.waiters.length === 0) return;
    const still: Waiter[] = [];
    for (const w of this.waiters) (w.hunt === hunt && w.end <= end ? w.resolve() : still.push(w));
    this.waiters = still;
  }

  /** Resolves when closedThrough(hunt) >= end; rejects if closed first. */
  wait(hunt: string, end: number): Promise<void> {
    const through = this.through.get(hunt);
    if (through !== undefined && through >= end) return Promise.resolve();
    if (this.closedWith) return Promise.reject(this.closedWith);
    return new Promise((resolve, reject) => this.waiters.push({ hunt, end, resolve, reject }));
  }

  close(err: Error): void {
    this.closedWith = err;
    for (const w of this.waiters) w.reject(err);
    this.waiters = [];
  }
}
