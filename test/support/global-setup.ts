/**
 * Makes sure the tests have a real Redis: the shared one when it answers, otherwise a
 * redis-server started for this run (CI machines may have none running).
 */
import { redisAnswers, DEFAULT_REDIS_URL } from '../../backend/redis/connect.js';
import { startRedisServer, type RedisServerHandle } from '../../backend/redis/embedded-server.js';

let started: RedisServerHandle | undefined;

export async function setup(): Promise<void> {
  const url = process.env.CAIRN_TEST_REDIS_URL ?? DEFAULT_REDIS_URL;
  if (await redisAnswers(url)) {
    process.env.CAIRN_TEST_REDIS_URL = url;
    return;
  }
  started = await startRedisServer();
  process.env.CAIRN_TEST_REDIS_URL = started.url;
  console.error(`tests: Redis at ${url} does not answer; started redis-server on ${started.url}`);
}

export async function teardown(): Promise<void> {
  await started?.stop();
}
