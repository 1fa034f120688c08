/**
 * The plugin's way out: what stop() leaves for the next start, and stopping on a signal
 * in standalone use (issue 3).
 */
import { logger } from '../common/log.js';
import type { Outbox } from './outbox.js';
import type { Spill } from './spill/spill-file.js';

const log = logger('plugin');

/** What stop() left behind. */
export interface StopReport {
  /** every batch was acked and the spill file read to its end before the timeout */
  drained: boolean;
  /** discrete events in the spill file now: the next start (a new epoch) sends them again */
  spilledEvents: number;
  spillBytes: number;
  spillFile: string;
}

/**
 * Rewrites the spill file to hold exactly what was not acked: the discrete events of the
 * outbox's unacked batches, then the records the file had not sent yet. Logs and returns
 * what is left. Call with the link closed (nothing can be acked meanwhile).
 */
export function leaveInSpill(spill: Spill, outbox: Outbox, drained: boolean, who: { server: string; epoch: number }): StopReport {
  const unackedBatches = outbox.size;
  let spilledEvents = spill.unreadEvents;
  try {
    if (unackedBatches > 0 || spill.hasUnread || spill.bytes > 0) spilledEvents = spill.rewrite(outbox.unackedDiscrete(), outbox.batchMaxEvents);
    spill.close();
  } catch (err) {
    log.error({ ...who, file: spill.file, err: (err as Error).message, unackedBatches }, 'could not write what was left to the spill file; unacked events are lost');
  }
  const report: StopReport = { drained, spilledEvents, spillBytes: spill.bytes, spillFile: spill.file };
  if (spilledEvents > 0) {
    log.warn({ ...who, unackedBatches, ...report }, `plugin stopped with ${spilledEvents} discrete events in the spill file; the next start sends them again`);
  } else {
    log.info({ ...who, unackedBatches, drained }, 'plugin stopped; nothing discrete was left unsent');
  }
  return report;
}

/**
 * On SIGTERM or SIGINT: `stop()`, then the signal does what it would have done without us
 * (our listener is gone by then), unless someone else listens for it too.
 */
export function stopOnSignals(server: string, stop: () => Promise<unknown>): { remove(): void } {
  const handler = (signal: NodeJS.Signals) => {
    remove();
    log.info({ server, signal }, 'stopping on signal');
    void stop().finally(() => {
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    });
  };
  const remove = () => {
    process.off('SIGTERM', handler);
    process.off('SIGINT', handler);
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
  return { remove };
}
