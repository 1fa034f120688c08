/**
 * Per-test set-up for plugin tests over a real socket: a fresh data folder, a fake
 * gateway on port 0, and every plugin started through `start` stopped afterwards.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CairnPlugin, type PluginOptions } from '../../../plugin/cairn-plugin.js';
import { FakeGateway } from './fake-gateway.js';
import { FakeHost } from './fake-host.js';
import { testHunts } from './hunts.js';

export interface Harness {
  gw: FakeGateway;
  host: FakeHost;
  dir: string;
  start(extra?: Partial<PluginOptions>): Promise<CairnPlugin>;
  cleanup(): Promise<void>;
}

export async function harness(): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-plugin-'));
  const gw = await FakeGateway.start();
  const host = new FakeHost();
  const plugins: CairnPlugin[] = [];
  return {
    gw,
    host,
    dir,
    async start(extra = {}) {
      const p = await CairnPlugin.start({
        host,
        hunts: testHunts(),
        dataDir: dir,
        gatewayUrl: gw.url,
        token: 'test-token',
        autoFlush: false,
        link: { backoffBaseMs: 10, backoffCapMs: 50 },
        ...extra,
      });
      plugins.push(p);
      return p;
    },
    async cleanup() {
      for (const p of plugins) await p.stop(0);
      await gw.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
