/**
 * Pushes a hunt's figures to the pages watching it, as Server-Sent Events: one poller
 * per hunt while anyone watches (none when nobody does), one Redis read per tick shared
 * by every watcher, and a message only when the watcher's view changed. Public and admin
 * watchers of a hunt share the read; each gets its own view of it.
 */
import type { ServerResponse } from 'node:http';
import type { Redis } from 'ioredis';
import type { RedisKeys } from '../../backend/redis/keys.js';
import { logger } from '../../common/log.js';
import type { RateHistory, RatePoint } from './rates.js';
import { HuntStateReader, publicView } from './state-reader.js';

const log = logger('live-page');

/** An SSE comment this often keeps proxies from closing an idle stream. */
const KEEPALIVE_MS = 15_000;

interface Watcher {
  res: ServerResponse;
  admin: boolean;
  last: string;
  /** time (unix s) of the newest rate point sent */
  lastRate: number;
}

/** What a page receives: the snapshot when its view changed, and the rate points it has not seen yet. */
export interface FeedMessage {
  snapshot?: unknown;
  rates: RatePoint[];
}

class HuntFeed {
  readonly watchers = new Set<Watcher>();
  private readonly reader: HuntStateReader;
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;

  constructor(redis: Redis, keys: RedisKeys, hunt: string, private readonly rates: RateHistory, private readonly pollMs: number) {
    this.reader = new HuntStateReader(redis, keys, hunt);
  }

  add(w: Watcher): void {
    this.watchers.add(w);
    if (!this.timer) this.timer = setInterval(() => void this.tick(), this.pollMs);
    void this.tick(w);
  }

  remove(w: Watcher): void {
    this.watchers.delete(w);
    if (!this.watchers.size) this.stop();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One read for every watcher; `only` sends to a new watcher its first full message. */
  private async tick(only?: Watcher): Promise<void> {
    if (this.ticking && !only) return;
    if (!only) this.ticking = true;
    try {
      const snap = await this.reader.read();
      const views = { admin: JSON.stringify(snap), public: JSON.stringify(publicView(snap)) };
      const history = this.rates.history();
      for (const w of only ? [only] : this.watchers) {
        const view = w.admin ? views.admin : views.public;
        const rates = history.filter((p) => p[0] > w.lastRate);
        if (rates.length) w.lastRate = rates[rates.length - 1]![0];
        const changed = view !== w.last;
        if (!changed && !rates.length) continue;
        w.last = view;
        w.res.write(`data: {${changed ? `"snapshot":${view},` : ''}"rates":${JSON.stringify(rates)}}\n\n`);
      }
    } catch (err) {
      log.warn({ err, hunt: this.reader.hunt }, 'live page: could not read the hunt');
    } finally {
      if (!only) this.ticking = false;
    }
  }
}

export class HuntFeeds {
  private readonly feeds = new Map<string, HuntFeed>();
  private readonly keepalive: NodeJS.Timeout;

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly rates: RateHistory,
    private readonly pollMs: number,
  ) {
    this.keepalive = setInterval(() => {
      for (const f of this.feeds.values()) for (const w of f.watchers) w.res.write(': keepalive\n\n');
    }, KEEPALIVE_MS);
  }

  /** Streams `hunt` to `res` until the client goes away. */
  watch(hunt: string, res: ServerResponse, admin: boolean): void {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    res.write('retry: 2000\n\n');
    let feed = this.feeds.get(hunt);
    if (!feed) this.feeds.set(hunt, (feed = new HuntFeed(this.redis, this.keys, hunt, this.rates, this.pollMs)));
    const w: Watcher = { res, admin, last: '', lastRate: 0 };
    feed.add(w);
    res.on('close', () => {
      feed.remove(w);
      if (!feed.watchers.size) this.feeds.delete(hunt);
    });
  }

  close(): void {
    clearInterval(this.keepalive);
    for (const f of this.feeds.values()) {
      f.stop();
      for (const w of f.watchers) w.res.end();
    }
    this.feeds.clear();
  }
}
