/**
 * What the `hunt` subcommands (hunt-subcommands.ts) need from the running plugin: queries
 * over the link, reloading the hunts folder, the ledger's held prizes, the suspect log and
 * the link's health.
 */
import { logger } from '../common/log.js';
import type { Host } from './host.js';
import type { HuntCatalog } from './hunt-catalog.js';
import type { HuntRuns } from './hunt-runs.js';
import { loadHuntsDir } from './hunts-folder.js';
import type { CommandServices, SuspectRecord } from './hunt-subcommands.js';
import type { Link } from './link.js';
import type { PluginStats } from './metrics.js';
import type { PrizeLedger, ResolveOutcome } from './prize-ledger.js';
import type { PrizeQueue } from './prize-queue.js';
import type { SampleIntake } from './sample-intake.js';
import type { RulesSwitch } from './rules-switch.js';

const log = logger('plugin');

export interface CommandServiceParts {
  server: string;
  /** the folder `hunt reload` re-reads; without it, reload is refused */
  huntsDir: string | undefined;
  host: Host;
  catalog: HuntCatalog;
  runs: HuntRuns;
  rulesSwitch: RulesSwitch;
  intake: SampleIntake;
  ledger: PrizeLedger;
  prizeQueue: PrizeQueue;
  link: Link;
  suspectLog: readonly SuspectRecord[];
  stats(): PluginStats;
}

export function commandServices(parts: CommandServiceParts): CommandServices {
  const { catalog, link } = parts;
  return {
    query: (q) => link.query(q),
    reload: (t) => {
      if (!parts.huntsDir) return { ok: false, errors: ['this server was started without a hunts folder to reload from'] };
      const res = loadHuntsDir(parts.huntsDir);
      if (!res.ok) return res;
      const changed = catalog.replace(res.hunts);
      // The triggers switch where the worker's fold does: from the next window of each changed hunt.
      parts.rulesSwitch.reload(t, res.hunts, changed);
      for (const id of changed) {
        const h = catalog.get(id);
        if (h) parts.intake.queueEvent({ k: 'rules', t, hunt: id, rules: h.rules, hash: h.hash, reload: 1 });
      }
      log.info({ server: parts.server, hunts: catalog.ids(), changed }, 'hunts reloaded');
      return { ok: true, hunts: catalog.ids(), changed };
    },
    localRun: (hunt) => {
      const h = catalog.get(hunt);
      return h ? parts.runs.view(h.rules, parts.host.now()) : { state: 'unknown' };
    },
    heldPrizes: (player) => parts.ledger.held(player),
    uncertainPrizes: () => parts.ledger.uncertain(),
    // Through the prize queue: ledger groups run one at a time.
    resolveUncertain: (key, how, by) =>
      new Promise<ResolveOutcome>((resolve, reject) => {
        parts.prizeQueue.push({ k: 'resolve', key, how, by, done: (o) => (o instanceof Error ? reject(o) : resolve(o)) });
      }),
    suspects: (hunt) => parts.suspectLog.filter((s) => s.hunt === hunt),
    linkStatus: () => {
      const st = parts.stats();
      return { connected: link.connected, outboxBatches: st.outboxBatches, batchesSent: st.batchesSent, eventsSent: st.eventsSent, deltasSent: st.deltasSent, samples: st.samples };
    },
  };
}
