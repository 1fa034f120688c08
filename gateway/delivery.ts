/**
 * Delivery of one connected server's prizes: tails its prize stream in Redis
 * (RedisKeys.prizeStream) with the consumer group DELIVERY_GROUP and the server id as
 * consumer name, and pushes each entry down the connection as Prize / WindowClosed, in
 * stream order: what one read returns goes down in one call (Connection.deliver), as
 * Prizes frames to a plugin that takes them, so a window's prizes for a server cost one
 * frame and one socket write instead of one per prize. An entry stays pending in the
 * group until the server acks it (PrizeAck -> XACK), so after a reconnect the server's own
 * pending entries are read again first (XREADGROUP ... 0), then new ones (XREADGROUP ... >).
 *
 * An entry can also be left pending on a reader that is still running while its server is
 * connected elsewhere (a half-open connection on another gateway instance claimed it after
 * the new reader re-read the pending list). So a reader also takes over, every
 * `reclaimIdleMs`, entries pending longer than that in the group, whoever holds them
 * (XAUTOCLAIM), and delivers them again. The plugin's ledger makes a second delivery of a
 * prize harmless: it is recorded once, granted once, and acked again.
 *
 * Latency: an entry's id is the Redis time of the commit that appended it, i.e. the
 * window close; the time from it to the server's ack, read from Redis's clock in the same
 * round trip as the XACK (no skew between hosts), is observed per entry kind in
 * `cairn_gateway_prize_delivery_latency_seconds`.
 *
 * The blocking read holds its Redis connection, so each reader has a dedicated one
 * (a duplicate of the shared connection). Stopping sets a flag and unblocks the read
 * (CLIENT UNBLOCK), then waits for the loop to end, so a reader that replaces this one
 * starts only after every entry this one claimed is in the pending list it re-reads.
 */
import type { Redis } from 'ioredis';
import { Op, type Prize, type WindowClosed } from '../protocol/index.js';
import { raceTimeout, sleep } from '../common/async.js';
import { logger } from '../common/log.js';
import type { GatewayMetrics } from './metrics.js';
import { parsePrizeStreamEntry } from '../backend/prize-stream.js';
import { DELIVERY_GROUP, type RedisKeys } from '../backend/redis/keys.js';
import { redisTimeMs } from '../backend/redis/time.js';

const log = logger('gateway');

export interface DeliveryOptions {
  /** The shared connection: group creation, XACK, CLIENT UNBLOCK. */
  redis: Redis;
  keys: RedisKeys;
  server: string;
  metrics: GatewayMetrics;
  /**
   * Sends what one read returned down the connection, in order (Connection.deliver: in as
   * few frames as the plugin takes); false when none of it can be sent (connection closing).
   */
  send(msgs: readonly (Prize | WindowClosed)[]): boolean;
  /** True while the connection's send buffer is too full to take more deliveries. */
  congested?(): boolean;
  /** How long one XREADGROUP blocks: the longest a stop can wait for it. @default 1000 */
  blockMs?: number;
  /**
   * Entries per read. A window's entries for one server (its prizes and the window-closed)
   * should come in one read, so they reach the plugin in one frame and one group commit of
   * its ledger. @default 1000
   */
  count?: number;
  /**
   * Entries pending in the group for longer than this are taken over and delivered
   * again (XAUTOCLAIM), checked as often. 0 turns it off. @default 30000
   */
  reclaimIdleMs?: number;
}

/** The ms part of a stream entry id ("1764331200000-0"). */
const idTime = (id: string): number => Number(id.slice(0, id.indexOf('-')));

type StreamEntries = [id: string, fields: string[] | null][];

/**
 * The entries of a one-stream XREADGROUP reply, whatever the connection's protocol:
 * RESP2 gives [[key, entries]], RESP3 a map that ioredis hands over as a flat
 * [key, entries] array (replyMapping "legacy", its default) or as { key: entries }.
 */
export function streamEntries(reply: unknown): StreamEntries {
  if (reply === null || reply === undefined) return [];
  if (Array.isArray(reply)) {
    if (reply.length === 0) return [];
    if (Array.isArray(reply[0])) return ((reply[0] as unknown[])[1] ?? []) as StreamEntries;
    return (reply[1] ?? []) as StreamEntries;
  }
  if (typeof reply === 'object') return (Object.values(reply)[0] ?? []) as StreamEntries;
  return [];
}


