/**
 * Vitest fixtures (https://vitest.dev/guide/test-context#extend-test-context) for the
 * tests that need a Kinesis API: one kinesalite per test file, and per test the gateways
 * or worker environments it starts, stopped and cleaned when the test ends, pass or fail.
 */
import { test } from 'vitest';
import type { GatewayOptions } from '../../gateway/server.js';
import { startHarness, type Harness } from '../gateway/harness.js';
import { testEnv, type Env } from '../worker/support/harness.js';
import { killWorkerChildren } from '../worker/support/worker-child.js';
import { startKinesis, type Kinesis } from './kinesis.js';

export interface KinesisFixtures {
  /** kinesalite, started once per test file */
  kinesis: Kinesis;
}

export const kinesisTest = test.extend<KinesisFixtures>({
  kinesis: [
    async ({}, use) => {
      const k = await startKinesis();
      try {
        await use(k);
      } finally {
        await k.stop();
      }
    },
    { scope: 'file' },
  ],
});

export interface GatewayFixtures extends KinesisFixtures {
  /** Starts a gateway (real Redis with its own prefix, a fresh stream on the file's kinesalite, port 0); stopped after the test. */
  gateway: (extra?: Partial<GatewayOptions>, shards?: number) => Promise<Harness>;
}

export const gatewayTest = kinesisTest.extend<Pick<GatewayFixtures, 'gateway'>>({
  gateway: async ({ kinesis }, use) => {
    const started: Harness[] = [];
    try {
      await use(async (extra = {}, shards = 2) => {
        const h = await startHarness(kinesis, extra, shards);
        // A test may stop its gateway early (to start another); stopping twice would fail on the closed Redis.
        let stopped: Promise<void> | undefined;
        const stop = h.stop.bind(h);
        h.stop = () => (stopped ??= stop());
        started.push(h);
        return h;
      });
    } finally {
      for (const h of started) await h.stop();
    }
  },
});

export interface WorkerFixtures extends KinesisFixtures {
  /**
   * A stream of its own with `shards` shards and a Redis prefix of its own (on the shared
   * test Redis, or on `redisUrl`); after the test, worker child processes are killed, then
   * its workers stopped and its keys deleted.
   */
  workerEnv: (name: string, shards: number, redisUrl?: string) => Promise<Env>;
}

export const workerTest = kinesisTest.extend<Pick<WorkerFixtures, 'workerEnv'>>({
  workerEnv: async ({ kinesis }, use) => {
    const envs: Env[] = [];
    try {
      await use(async (name, shards, redisUrl) => {
        const env = await testEnv(kinesis.client, name, shards, redisUrl);
        envs.push(env);
        return env;
      });
    } finally {
      await killWorkerChildren();
      for (const env of envs) await env.cleanup();
    }
  },
});
