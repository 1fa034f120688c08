/**
 * Stopping on a signal in standalone use, where no host shutdown calls stop().
 */
import { logger } from '../common/log.js';

const log = logger('plugin');

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
