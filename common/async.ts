/** Timing helpers every Node-side role shares. */

/** Resolves after `ms`; `unref` lets the process exit while it waits. */
export function sleep(ms: number, opts: { unref?: boolean } = {}): Promise<void> {
  return new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    if (opts.unref) t.unref();
  });
}

/** Marks a raceTimeout that ran out. */
export const TIMED_OUT: unique symbol = Symbol('timed out');

/**
 * The value of `p`, or TIMED_OUT when `ms` pass first. The timer is cleared either way,
 * so a settled race leaves nothing pending. A rejection of `p` is passed on.
 */
export async function raceTimeout<T>(p: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<typeof TIMED_OUT>((r) => (timer = setTimeout(r, ms, TIMED_OUT)))]);
  } finally {
    clearTimeout(timer);
  }
}
