/**
 * A worker in a process of its own, so tests can SIGKILL or SIGSTOP it. Configured by
 * environment (CAIRN_TEST_* below); prints "ready <workerId>" once started and, on
 * SIGTERM, stops and prints "stats <json>".
 *
 * With CAIRN_TEST_COMMIT_HOOKS=1 it reports every window commit attempt
 * ("commit <status> <hunt> <start> <newPrizes>"), and after an "arm" line on stdin its
 * next commit attempt prints "pausing <hunt> <start> <end>" and stops the whole process
 * with SIGSTOP right before the commit is sent: the seed incident, a worker frozen with a
 * window in hand. SIGCONT lets the commit go on.
 *
 * Killed between the steps of a window commit (SIGKILL, printing "exiting ..." first):
 * CAIRN_TEST_EXIT_AFTER_COMMIT=1 after its first commit that set prizes, before the fan-out;
 * CAIRN_TEST_EXIT_AFTER_FAN_OUT=1 after the first fan-out, before the merge;
 * CAIRN_TEST_EXIT_MID_MERGE=1 after the first bucket of a merge of two buckets or more.
 */
import { writeSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { connectRedis, connectRedisCluster } from '../../../backend/redis/connect.js';
import { makeKinesisClient } from '../../../backend/kinesis/client.js';
import { RedisKeys } from '../../../backend/redis/keys.js';
import { startWorker, type CommitHooks } from '../../../worker/worker.js';

const env = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is required`);
  return v;
};

let armed = false;
let hooks: CommitHooks | undefined;
if (process.env.CAIRN_TEST_COMMIT_HOOKS === '1') {
  createInterface({ input: process.stdin }).on('line', (l) => {
    if (l === 'arm') armed = true;
  });
  hooks = {
    beforeCommit(w) {
      if (!armed) return;
      armed = false;
      // Synchronous write: the line is in the pipe before the process stops.
      writeSync(1, `pausing ${w.hunt} ${w.start} ${w.end}\n`);
      process.kill(process.pid, 'SIGSTOP');
    },
    afterCommit(w) {
      writeSync(1, `commit ${w.status} ${w.hunt} ${w.start} ${w.newPrizes}\n`);
    },
  };
}

if (process.env.CAIRN_TEST_EXIT_AFTER_COMMIT === '1') {
  hooks = {
    ...hooks,
    afterCommit(w) {
      if (w.status !== 'committed' || w.newPrizes === 0) return;
      writeSync(1, `exiting ${w.hunt} ${w.start}\n`);
      process.kill(process.pid, 'SIGKILL');
    },
  };
}

if (process.env.CAIRN_TEST_EXIT_AFTER_FAN_OUT === '1') {
  hooks = {
    ...hooks,
    afterFanOut(w) {
      writeSync(1, `exiting ${w.hunt} ${w.start}\n`);
      process.kill(process.pid, 'SIGKILL');
    },
  };
}

if (process.env.CAIRN_TEST_EXIT_MID_MERGE === '1') {
  hooks = {
    ...hooks,
    // One bucket per call, so a merge of two players' finds or more has a middle.
    mergeChunkBuckets: 1,
    afterMergeChunk(hunt, written, total) {
      if (written >= total) return;
      writeSync(1, `exiting ${hunt} ${written}/${total}\n`);
      process.kill(process.pid, 'SIGKILL');
    },
  };
}

const cluster = process.env.CAIRN_TEST_REDIS_CLUSTER;
const redis = cluster ? await connectRedisCluster(cluster) : await connectRedis(env('CAIRN_TEST_REDIS_URL'));
const kinesis = makeKinesisClient(env('CAIRN_TEST_KINESIS_ENDPOINT'));
const worker = await startWorker({
  redis,
  keys: new RedisKeys(env('CAIRN_TEST_PREFIX')),
  kinesis,
  stream: env('CAIRN_TEST_STREAM'),
  workerId: env('CAIRN_TEST_WORKER_ID'),
  leaseMs: Number(env('CAIRN_TEST_LEASE_MS')),
  pollMs: 20,
  ...(hooks ? { hooks } : {}),
});
writeSync(1, `ready ${worker.workerId}\n`);
process.once('SIGTERM', () => {
  void (async () => {
    await worker.stop();
    writeSync(1, `stats ${JSON.stringify(worker.stats())}\n`);
    redis.disconnect();
    kinesis.destroy();
    process.exit(0);
  })();
});
