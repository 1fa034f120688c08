/**
 * The `hunt` command and its subcommands. Each subcommand declares its usage line, the
 * permission it needs and its argument count; the dispatcher checks the permission first
 * (a denied sender learns nothing, not even the hunt ids), then the arguments, and answers
 * every misuse with the usage line (EssentialsX style), never a stack trace.
 *
 * A command changes hunt state only by emitting discrete events (start, stop), stamped with
 * the command sample's time; a denied or malformed command emits nothing. More subcommands
 * (status, reload, clue, leaderboard: hunt-subcommands.ts) plug in with `register`.
 */
import type { DiscreteEvent } from '../protocol/index.js';
import { parseDuration } from '../protocol/index.js';
import { logger } from '../common/log.js';
import type { Host } from './host.js';
import type { HuntCatalog, LoadedHunt } from './hunt-catalog.js';

const log = logger('plugin');

/** The permission node that may start and stop hunts (declared in plugin.json). */
export const ADMIN_PERMISSION = 'cairn.admin';

/** A discrete event before the plugin stamps its identity (epoch `e`, counter `n`). */
export type EventDraft = DiscreteEvent extends infer E ? (E extends DiscreteEvent ? Omit<E, 'e' | 'n'> : never) : never;

export interface CommandContext {
  readonly host: Host;
  readonly hunts: HuntCatalog;
  /** who sent the command ('@console' for the console) */
  readonly player: string;
  /** the command sample's time */
  readonly t: number;
  /** arguments after the subcommand */
  readonly args: readonly string[];
  /** answers the sender */
  reply(message: string): void;
  /** queues a discrete event */
  emit(ev: EventDraft): void;
}

export interface Subcommand {
  readonly name: string;
  /** e.g. "/hunt start <id>" */
  readonly usage: string;
  readonly description: string;
  /** permission node needed; none means everyone */
  readonly permission?: string;
  readonly minArgs: number;
  readonly maxArgs: number;
  run(ctx: CommandContext): void;
}

export type CommandOutcome = 'ok' | 'denied' | 'usage' | 'unknown-subcommand' | 'not-ours' | 'failed';

export interface HuntCommandsOptions {
  host: Host;
  hunts: HuntCatalog;
  emit(ev: EventDraft): void;
  /** called for every denied command (counted as a metric) */
  onDenied?(player: string, subcommand: string): void;
}

export const ROOT = 'hunt';

export class HuntCommands {
  private readonly subs = new Map<string, Subcommand>();

  constructor(private readonly opts: HuntCommandsOptions) {
    for (const sub of builtinSubcommands(this)) this.register(sub);
  }

  register(sub: Subcommand): void {
    if (this.subs.has(sub.name)) throw new Error(`subcommand "${sub.name}" is registered twice`);
    this.subs.set(sub.name, sub);
  }

  /** Subcommands in registration order. */
  list(): Subcommand[] {
    return [...this.subs.values()];
  }

