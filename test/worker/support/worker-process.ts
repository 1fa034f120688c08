/**
 * A worker in a process of its own, so tests can SIGKILL or SIGSTOP it. Configured by
 * environment (CAIRN_TEST_* below); prints "ready <workerId>" once started and, on
 * SIGTERM, stops and prints "stats <json>".
 */
import { connectRedis } from '../../../gateway/redis-connect.js';
import { makeKinesisClient } from '../../../gateway/kinesis-client.js';
import { RedisKeys } from '../../../gateway/redis-keys.js';
import { startWorker } from '../../../gateway/worker/worker.js';

const env = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is required`);
  return v;
};

const redis = await connectRedis(env('CAIRN_TEST_REDIS_URL'));
const kinesis = makeKinesisClient(env('CAIRN_TEST_KINESIS_ENDPOINT'));
const worker = await startWorker({
  redis,
  keys: new RedisKeys(env('CAIRN_TEST_PREFIX')),
  kinesis,
  stream: env('CAIRN_TEST_STREAM'),
  workerId: env('CAIRN_TEST_WORKER_ID'),
  leaseMs: Number(env('CAIRN_TEST_LEASE_MS')),
  pollMs: 20,
});
process.stdout.write(`ready ${worker.workerId}\n`);
process.once('SIGTERM', () => {
  void (async () => {
    await worker.stop();
    process.stdout.write(`stats ${JSON.stringify(worker.stats())}\n`);
    redis.disconnect();
    kinesis.destroy();
    process.exit(0);
  })();
});
