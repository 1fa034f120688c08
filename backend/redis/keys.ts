/**
 * Every Redis key Cairn uses, in one place. All keys start with the deployment's
 * prefix (CAIRN_REDIS_PREFIX, default "cairn"), so concurrent runs and tests never
 * see each other's data.
 *
 * Hash tags (`{...}`) decide where a key lives on a Redis Cluster, and every Lua script
 * touches keys of one tag only (a script over two slots answers CROSSSLOT):
 *   {hunt}    everything a hunt's window commit and its ingest read and write
 *   {server}  a server's epoch fence, durable seqs, watermarks, batch parts and prize
 *             stream: everything its hello, its acks, its records' marks and its
 *             delivery touch
 *   {shard}   a Kinesis shard's lease, fencing token and checkpoint
 * The three untagged keys (servers, hunts, workers) are each read or written alone.
 * README "Redis Cluster" says how this spreads.
 */
export class RedisKeys {
  constructor(readonly prefix: string) {}

  // --- gateway: servers, epochs, durable batches ---
  /** HASH server id -> newest epoch that said hello (the registry of active servers) */
  servers() { return `${this.prefix}:servers`; }
  /** STRING newest epoch of a server that said hello: the fence of stale plugin instances (the registry above is its copy for the frontier) */
  epoch(server: string) { return `${this.prefix}:epoch:{${server}}`; }
  /** STRING highest durable batch seq of (server, epoch) */
  durable(server: string, epoch: number) { return `${this.prefix}:durable:{${server}}:${epoch}`; }

  // --- live hunt page (gateway/live-page/event-tap.ts) ---
  /** SET of players online on one server epoch, from the join and leave events of its batches */
  online(server: string, epoch: number) { return `${this.prefix}:online:{${server}}:${epoch}`; }
  /** LIST of a hunt's latest treasure entries (JSON), newest first and capped: the admin map */
  entries(hunt: string) { return `${this.prefix}:hunt:{${hunt}}:entries`; }

  // --- delivery ---
  /** STREAM of prizes and window-closed entries for one server (backend/prize-stream.ts) */
  prizeStream(server: string) { return `${this.prefix}:prizes:{${server}}`; }
  /** HASH hunt -> end of the last window whose prizes and closed entry are on the server's prize stream (lua/fan-out-window-2.lua) */
  fannedOut(server: string) { return `${this.prefix}:fanned:{${server}}`; }

  // --- worker: watermarks ---
  /** SET of part indexes received for one batch (deleted when the batch is complete) */
  batchParts(server: string, epoch: number, seq: number) { return `${this.prefix}:parts:{${server}}:${epoch}:${seq}`; }
  /** HASH completed batch seq -> watermark, waiting for the contiguous prefix to reach it */
  batchDone(server: string, epoch: number) { return `${this.prefix}:bdone:{${server}}:${epoch}`; }
  /** HASH {next: next seq expected, wm: watermark of the contiguous complete prefix, at: Redis time of the last record ingested} */
  watermark(server: string, epoch: number) { return `${this.prefix}:wm:{${server}}:${epoch}`; }

  // --- worker: hunts ---
  /** SET of hunt ids with events */
  hunts() { return `${this.prefix}:hunts`; }
  /** ZSET of pending (not yet folded) events of a hunt, scored by event time; members: single events, or one chunk per record and window (worker/pending-events.ts) */
  pending(hunt: string) { return `${this.prefix}:hunt:{${hunt}}:pending`; }
  /** STRING window length in ms (from the first rules seen) */
  window(hunt: string) { return `${this.prefix}:hunt:{${hunt}}:window`; }
  /** STRING end (exclusive) of the last closed window: every event with t < it has been folded */
  closed(hunt: string) { return `${this.prefix}:hunt:{${hunt}}:closed`; }
  /** STRING JSON HuntState after the last closed window, without its players (see players) */
  state(hunt: string) { return `${this.prefix}:hunt:{${hunt}}:state`; }
  /** HASH bucket (FNV-1a of the player id mod 65536, base 36) -> JSON finds of the bucket's players (hunt/hunt-store.ts) */
  players(hunt: string) { return `${this.prefix}:hunt:{${hunt}}:players`; }
  /** HASH {end, at}: the committed window whose finds wait to be merged into `players`, and the Redis time of its commit (worker/window-merge.ts); absent when none wait */
  merge(hunt: string) { return `${this.prefix}:hunt:{${hunt}}:merge`; }
  /** STRING that window's finds, the merge list (hunt/find-list.ts) */
  mergeList(hunt: string) { return `${this.prefix}:hunt:{${hunt}}:merge-list`; }
  /** STRING a merge list sent ahead of the commit attempt `commitId`, renamed to mergeList by it (worker/lua/commit-window.lua); expires if the commit never comes */
  mergeStaged(hunt: string, commitId: string) { return `${this.prefix}:hunt:{${hunt}}:merge-staged:${commitId}`; }
  /** HASH reason -> JSON prize; each field is set once */
  prizes(hunt: string) { return `${this.prefix}:hunt:{${hunt}}:prizes`; }
  /** SET of events that arrived after their window closed */
  late(hunt: string) { return `${this.prefix}:hunt:{${hunt}}:late`; }
  /** ZSET window end -> JSON of a committed window still to fan out to the servers' prize streams (worker/window-fan-out.ts) */
  fanOut(hunt: string) { return `${this.prefix}:hunt:{${hunt}}:fan-out`; }

  // --- worker: shards ---
  /** ZSET worker id -> heartbeat deadline (ms): live workers for shard balancing */
  workers() { return `${this.prefix}:workers`; }
  /** STRING owner of a shard lease (SET NX PX) */
  lease(shard: string) { return `${this.prefix}:lease:{${shard}}`; }
  /** STRING fencing token counter of a shard (only grows) */
  leaseToken(shard: string) { return `${this.prefix}:lease-token:{${shard}}`; }
  /** HASH {token, seq}: the shard's checkpoint and the token that wrote it */
  checkpoint(shard: string) { return `${this.prefix}:ckpt:{${shard}}`; }
  /** HASH the checkpoint as versions without the {shard} tag stored it: read once when checkpoint() is missing */
  legacyCheckpoint(shard: string) { return `${this.prefix}:ckpt:${shard}`; }
}

/** Consumer group the gateway reads prize streams with. */
export const DELIVERY_GROUP = 'delivery';