  /** Handles one command line (with or without a leading '/'); lines for other commands are 'not-ours'. */
  handle(player: string, line: string, t: number): CommandOutcome {
    const words = line.trim().replace(/^\//, '').split(/\s+/).filter((w) => w !== '');
    if (words[0]?.toLowerCase() !== ROOT) return 'not-ours';
    const host = this.opts.host;
    const reply = (message: string) => {
      try {
        host.tell(player, message);
      } catch (err) {
        log.warn({ err, player }, 'host.tell threw');
      }
    };
    const name = (words[1] ?? 'help').toLowerCase();
    const sub = this.subs.get(name);
    if (!sub) {
      const usable = this.list().filter((s) => this.allowed(player, s));
      reply(`Unknown subcommand "${words[1]}". Usage: /${ROOT} <${usable.map((s) => s.name).join('|')}>`);
      return 'unknown-subcommand';
    }
    if (!this.allowed(player, sub)) {
      reply(`You need the permission ${sub.permission} to use /${ROOT} ${sub.name}.`);
      this.opts.onDenied?.(player, sub.name);
      log.info({ player, subcommand: sub.name }, 'command denied');
      return 'denied';
    }
    const args = words.slice(2);
    if (args.length < sub.minArgs || args.length > sub.maxArgs) {
      reply(`Usage: ${sub.usage}`);
      return 'usage';
    }
    try {
      sub.run({ host, hunts: this.opts.hunts, player, t, args, reply, emit: this.opts.emit });
      return 'ok';
    } catch (err) {
      log.error({ err, player, line }, 'command failed');
      reply(`/${ROOT} ${sub.name} failed: ${(err as Error).message}`);
      return 'failed';
    }
  }

  /** Whether `player` may use `sub`. */
  allowed(player: string, sub: Subcommand): boolean {
    if (sub.permission === undefined) return true;
    try {
      return this.opts.host.hasPermission(player, sub.permission) === true;
    } catch (err) {
      log.error({ err, player }, 'host.hasPermission threw; denying');
      return false;
    }
  }
}

/** Looks up the hunt named by the first argument, or answers with the known ids. */
export function huntArg(ctx: CommandContext): LoadedHunt | undefined {
  const id = ctx.args[0]!;
  const hunt = ctx.hunts.get(id);
  if (hunt) return hunt;
  const ids = ctx.hunts.ids();
  ctx.reply(ids.length > 0 ? `Unknown hunt "${id}". Known hunts: ${ids.join(', ')}.` : `Unknown hunt "${id}": no hunts are loaded.`);
  return undefined;
}

function builtinSubcommands(commands: HuntCommands): Subcommand[] {
  return [
    {
      name: 'help',
      usage: `/${ROOT} help`,
      description: 'lists the hunt commands you can use',
      minArgs: 0,
      maxArgs: 0,
      run(ctx) {
        const usable = commands.list().filter((s) => commands.allowed(ctx.player, s));
        ctx.reply(`Cairn treasure hunt commands:`);
        for (const s of usable) ctx.reply(`  ${s.usage} - ${s.description}`);
      },
    },
    {
      name: 'list',
      usage: `/${ROOT} list`,
      description: 'lists the loaded hunts',
      permission: ADMIN_PERMISSION,
      minArgs: 0,
      maxArgs: 0,
      run(ctx) {
        const hunts = ctx.hunts.all();
        if (hunts.length === 0) {
          ctx.reply('No hunts are loaded.');
          return;
        }
        ctx.reply(`Loaded hunts (${hunts.length}):`);
        for (const { rules, hash } of hunts) {
          const n = rules.treasures.length;
          ctx.reply(`  ${rules.id} - ${rules.name}: ${n} treasure${n === 1 ? '' : 's'}, ${parseDuration(rules.window ?? '60s') / 1000}s windows, rules ${hash}`);
        }
      },
    },
    {
      name: 'start',
      usage: `/${ROOT} start <id>`,
      description: 'starts a hunt on every server',
      permission: ADMIN_PERMISSION,
      minArgs: 1,
      maxArgs: 1,
      run(ctx) {
        const hunt = huntArg(ctx);
        if (!hunt) return;
        ctx.emit({ k: 'start', t: ctx.t, p: ctx.player, hunt: hunt.rules.id, rules: hunt.rules, hash: hunt.hash });
        ctx.reply(`Starting hunt ${hunt.rules.id} (${hunt.rules.name}).`);
      },
    },
    {
      name: 'stop',
      usage: `/${ROOT} stop <id>`,
      description: 'stops a hunt on every server',
      permission: ADMIN_PERMISSION,
      minArgs: 1,
      maxArgs: 1,
      run(ctx) {
        const hunt = huntArg(ctx);
        if (!hunt) return;
        ctx.emit({ k: 'stop', t: ctx.t, p: ctx.player, hunt: hunt.rules.id });
        ctx.reply(`Stopping hunt ${hunt.rules.id} (${hunt.rules.name}).`);
      },
    },
  ];
}
