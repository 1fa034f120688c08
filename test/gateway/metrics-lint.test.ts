/**
 * The gateway's /metrics output passes `promtool check metrics`. promtool
 * comes from Debian's `prometheus` package, which .ci/run installs.
 */
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Op } from '../../protocol/index.js';
import { startHarness } from './harness.js';
import { joins, startKinesis, TestClient, type Kinesis } from './support.js';

let kinesis: Kinesis;
beforeAll(async () => {
  kinesis = await startKinesis();
});
afterAll(async () => {
  await kinesis.stop();
});

describe('metrics', () => {
  it('pass promtool check metrics after real traffic', async () => {
    const h = await startHarness(kinesis);
    try {
      const { client } = await TestClient.hello(h.gw.url, 'srv-a');
      h.clients.push(client);
      client.sendBatch(1, joins(5));
      await client.next(Op.Ack);
      client.sendMsg({ op: 42 });
      await client.closed;
      const res = await fetch(`http://127.0.0.1:${h.gw.port}/metrics`);
      const text = await res.text();
      expect(text).toContain('cairn_gateway_bad_frames_total{code="CAIRN_ERR_FRAME_INVALID"} 1');
      const lint = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
      if (lint.error) throw new Error(`promtool not runnable (${lint.error.message}): install Debian's prometheus package (.ci/run does)`);
      expect(`${lint.stdout}${lint.stderr}`.trim()).toBe('');
      expect(lint.status).toBe(0);
    } finally {
      await h.stop();
    }
  });
});
