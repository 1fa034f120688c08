/**
 * `cairn demo` (npm start): a simulated hunt end to end on embedded defaults. Two game
 * servers full of bots, the plugin in each, the gateway, a worker, Kinesis (kinesalite)
 * and Redis; prints progress while it runs and a summary at the end.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDuration, windowMs } from '../protocol/index.js';
import { loadRulesFile } from '../plugin/rules-file.js';
import { loadEnvConfig } from '../backend/config.js';
import { rootLogger } from '../common/log.js';
import { sleep } from '../common/async.js';
import { CairnPlugin } from '../plugin/cairn-plugin.js';
import { SimHost } from '../plugin/hosts/sim-host.js';
import { parse, UsageError } from './main.js';
import { startStack } from './stack.js';

const DEFAULT_HUNT = fileURLToPath(new URL('../hunts/spring.json', import.meta.url));
const TICK_MS = 50;
const fmt = (n: number) => n.toLocaleString('en-US');

export async function demoCommand(args: string[]): Promise<number> {
  const { values } = parse(args, {
    duration: { type: 'string', default: '60s' },
    bots: { type: 'string', default: '24' },
    rules: { type: 'string', default: DEFAULT_HUNT },
    seed: { type: 'string', default: '7' },
  });
  let durationMs: number;
  try {
    durationMs = parseDuration(values.duration!);
  } catch (err) {
    throw new UsageError(`--duration: ${(err as Error).message}`);
  }
  const bots = Number(values.bots);
  if (!Number.isInteger(bots) || bots < 2 || bots > 5000) throw new UsageError('--bots must be an integer from 2 to 5000');
  if (durationMs < 20_000) throw new UsageError('--duration must be at least 20s (the hunt needs time to run)');
  const rules = loadRulesFile(values.rules!);
  const config = loadEnvConfig();
  // The demo talks to people on stdout; component logs stay quiet unless asked for.
  if (!process.env.CAIRN_LOG_LEVEL) rootLogger().level = 'warn';
  const out = (s: string) => process.stdout.write(s + '\n');

  out(`Cairn demo: "${rules.name}" (${rules.treasures.length} treasures, ${rules.window ?? '60s'} windows) on two simulated servers with ${bots} bots, for ${values.duration}.`);
  out('Starting Redis, Kinesis (kinesalite), the gateway and a worker...');
  const stack = await startStack({ config, embedded: true, gateway: true, workers: 1, isolate: true, port: 0, pollMs: 100, pagePort: config.pagePort ?? 0 });
  out(`  Redis ${stack.redisUrl} (prefix ${stack.keys.prefix}), Kinesis ${stack.kinesisEndpoint ?? 'AWS'} stream ${stack.stream}, gateway ${stack.gateway!.url}`);
  out(`  Live hunt page: ${stack.page!.url}/hunts/${rules.id} (admin view: ${stack.page!.url}/hunts/${rules.id}/admin, token CAIRN_PAGE_ADMIN_TOKEN or CAIRN_TOKEN); it stays up until the summary\n`);
  const dataRoot = mkdtempSync(join(tmpdir(), 'cairn-demo-'));
  const servers = ['srv-a', 'srv-b'];
  const hosts = servers.map((s, i) => new SimHost(s, [rules], { bots: Math.ceil(bots / 2), seed: Number(values.seed) + i, namePrefix: s.slice(-1), cheaterEvery: 11 }));
  const plugins: CairnPlugin[] = [];
  try {
    for (const host of hosts) {
      plugins.push(await CairnPlugin.start({ host, hunts: [rules], dataDir: join(dataRoot, host.serverId), gatewayUrl: stack.gateway!.url, token: config.token, registry: stack.registry }));
    }
    const feed = (i: number, samples: ReturnType<SimHost['step']>) => {
      for (const s of samples) plugins[i]!.accept(s);
    };
    hosts.forEach((h, i) => feed(i, h.joinAll()));
    const started = Date.now();
    const stopAt = started + durationMs - 12_000;
    let startedHunt = false;
    let triedDenied = false;
    let stopT = 0;
    let lastReport = started;
    let lastSamples = 0;
    const totals = () => {
      const ps = plugins.map((p) => p.stats());
      const sum = (k: string) => ps.reduce((a, s) => a + Number((s as unknown as Record<string, number>)[k] ?? 0), 0);
      const gw = stack.gateway!.stats() as unknown as Record<string, number>;
      const wk = stack.workers[0]!.stats() as unknown as Record<string, number>;
      return {
        samples: sum('samples'),
        deltas: sum('deltasSent'),
        events: sum('eventsSent'),
        granted: sum('prizesGranted'),
        held: sum('prizesHeld'),
        records: gw.records ?? 0,
        windows: wk.windowsClosed ?? 0,
        decided: wk.prizesCommitted ?? 0,
      };
    };
    while (Date.now() < stopAt) {
      await sleep(TICK_MS);
      const now = Date.now();
      if (!triedDenied && now - started > 1000) {
        triedDenied = true;
        const player = `${servers[1]!.slice(-1)}-bot-01`;
        out(`  ${player} (no permission) types /hunt start ${rules.id}  -> refused`);
        plugins[1]!.accept(hosts[1]!.command(player, `hunt start ${rules.id}`));
      }
      if (!startedHunt && now - started > 2000) {
        startedHunt = true;
        out(`  ${hosts[0]!.admin} types /hunt start ${rules.id}`);
        plugins[0]!.accept(hosts[0]!.command(hosts[0]!.admin, `hunt start ${rules.id}`));
      }
      hosts.forEach((h, i) => feed(i, h.step(TICK_MS)));
      if (now - lastReport >= 5000) {
        const t = totals();
        const rate = Math.round(((t.samples - lastSamples) * 1000) / (now - lastReport));
        lastReport = now;
        lastSamples = t.samples;
        out(
          `  [${String(Math.round((now - started) / 1000)).padStart(3)}s] samples ${fmt(rate)}/s | sent ${fmt(t.deltas)} deltas + ${fmt(t.events)} events | ` +
            `${fmt(t.records)} Kinesis records | ${t.windows} windows closed | ${t.decided} prizes decided, ${t.granted} granted`,
        );
      }
    }
    stopT = Date.now();
    out(`  ${hosts[0]!.admin} types /hunt stop ${rules.id}`);
    plugins[0]!.accept(hosts[0]!.command(hosts[0]!.admin, `hunt stop ${rules.id}`));
    // Wait until the window holding the stop has closed everywhere: every prize is in.
    const len = windowMs(rules);
    const lastEnd = (Math.floor(stopT / len) + 1) * len;
    out(`  waiting for the last window (ends ${new Date(lastEnd).toISOString().slice(11, 19)}) to close...`);
    await Promise.all(plugins.map((p) => p.waitClosed(rules.id, lastEnd)));
    const t = totals();
    const elapsed = (Date.now() - started) / 1000;
    const prizes = plugins.flatMap((p) => p.prizes());
    out(`\nPrizes awarded: ${prizes.length}`);
    const firsts = prizes.filter((p) => /^treasure:[^:]+:1$/.test(p.reason) || p.reason.startsWith('completion:'));
    firsts.sort((a, b) => a.reason.localeCompare(b.reason, 'en', { numeric: true }));
    for (const p of firsts) out(`  ${p.reason.padEnd(20)} ${p.player.padEnd(10)} on ${p.server}: ${p.count} x ${p.item}${p.status === 'pending' ? ' (held: player offline)' : ''}`);
    const haul = new Map<string, Map<string, number>>();
    for (const p of prizes) {
      const inv = haul.get(p.player) ?? new Map<string, number>();
      inv.set(p.item, (inv.get(p.item) ?? 0) + p.count);
      haul.set(p.player, inv);
    }
    if (haul.size) out('  every winner\'s haul:');
    for (const [player, inv] of [...haul].sort((a, b) => a[0].localeCompare(b[0]))) {
      out(`    ${player.padEnd(10)} ${[...inv].map(([item, n]) => `${n} ${item}`).join(', ')}`);
    }
    if (!prizes.length) out('  (none: no bot reached a treasure while the hunt ran; try --duration 90s)');
    const wire = t.deltas + t.events;
    out(
      `\nFigures: ${fmt(t.samples)} raw samples in ${elapsed.toFixed(1)} s -> ${fmt(wire)} wire events (${fmt(t.deltas)} deltas, ${fmt(t.events)} discrete; ` +
        `${wire ? (t.samples / wire).toFixed(1) : '-'}x fewer) -> ${fmt(t.records)} Kinesis records; ${t.windows} windows closed; ` +
        `${prizes.length} prizes (${t.granted} granted, ${t.held} held for offline players); suspects flagged: ${plugins.reduce((a, p) => a + Number((p.stats() as unknown as Record<string, number>).suspects ?? 0), 0)}.`,
    );
    hosts.forEach((h, i) => feed(i, h.leaveAll()));
    return 0;
  } finally {
    await Promise.all(plugins.map((p) => p.stop(3000).catch(() => {})));
    await stack.stop();
    rmSync(dataRoot, { recursive: true, force: true });
  }
}
