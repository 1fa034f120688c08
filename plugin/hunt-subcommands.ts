/**
 * The `hunt` subcommands beyond start/stop: admin status, reload, suspects,
 * prizes and grant; player clue and leaderboard. Questions the plugin cannot answer alone
 * (finds so far, leaderboard) go over the link as queries, answered from the worker's
 * state; the answer arrives asynchronously and is sent to the asker when it comes.
 */
import { DEFAULT_WINDOW_MS, type PrizeGift, type PrizeKey, type QueryKind, type QueryReplyOf } from '../protocol/index.js';
import { logger } from '../common/log.js';
import { ADMIN_PERMISSION, ROOT, huntArg, type CommandContext, type Subcommand } from './commands.js';
import type { LocalRun } from './hunt-runs.js';

const log = logger('plugin');

/** Players' permission node for the player subcommands (granted by default, plugin.json). */
export const PLAY_PERMISSION = 'cairn.play';

export interface SuspectRecord {
  player: string;
  hunt: string;
  treasure: string;
  t: number;
}

/** What the subcommands need from the running plugin. */
export interface CommandServices {
  query(q: { q: QueryKind; hunt: string; n?: number; player?: string }): Promise<Record<string, unknown>>;
  /** re-reads the hunts folder at command time `t`; on failure the old rules stay and `errors` says why */
  reload(t: number): { ok: true; hunts: string[]; changed: string[] } | { ok: false; errors: string[] };
  /** what this server knows at once of whether a hunt runs (starts and stops issued here, the schedule) */
  localRun(hunt: string): LocalRun;
  /** the prizes the ledger holds for a player who is offline */
  heldPrizes(player?: string): PrizeGift[];
  /** grants a crash interrupted that only an admin can resolve */
  uncertainPrizes(): PrizeGift[];
  /** records an admin's resolution of an uncertain grant; resolves once it is durable */
  resolveUncertain(key: PrizeKey, how: 'given' | 'give', by: string): Promise<'granted' | 'given-now' | 'held' | 'not-uncertain'>;
  suspects(hunt: string): SuspectRecord[];
  linkStatus(): { connected: boolean; outboxBatches: number; batchesSent: number; eventsSent: number; deltasSent: number; samples: number };
}

const when = (t: number | null | undefined) => (t ? new Date(t).toISOString().slice(11, 19) : 'never');
/** HH:MM (UTC) */
const hm = (t: number | undefined) => (t === undefined ? '?' : new Date(t).toISOString().slice(11, 16));

/** This server's view of a hunt, said at once; undefined when it knows nothing. */
function localLine(hunt: string, run: LocalRun): string | undefined {
  const by = run.by === 'schedule' ? 'by its schedule' : `here by ${run.by}`;
  if (run.state === 'running') return `${hunt}: running since ${hm(run.since)} (started ${by}), first window closes at ${hm(run.firstWindowEnd)}.`;
  if (run.state === 'stopped') return `${hunt}: stopped at ${hm(run.since)} (stopped ${by}).`;
  if (run.state === 'scheduled') return `${hunt}: scheduled to start at ${hm(run.since)}, first window closes at ${hm(run.firstWindowEnd)}.`;
  return undefined;
}

/** The hunt id named by the first argument, or undefined after answering with the known ids. */
const huntOr = (ctx: CommandContext): string | undefined => huntArg(ctx)?.rules.id;

/** Runs a query and replies with its rendering, or with why it failed. */
function ask<K extends QueryKind>(
  ctx: CommandContext,
  services: CommandServices,
  q: { q: K; hunt: string; n?: number; player?: string },
  render: (data: QueryReplyOf<K>) => string[],
): void {
  services.query(q).then(
    (data) => {
      // The gateway answers a query of kind K with QueryReplyOf<K> (gateway/queries.ts).
      for (const line of render(data as QueryReplyOf<K>)) ctx.reply(line);
    },
    (err: Error) => {
      log.warn({ err, q }, 'query failed');
      ctx.reply(`Cannot reach the hunt service right now (${err.message}); try again in a moment.`);
    },
  );
}