export async function ensureDeliveryGroup(redis: Redis, key: string): Promise<void> {
  try {
    await redis.call('XGROUP', 'CREATE', key, DELIVERY_GROUP, '0', 'MKSTREAM');
  } catch (err) {
    if (!String((err as Error).message).includes('BUSYGROUP')) throw err;
  }
}

/** Disconnects and waits until the socket is closed, so Redis no longer counts the client. */
async function closeConnection(r: Redis): Promise<void> {
  if (r.status === 'end') return;
  const ended = new Promise<void>((resolve) => r.once('end', () => resolve()));
  r.disconnect();
  await raceTimeout(ended, 1000);
}

export class Delivery {
  private readonly key: string;
  private readonly blockMs: number;
  private readonly count: number;
  private readonly reclaimIdleMs: number;
  private lastReclaim = Date.now();
  /** delivered, not yet acked on this delivery: id -> kind */
  private readonly unacked = new Map<string, 'prize' | 'closed'>();
  private readonly ackQueue: string[] = [];
  private ackFlush: Promise<void> | undefined;
  private stopped = false;
  private reader: Redis | undefined;
  private readerId: number | undefined;
  private loop: Promise<void> | undefined;

  constructor(private readonly opts: DeliveryOptions) {
    this.key = opts.keys.prizeStream(opts.server);
    this.blockMs = opts.blockMs ?? 1000;
    this.count = opts.count ?? 1000;
    this.reclaimIdleMs = opts.reclaimIdleMs ?? 30_000;
  }

  start(): void {
    this.loop ??= this.run().catch((err) => log.error({ err, server: this.opts.server }, 'delivery loop failed'));
  }

  /**
   * XACKs delivered entries the server has recorded, and observes their latency from the
   * window close. A plugin acks each prize on its own; acks arriving in the same turn of
   * the event loop go to Redis as one XACK (a window of 100 prizes for one server was 100
   * round trips).
   */
  ack(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return Promise.resolve();
    for (const id of ids) this.ackQueue.push(id);
    this.ackFlush ??= new Promise<void>((resolve, reject) => {
      setImmediate(() => {
        const batch = this.ackQueue.splice(0);
        this.ackFlush = undefined;
        this.xack(batch).then(resolve, reject);
      });
    });
    return this.ackFlush;
  }

  private async xack(ids: string[]): Promise<void> {
    const res = await this.opts.redis.pipeline().call('XACK', this.key, DELIVERY_GROUP, ...ids).time().exec();
    const [ackErr, acked] = res?.[0] ?? [];
    if (ackErr) throw ackErr;
    this.opts.metrics.prizeAcks(Number(acked));
    const [timeErr, time] = res?.[1] ?? [];
    if (timeErr) return;
    const now = redisTimeMs(time);
    for (const id of ids) {
      const kind = this.unacked.get(id);
      if (kind === undefined) continue;
      this.unacked.delete(id);
      this.opts.metrics.deliveryLatency(kind, Math.max(0, now - idTime(id)) / 1000);
    }
  }

  /** Stops reading; resolves once no read of this reader can claim another entry. */
  async stop(): Promise<void> {
    if (this.stopped) return this.loop;
    this.stopped = true;
    if (this.readerId !== undefined) {
      await this.opts.redis.call('CLIENT', 'UNBLOCK', String(this.readerId)).catch(() => {});
    }
    // A reader stuck reconnecting never returns; bound the wait, then cut its connection.
    await raceTimeout(this.loop ?? Promise.resolve(), this.blockMs + 2000);
    if (this.reader) await closeConnection(this.reader);
    await this.loop;
  }

