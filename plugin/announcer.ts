/**
 * Announcements to the players on this server: a hunt's start and stop (issued here), and
 * each window's winners once its prizes are in. The texts come from the rules' `announce`
 * (so a host can translate them), with English defaults; `announce.enabled: false` turns a
 * hunt's announcements off.
 *
 * Winners: a prize is sent to the server of the deciding find, and a window's prizes come
 * before its window-closed entry on each server's stream, so the prizes this server got
 * since the hunt's previous window-closed are this window's winners here. Each server
 * announces the winners it grants; a player on another server is announced there.
 */
import type { Prize } from '../protocol/index.js';
import type { AnnounceRules } from '../protocol/rules-schema.js';
import { logger } from '../common/log.js';
import type { Host } from './host.js';
import type { HuntCatalog } from './hunt-catalog.js';

const log = logger('plugin');

export const DEFAULT_ANNOUNCE: Required<Omit<AnnounceRules, 'enabled'>> = {
  start: 'The treasure hunt {name} has started! Type /hunt clue {hunt} for clues.',
  stop: 'The treasure hunt {name} is over.',
  winners: '{name}: {winners}',
  winner: '{player} won {count} x {item} ({treasure} #{rank})',
};

/** Fills `{key}` placeholders; an unknown one is left as written. */
export function fill(text: string, vars: Record<string, string | number>): string {
  return text.replace(/\{(\w+)\}/g, (m, key: string) => (key in vars ? String(vars[key]) : m));
}

export class Announcer {
  /** players online here, from join and leave samples */
  private readonly online = new Set<string>();
  /** hunt -> prizes received since its last window-closed */
  private readonly winners = new Map<string, Prize[]>();
  /** announcements told (one per player reached, counted once per announcement) */
  announced = 0;

  constructor(
    private readonly host: Host,
    private readonly catalog: HuntCatalog,
  ) {}

  joined(player: string): void {
    this.online.add(player);
  }

  left(player: string): void {
    this.online.delete(player);
  }

  started(hunt: string): void {
    this.say(hunt, 'start', {});
  }

  stopped(hunt: string): void {
    this.say(hunt, 'stop', {});
  }

  /** A prize arrived (after its commit): a winner of the window that closes next. */
  prize(p: Prize): void {
    let list = this.winners.get(p.hunt);
    if (!list) this.winners.set(p.hunt, (list = []));
    list.push(p);
  }

  /** The hunt's window closed here: announce its winners, if any. */
  windowClosed(hunt: string): void {
    const list = this.winners.get(hunt);
    this.winners.delete(hunt);
    // Nobody to tell: the text is not built (a window's winners are a string per prize).
    if (!list?.length || this.online.size === 0) return;
    const texts = this.texts(hunt);
    if (!texts) return;
    const one = list.map((p) => {
      const m = /^treasure:(.+):(\d+)$/.exec(p.reason) ?? /^(completion):(\d+)$/.exec(p.reason);
      return fill(texts.winner, { player: p.player, treasure: m?.[1] ?? p.reason, rank: m?.[2] ?? '', count: p.count, item: p.item });
    });
    this.tellAll(fill(texts.winners, { ...this.names(hunt), winners: one.join(', ') }));
  }

  private say(hunt: string, kind: 'start' | 'stop', vars: Record<string, string>): void {
    const texts = this.texts(hunt);
    if (texts) this.tellAll(fill(texts[kind], { ...this.names(hunt), ...vars }));
  }

  /** The hunt's texts, or undefined when its announcements are off (or it is unknown). */
  private texts(hunt: string): Required<Omit<AnnounceRules, 'enabled'>> | undefined {
    const a = this.catalog.get(hunt)?.rules.announce;
    if (!this.catalog.get(hunt) || a?.enabled === false) return undefined;
    return { ...DEFAULT_ANNOUNCE, ...a };
  }

  private names(hunt: string): { hunt: string; name: string } {
    return { hunt, name: this.catalog.get(hunt)?.rules.name ?? hunt };
  }

  private tellAll(message: string): void {
    this.announced++;
    for (const player of this.online) {
      try {
        this.host.tell(player, message);
      } catch (err) {
        log.warn({ err, player }, 'host.tell threw');
      }
    }
  }
}