export function huntSubcommands(services: CommandServices): Subcommand[] {
  return [
    {
      name: 'status',
      usage: `/${ROOT} status [id]`,
      description: 'running or not, window, finds, prizes, link health',
      permission: ADMIN_PERMISSION,
      minArgs: 0,
      maxArgs: 1,
      run(ctx) {
        const link = services.linkStatus();
        const held = services.heldPrizes();
        const uncertain = services.uncertainPrizes().length;
        const ids = ctx.args.length ? [huntOr(ctx)].filter((x): x is string => !!x) : ctx.hunts.ids();
        if (ctx.args.length && !ids.length) return;
        ctx.reply(
          `Link: ${link.connected ? 'connected' : 'DISCONNECTED'}, ${link.outboxBatches} batches awaiting ack; sent ${link.eventsSent} events + ${link.deltasSent} deltas from ${link.samples} samples. ` +
            `Prizes held for offline players here: ${held.length}.` +
            (uncertain ? ` UNCERTAIN grants (a crash interrupted them; see /${ROOT} prizes --uncertain): ${uncertain}.` : ''),
        );
        for (const hunt of ids) {
          const run = services.localRun(hunt);
          const local = localLine(hunt, run);
          if (local) ctx.reply(local);
          ask(ctx, services, { q: 'status', hunt }, (d) => {
            const finders = Object.entries((d.finders as Record<string, number>) ?? {}).map(([tr, n]) => `${tr} ${n}`);
            const mismatched = Object.keys((d.mismatchedServers as Record<string, string>) ?? {});
            const differs = (run.state === 'running' && !d.running) || (run.state === 'stopped' && !!d.running);
            return [
              `${local ? '  worker: ' : `${hunt}: `}${d.running ? 'RUNNING' : 'not running'}${differs ? ' (differs from this server\'s view: the worker sees a start or stop once the window it falls in closes)' : ''}; windows of ${Number(d.windowMs ?? DEFAULT_WINDOW_MS) / 1000}s, closed through ${when(d.closedThrough as number)}; ` +
                `${d.finds} finds (${finders.join(', ') || 'none'}), ${d.completions} completions, ${d.prizesDecided} prizes decided, ${d.suspects} suspect entries, ${d.lateEvents} late events.`,
              ...(mismatched.length ? [`  servers with different rules than those in force: ${mismatched.join(', ')}`] : []),
            ];
          });
        }
      },
    },
    {
      name: 'reload',
      usage: `/${ROOT} reload`,
      description: 're-reads the hunts folder (keeps the old rules if the new ones are invalid)',
      permission: ADMIN_PERMISSION,
      minArgs: 0,
      maxArgs: 0,
      run(ctx) {
        const res = services.reload(ctx.t);
        if (!res.ok) {
          ctx.reply(`Reload refused; the old rules stay in force. ${res.errors.length} problem${res.errors.length === 1 ? '' : 's'}:`);
          for (const e of res.errors.slice(0, 10)) ctx.reply(`  ${e}`);
          if (res.errors.length > 10) ctx.reply(`  ... and ${res.errors.length - 10} more (npx cairn check-rules shows them all)`);
          return;
        }
        ctx.reply(`Reloaded ${res.hunts.length} hunt${res.hunts.length === 1 ? '' : 's'}${res.changed.length ? `; changed: ${res.changed.join(', ')} (running hunts use them from the next window)` : '; nothing changed'}.`);
      },
    },
    {
      name: 'suspects',
      usage: `/${ROOT} suspects <id>`,
      description: 'entries that broke the hunt\'s maxSpeed on this server',
      permission: ADMIN_PERMISSION,
      minArgs: 1,
      maxArgs: 1,
      run(ctx) {
        const hunt = huntOr(ctx);
        if (!hunt) return;
        const list = services.suspects(hunt);
        if (!list.length) {
          ctx.reply(`No suspect entries for ${hunt} on this server.`);
          return;
        }
        ctx.reply(`${list.length} suspect entr${list.length === 1 ? 'y' : 'ies'} for ${hunt} (too fast; no find):`);
        for (const s of list.slice(-20)) ctx.reply(`  ${when(s.t)} ${s.player} into ${s.treasure}`);
      },
    },
    {
      name: 'prizes',
      usage: `/${ROOT} prizes [player|--uncertain]`,
      description: 'prizes held for offline players on this server, or grants a crash left uncertain',
      permission: ADMIN_PERMISSION,
      minArgs: 0,
      maxArgs: 1,
      run(ctx) {
        if (ctx.args[0] === '--uncertain') {
          const list = services.uncertainPrizes();
          if (!list.length) {
            ctx.reply('No grants are uncertain.');
            return;
          }
          ctx.reply(`${list.length} grant${list.length === 1 ? ' was' : 's were'} interrupted by a crash: the game may or may not have given ${list.length === 1 ? 'it' : 'them'}. Check, then resolve each with /${ROOT} grant <hunt> <reason> given (it was given) or give (it was not: give it now, or when the player joins):`);
          for (const p of list.slice(0, 30)) ctx.reply(`  ${p.hunt} ${p.reason}: ${p.count} x ${p.item} to ${p.player}`);
          if (list.length > 30) ctx.reply(`  ... and ${list.length - 30} more`);
          return;
        }
        const held = services.heldPrizes(ctx.args[0]);
        if (!held.length) {
          ctx.reply(ctx.args[0] ? `No prizes are held for ${ctx.args[0]}.` : 'No prizes are held.');
          return;
        }
        ctx.reply(`${held.length} prize${held.length === 1 ? '' : 's'} held until the player joins:`);
        for (const p of held.slice(0, 30)) ctx.reply(`  ${p.player}: ${p.count} x ${p.item} (${p.hunt} ${p.reason})`);
      },
    },
    {
      name: 'grant',
      usage: `/${ROOT} grant <player> <item> <count> | /${ROOT} grant <hunt> <reason> given|give`,
      description: 'gives items by hand, or resolves an uncertain grant (audited)',
      permission: ADMIN_PERMISSION,
      minArgs: 3,
      maxArgs: 3,
      run(ctx) {
        const [first, second, third] = ctx.args as [string, string, string];
        if (third === 'given' || third === 'give') {
          resolve(ctx, services, { hunt: first, reason: second }, third);
          return;
        }
        const [player, item, count] = [first, second, Number(third)];
        if (!Number.isInteger(count) || count < 1 || count > 1_000_000) {
          ctx.reply(`Usage: /${ROOT} grant <player> <item> <count> (count is a whole number from 1 to 1000000), or /${ROOT} grant <hunt> <reason> given|give`);
          return;
        }
        if (!ctx.host.isOnline(player)) {
          ctx.reply(`${player} is not online here; nothing was given.`);
          return;
        }
        const ok = ctx.host.giveItem(player, item, count);
        log.warn({ audit: 'grant', by: ctx.player, player, item, count, ok, t: ctx.t }, 'manual grant');
        ctx.reply(ok ? `Gave ${count} x ${item} to ${player} (audited).` : `The server refused to give ${item} to ${player}.`);
      },
    },
    {
      name: 'clue',
      usage: `/${ROOT} clue <id>`,
      description: 'clues to the treasures you have not found',
      permission: PLAY_PERMISSION,
      minArgs: 1,
      maxArgs: 1,
      run(ctx) {
        const hunt = huntOr(ctx);
        if (!hunt) return;
        const rules = ctx.hunts.get(hunt)!.rules;
        ask(ctx, services, { q: 'leaderboard', hunt, n: 1, player: ctx.player }, (d) => {
          const found = new Set(d.you?.treasures ?? []);
          let open = rules.treasures.filter((t) => !found.has(t.id));
          if (rules.ordered) open = open.slice(0, 1);
          if (!open.length) return [`You have found every treasure of ${rules.name}.`];
          return [`Clues for ${rules.name}${rules.ordered ? ' (next treasure)' : ''}:`, ...open.map((t) => `  ${t.id}: ${t.clue ?? '(no clue for this one)'}`)];
        });
      },
    },
    {
      name: 'progress',
      usage: `/${ROOT} progress [id]`,
      description: 'the treasures you found and what is left',
      permission: PLAY_PERMISSION,
      minArgs: 0,
      maxArgs: 1,
      run(ctx) {
        const ids = ctx.args.length ? [huntOr(ctx)].filter((x): x is string => !!x) : ctx.hunts.ids();
        for (const hunt of ids) {
          const rules = ctx.hunts.get(hunt)!.rules;
          ask(ctx, services, { q: 'leaderboard', hunt, n: 1, player: ctx.player }, (d) => {
            // Treasure ids only: never a position, radius or anything a clue does not already say.
            const found = new Set(((d.you as { treasures?: string[] } | undefined)?.treasures) ?? []);
            const done = rules.treasures.filter((t) => found.has(t.id)).map((t) => t.id);
            const left = rules.treasures.filter((t) => !found.has(t.id)).map((t) => t.id);
            const head = `${rules.name}: you found ${done.length} of ${rules.treasures.length}${done.length ? ` (${done.join(', ')})` : ''}`;
            const rest = left.length === 0 ? 'you found them all!' : rules.ordered ? `next: ${left[0]}${left.length > 1 ? `, then ${left.length - 1} more` : ''}` : `left: ${left.join(', ')}`;
            return [`${head}; ${rest} (finds count once their window closes; as of ${when(d.closedThrough as number)}).`];
          });
        }
      },
    },
    {
      name: 'leaderboard',
      usage: `/${ROOT} leaderboard <id> [n]`,
      description: 'top finders, and your own rank',
      permission: PLAY_PERMISSION,
      minArgs: 1,
      maxArgs: 2,
      run(ctx) {
        const hunt = huntOr(ctx);
        if (!hunt) return;
        const n = ctx.args[1] === undefined ? 10 : Number(ctx.args[1]);
        if (!Number.isInteger(n) || n < 1 || n > 100) {
          ctx.reply(`Usage: /${ROOT} leaderboard <id> [n] (n from 1 to 100)`);
          return;
        }
        ask(ctx, services, { q: 'leaderboard', hunt, n, player: ctx.player }, (d) => {
          const top = d.top ?? [];
          const you = d.you;
          if (!top.length) return [`No finds in ${hunt} yet.`];
          return [
            `${hunt} leaderboard (${d.players} players, as of ${when(d.closedThrough)}):`,
            ...top.map((r) => `  ${String(r.rank).padStart(3)}. ${r.player} - ${r.found} found, last at ${when(r.last)}`),
            you ? `You are #${you.rank} with ${you.found} found.` : 'You have no finds yet.',
          ];
        });
      },
    },
  ];
}

/** `/hunt grant <hunt> <reason> given|give`: the answer comes once the resolution is durable. */
function resolve(ctx: CommandContext, services: CommandServices, key: PrizeKey, how: 'given' | 'give'): void {
  const what = `${key.hunt} ${key.reason}`;
  services.resolveUncertain(key, how, ctx.player).then(
    (outcome) => {
      const answers = {
        granted: `Recorded ${what} as given (audited); it will not be given again.`,
        'given-now': `Gave ${what} now and recorded it (audited).`,
        held: `Recorded that ${what} was not given; it is held and given when its player next joins (audited).`,
        'not-uncertain': `${what} is not an uncertain grant (see /${ROOT} prizes --uncertain); nothing changed.`,
      };
      ctx.reply(answers[outcome]);
    },
    (err: Error) => {
      log.error({ err, key, how }, 'resolving an uncertain grant failed');
      ctx.reply(`Could not record the resolution of ${what} (${err.message}); nothing changed, try again.`);
    },
  );
}