  private async run(): Promise<void> {
    // Named, so an operator (or a test) can tell delivery readers apart in CLIENT LIST.
    const reader = this.opts.redis.duplicate({ connectionName: `cairn-delivery:${this.key}` });
    this.reader = reader;
    reader.on('error', (err) => log.warn({ err, server: this.opts.server }, 'delivery redis connection error'));
    reader.on('ready', () => {
      // The id changes with every reconnect; CLIENT UNBLOCK needs the current one.
      reader.client('ID').then((id) => (this.readerId = Number(id)), () => {});
    });
    try {
      if (reader.status === 'wait') await reader.connect();
      this.readerId = Number(await reader.client('ID'));
      while (!this.stopped) {
        try {
          await ensureDeliveryGroup(this.opts.redis, this.key);
          await this.readPending(reader);
          await this.readNew(reader);
        } catch (err) {
          if (this.stopped) break;
          log.warn({ err, server: this.opts.server }, 'delivery read failed; restarting from the pending entries');
          await sleep(Math.min(this.blockMs, 500), { unref: true });
        }
      }
    } finally {
      await closeConnection(reader);
    }
  }

  /** Entries delivered to this consumer earlier and never acked, from the start. */
  private async readPending(reader: Redis): Promise<void> {
    let cursor = '0';
    while (!this.stopped) {
      const entries = streamEntries(await reader.call('XREADGROUP', 'GROUP', DELIVERY_GROUP, this.opts.server, 'COUNT', this.count, 'STREAMS', this.key, cursor));
      if (entries.length === 0) return;
      await this.deliver(entries);
      cursor = entries[entries.length - 1]![0];
    }
  }

  /** Entries pending longer than reclaimIdleMs, whoever holds them, taken over and delivered again. */
  private async reclaim(reader: Redis): Promise<void> {
    this.lastReclaim = Date.now();
    let cursor = '0-0';
    do {
      const res = (await reader.call('XAUTOCLAIM', this.key, DELIVERY_GROUP, this.opts.server, this.reclaimIdleMs, cursor, 'COUNT', this.count)) as [string, StreamEntries, string[]?];
      cursor = res[0];
      const entries = res[1] ?? [];
      if (entries.length) {
        log.info({ server: this.opts.server, entries: entries.length }, 'delivering prize stream entries again that stayed unacked too long');
        await this.deliver(entries);
      }
    } while (cursor !== '0-0' && !this.stopped);
  }

  private async readNew(reader: Redis): Promise<void> {
    while (!this.stopped) {
      while (this.opts.congested?.() && !this.stopped) await sleep(20, { unref: true });
      if (this.stopped) return;
      if (this.reclaimIdleMs > 0 && Date.now() - this.lastReclaim >= this.reclaimIdleMs) await this.reclaim(reader);
      const entries = streamEntries(
        await reader.call('XREADGROUP', 'GROUP', DELIVERY_GROUP, this.opts.server, 'COUNT', this.count, 'BLOCK', this.blockMs, 'STREAMS', this.key, '>'),
      );
      if (entries.length > 0) await this.deliver(entries);
    }
  }

  private async deliver(entries: StreamEntries): Promise<void> {
    const dead: string[] = [];
    const msgs: Array<Prize | WindowClosed> = [];
    for (const [id, fields] of entries) {
      // A pending entry trimmed from the stream (24 h retention) comes back without fields.
      if (fields === null) {
        dead.push(id);
        continue;
      }
      const entry = parsePrizeStreamEntry(id, fields);
      if (!entry) {
        log.warn({ server: this.opts.server, id, fields }, 'prize stream entry of unknown kind; acking without delivery');
        this.opts.metrics.unknownPrizeEntry();
        dead.push(id);
        continue;
      }
      msgs.push(
        entry.kind === 'prize'
          ? { op: Op.Prize, id, hunt: entry.hunt, reason: entry.reason, player: entry.player, item: entry.item, count: entry.count }
          : { op: Op.WindowClosed, id, hunt: entry.hunt, start: entry.start, end: entry.end },
      );
    }
    // Once stopped, or when the connection cannot take them, they stay pending for the next
    // reader of this server.
    if (msgs.length > 0 && !this.stopped && this.opts.send(msgs)) {
      for (const m of msgs) if (this.unacked.size < 100_000) this.unacked.set(m.id, m.op === Op.Prize ? 'prize' : 'closed');
      this.opts.metrics.delivered(msgs.length);
    }
    if (dead.length > 0) await this.opts.redis.call('XACK', this.key, DELIVERY_GROUP, ...dead);
  }
}
