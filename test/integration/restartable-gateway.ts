/**
 * For the outage tests of issue 3: a whole back end (real Redis, kinesalite, a worker) with
 * an embedded gateway that can be killed and started again on the same port, so the
 * plugins' links see a gateway that goes away and comes back at the same URL.
 */
import { loadEnvConfig } from '../../backend/config.js';
import { startGateway, type Gateway } from '../../gateway/server.js';
import { startStack, type Stack } from '../../cli/stack.js';
import { deletePrefix, TEST_REDIS_URL } from '../support/redis.js';

export interface RestartableStack {
  stack: Stack;
  url: string;
  token: string;
  /** Closes the gateway at once: in-flight batches are not waited for (a crash, as far as the plugins can tell). */
  kill(): Promise<void>;
  /** Starts the gateway again on the same port. */
  revive(): Promise<void>;
  readonly up: boolean;
  cleanup(): Promise<void>;
}

export async function restartableStack(opts: { graceMs?: number; workers?: number } = {}): Promise<RestartableStack> {
  const config = loadEnvConfig({
    CAIRN_REDIS_URL: TEST_REDIS_URL,
    CAIRN_REDIS_PREFIX: 'cairn-test',
    CAIRN_WINDOW_GRACE_MS: String(opts.graceMs ?? 0),
    CAIRN_KINESIS_SHARDS: '2',
  });
  const stack = await startStack({ config, embedded: true, gateway: false, workers: opts.workers ?? 1, isolate: true, port: 0, pollMs: 20 });
  const launch = (port: number) =>
    startGateway({
      port,
      host: '127.0.0.1',
      token: config.token,
      redis: stack.redis,
      keys: stack.keys,
      kinesis: stack.kinesis,
      stream: stack.stream,
      shutdownWaitMs: 1,
      deliveryBlockMs: 100,
    });
  let gateway: Gateway | undefined = await launch(0);
  const port = gateway.port;
  const url = gateway.url;
  return {
    stack,
    url,
    token: config.token,
    get up() {
      return gateway !== undefined;
    },
    async kill() {
      const g = gateway;
      gateway = undefined;
      await g?.close();
    },
    async revive() {
      if (gateway) return;
      // The port may linger for a moment after close; retry briefly.
      for (let attempt = 0; ; attempt++) {
        try {
          gateway = await launch(port);
          return;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt > 50) throw err;
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    },
    async cleanup() {
      const g = gateway;
      gateway = undefined;
      await g?.close();
      await deletePrefix(stack.redis, stack.keys.prefix);
      await stack.stop();
    },
  };
}
