/**
 * How far a hunt's prizes have gone, read from the servers' prize streams (backend/
 * prize-stream.ts): the worker appends each decided prize to its server's stream and a
 * window-closed entry to every stream; the gateway's delivery acks (XACK) a prize once
 * the game server has recorded it in its ledger. So a prize entry that the delivery group
 * has read and that is no longer in its pending list is granted (given in game, or held
 * in the ledger for a player who is offline); any other is still on its way.
 *
 * Streams are tailed: each read fetches only the entries appended since the last one.
 */
import type { Redis } from 'ioredis';
import { DELIVERY_GROUP, type RedisKeys } from '../../backend/redis/keys.js';
import { parsePrizeStreamEntry } from '../../backend/prize-stream.js';

export interface PrizeProgressFigures {
  /** prize entries of the hunt on the streams */
  delivered: number;
  /** of those, recorded by their game server */
  granted: number;
  /** of those, not yet recorded by their game server */
  pending: number;
  /** window commits of the hunt (each appends one window-closed entry per stream) */
  windowsClosed: number;
}

const PAGE = 1000;
/** Pending ids read per stream; more than this many unacked prizes count as pending. */
const PENDING_READ = 10_000;

/** Stream ids "ms-seq" in order. */
export function compareStreamIds(a: string, b: string): number {
  const [am, as] = a.split('-').map(Number) as [number, number];
  const [bm, bs] = b.split('-').map(Number) as [number, number];
  return am - bm || as - bs;
}

type Entries = [id: string, fields: string[]][];

export class PrizeProgress {
  private readonly cursor = new Map<string, string>();
  /** server -> ids of the hunt's prize entries on its stream */
  private readonly prizeIds = new Map<string, string[]>();
  /** "server start end" of the window-closed entries seen */
  private readonly closes = new Map<string, Set<string>>();

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly hunt: string,
  ) {}

  async read(servers: readonly string[]): Promise<PrizeProgressFigures> {
    let granted = 0;
    let delivered = 0;
    for (const server of servers) {
      await this.tail(server);
      const ids = this.prizeIds.get(server) ?? [];
      delivered += ids.length;
      if (ids.length) granted += await this.grantedOf(server, ids);
    }
    // Every commit appends its window-closed entry to each stream: count the busiest one.
    let windowsClosed = 0;
    for (const set of this.closes.values()) windowsClosed = Math.max(windowsClosed, set.size);
    return { delivered, granted, pending: delivered - granted, windowsClosed };
  }

  private async tail(server: string): Promise<void> {
    const key = this.keys.prizeStream(server);
    for (;;) {
      const from = this.cursor.get(server);
      const page = (await this.redis.xrange(key, from === undefined ? '-' : `(${from}`, '+', 'COUNT', PAGE)) as Entries;
      for (const [id, fields] of page) {
        const e = parsePrizeStreamEntry(id, fields);
        if (!e || e.hunt !== this.hunt) continue;
        if (e.kind === 'prize') {
          const ids = this.prizeIds.get(server) ?? [];
          ids.push(id);
          this.prizeIds.set(server, ids);
        } else {
          const set = this.closes.get(server) ?? new Set();
          set.add(`${e.start} ${e.end}`);
          this.closes.set(server, set);
        }
      }
      if (page.length) this.cursor.set(server, page[page.length - 1]![0]);
      if (page.length < PAGE) return;
    }
  }

  private async grantedOf(server: string, ids: readonly string[]): Promise<number> {
    const key = this.keys.prizeStream(server);
    let lastDelivered: string | undefined;
    try {
      const groups = (await this.redis.call('XINFO', 'GROUPS', key)) as (string | number)[][];
      for (const g of groups) {
        const f: Record<string, string | number> = {};
        for (let i = 0; i + 1 < g.length; i += 2) f[String(g[i])] = g[i + 1]!;
        if (f.name === DELIVERY_GROUP) lastDelivered = String(f['last-delivered-id']);
      }
    } catch (err) {
      if (/no such key/i.test((err as Error).message)) return 0; // no stream yet: nothing delivered
      throw err;
    }
    if (lastDelivered === undefined) return 0;
    const pending = (await this.redis.call('XPENDING', key, DELIVERY_GROUP, '-', '+', PENDING_READ)) as [string, ...unknown[]][];
    const unacked = new Set(pending.map((p) => p[0]));
    let n = 0;
    for (const id of ids) if (compareStreamIds(id, lastDelivered) <= 0 && !unacked.has(id)) n++;
    return n;
  }
}
