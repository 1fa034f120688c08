/**
 * Standalone use: SIGTERM stops the plugin cleanly — a final flush, a wait for
 * acks, and whatever was not acked left in the spill file — and then ends the process.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { JoinEvent } from '../../protocol/index.js';
import { Spill } from '../../plugin/spill/spill-file.js';
import { until } from './support/fake-gateway.js';
import { harness, type Harness } from './support/harness.js';

const CHILD = new URL('./support/signal-child.ts', import.meta.url).pathname;

let h: Harness;
beforeEach(async () => {
  h = await harness();
});
afterEach(async () => {
  await h.cleanup();
});

async function runChild(): Promise<{ signal: NodeJS.Signals | null; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, h.gw.url, h.dir], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CAIRN_LOG_LEVEL: 'info' } });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  await until(() => stdout.includes('ready'), 'the child plugin', 20_000);
  child.kill('SIGTERM');
  const [, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  return { signal, stderr };
}

describe('stopOnSignals', () => {
  it('on SIGTERM flushes, waits for the acks, and ends the process', async () => {
    const { signal, stderr } = await runChild();
    expect(signal).toBe('SIGTERM');
    const joins = h.gw.events().filter((e): e is JoinEvent => e.k === 'join');
    expect(joins.map((e) => e.p)).toEqual(['p0', 'p1', 'p2', 'p3', 'p4']);
    expect(stderr).toContain('nothing discrete was left unsent');
  });

  it('on SIGTERM with the gateway not acking, leaves the events in the spill file and says so', async () => {
    h.gw.autoAck = false;
    const { signal, stderr } = await runChild();
    expect(signal).toBe('SIGTERM');
    expect(stderr).toMatch(/plugin stopped with 7 discrete events in the spill file/);
    const spill = Spill.open(h.dir);
    const left: string[] = [];
    for (let r = spill.next(); r; r = spill.next()) left.push(...r.ev.map((e) => e.k));
    spill.close();
    expect(left).toEqual(['rules', 'rules', 'join', 'join', 'join', 'join', 'join']);
  });
});
