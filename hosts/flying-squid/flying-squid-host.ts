/**
 * The flying-squid host: Cairn inside a Minecraft server written in Node.js (npm
 * `flying-squid`). It maps the server onto the Host interface and feeds the plugin raw
 * samples:
 *
 *   'spawned'            -> join, then a move at the spawn position
 *   'move' (not cancelled, position changed) -> move, region from the configured boxes
 *   'disconnected'       -> leave (only for a player whose join was sent)
 *   /hunt ... (serv.commands) -> command, as the player or as '@console'
 *   giveItem             -> the player's inventory (stacks, then empty slots; all or nothing)
 *   tell                 -> player.chat, or serv.info for '@console'
 *   hasPermission        -> flying-squid's op flag, plus nodes for everyone and per player
 *
 * flying-squid stops the whole server on any exception thrown from a plugin hook
 * (src/lib/plugins/errorHandler.js exits the process on 'uncaughtException'), so every
 * handler here catches, logs and counts. Listeners are attached on 'spawned', since the
 * player's inventory is loaded just before it. Move events come about 20 per second per
 * walking player and none while standing still: nothing here relies on a steady rate.
 *
 * Just over ~300 lines: the mapping of flying-squid's events onto the Host interface is
 * one piece; options and inventory are their own files.
 */
import { logger } from '../../common/log.js';
import type { Vec3 } from '../../protocol/index.js';
import type { Host, Sample } from '../../plugin/host.js';
import type { FsCommandContext, FsItemConstructor, FsMoveData, FsPlayer, FsServer, FsWorld } from './flying-squid-api.js';
import { CONSOLE, type FlyingSquidHostOptions, type FlyingSquidHostStats, type RegionBox, type SampleSink } from './host-options.js';
import { planInsert } from './inventory.js';

const log = logger('flying-squid');

interface Tracked {
  player: FsPlayer;
  id: string;
  /** join sent to the sink */
  joined: boolean;
  last: [number, number, number, FsWorld] | undefined;
  detach: () => void;
}

const HUNT_USAGE = '/hunt <list|start|stop|help> [id]';

export class FlyingSquidHost implements Host {
  readonly serverId: string;
  private readonly serv: FsServer;
  private readonly Item: FsItemConstructor;
  private readonly items: Readonly<Record<string, string>>;
  private readonly regions: readonly RegionBox[];
  private readonly defaultRegion: string | undefined;
  private readonly everyone: ReadonlySet<string>;
  private readonly opNodes: ReadonlySet<string>;
  private readonly playerNodes: ReadonlyMap<string, ReadonlySet<string>>;
  private readonly idOf: (p: FsPlayer) => string;
  private readonly clock: () => number;
  /** by Cairn id: players whose 'spawned' we saw and who have not left */
  private readonly online = new Map<string, Tracked>();
  private sink: SampleSink | undefined;
  private lastStamp = 0;
  private closed = false;
  private readonly s: FlyingSquidHostStats = { joins: 0, leaves: 0, moves: 0, commands: 0, movesSkipped: 0, handlerErrors: 0, grantsRefused: 0 };
  private readonly onNewPlayer = (player: FsPlayer) => this.guard('newPlayer', () => this.track(player));

  constructor(serv: FsServer, opts: FlyingSquidHostOptions) {
    this.serv = serv;
    this.serverId = opts.serverId;
    this.Item = opts.Item;
    this.items = { ...opts.items };
    this.regions = (opts.regions ?? []).map((b) => ({ ...b, min: [...b.min] as Vec3, max: [...b.max] as Vec3 }));
    this.defaultRegion = opts.defaultRegion;
    this.everyone = new Set(opts.permissions?.everyone ?? ['cairn.play']);
    this.opNodes = new Set(opts.permissions?.op ?? ['cairn.admin', 'cairn.play']);
    this.playerNodes = new Map(Object.entries(opts.permissions?.players ?? {}).map(([k, v]) => [k, new Set(v)]));
    this.idOf = opts.playerId === 'uuid' ? (p) => p.uuid : (p) => p.username;
    this.clock = opts.clock ?? Date.now;
    for (const b of this.regions) {
      if (!b.name || b.min.some((v, i) => !(v <= b.max[i]!))) throw new Error(`region box ${JSON.stringify(b)}: needs a name and min <= max on every axis`);
    }
    serv.on('newPlayer', this.onNewPlayer);
    // Players who logged in before the adapter was made: track them as if they had just spawned.
    for (const p of serv.players) this.guard('existing player', () => this.onSpawned(this.trackedFor(p)));
    serv.commands.add({
      base: 'hunt',
      info: 'Cairn treasure hunts (/hunt help)',
      usage: HUNT_USAGE,
      // Not `op: true`: the plugin checks its own permission nodes and answers a denied player.
      action: (args: string, ctx: FsCommandContext) => this.guard('/hunt', () => this.onCommand(args, ctx)),
    });
  }

  /**
   * Starts feeding samples to `sink` (normally the CairnPlugin). Players already spawned get
   * their join and position now, so the plugin opens their sessions.
   */
  attach(sink: SampleSink): void {
    this.sink = sink;
    for (const tr of this.online.values()) {
      if (!tr.joined) this.guard('attach', () => this.sendJoin(tr));
    }
  }

  /** Stops feeding samples (the /hunt command then says Cairn is not running) and removes the listeners. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.sink = undefined;
    this.serv.off('newPlayer', this.onNewPlayer);
    for (const tr of this.online.values()) tr.detach();
    this.online.clear();
  }

  stats(): FlyingSquidHostStats {
    return { ...this.s };
  }

  // ---- Host ----

  /**
   * One millisecond behind the newest sample stamp: the plugin flushes with watermark
   * now(), and a sample stamped in the same millisecond after a flush would be at or before
   * a watermark already sent (a late sample). Stamps never go backwards.
   */
  now(): number {
    return this.stamp() - 1;
  }

  isOnline(player: string): boolean {
    const tr = this.online.get(player);
    return tr !== undefined && !tr.player.disconnected;
  }

  hasPermission(player: string, node: string): boolean {
    if (player === CONSOLE) return true;
    if (this.everyone.has(node)) return true;
    if (this.playerNodes.get(player)?.has(node)) return true;
    const tr = this.online.get(player);
    return tr !== undefined && tr.player.op === true && this.opNodes.has(node);
  }

  giveItem(player: string, item: string, count: number): boolean {
    try {
      const tr = this.online.get(player);
      if (!tr || tr.player.disconnected) return this.refused();
      const name = this.items[item] ?? item;
      const data = this.serv.registry.itemsByName[name.replace(/^minecraft:/, '')];
      if (!data) {
        log.error({ item, mapped: name, player }, 'no such Minecraft item; the prize is held (map it with the adapter option `items`)');
        return this.refused();
      }
      if (!Number.isSafeInteger(count) || count <= 0) return this.refused();
      const plan = planInsert(tr.player.inventory, data.id, data.stackSize, count);
      if (!plan) {
        log.warn({ player, item: name, count }, 'inventory full; the prize is held until the player joins again');
        return this.refused();
      }
      const inv = tr.player.inventory;
      for (const { slot, add } of plan) {
        const existing = inv.slots[slot];
        if (existing) {
          existing.count += add;
          inv.updateSlot(slot, existing);
        } else {
          inv.updateSlot(slot, new this.Item(data.id, add));
        }
      }
      return true;
    } catch (err) {
      this.s.handlerErrors++;
      log.error({ err, player, item, count }, 'giveItem failed; the prize is held');
      return this.refused();
    }
  }

  tell(player: string, message: string): void {
    try {
      if (player === CONSOLE) {
        this.serv.info(`[Cairn] ${message}`);
        return;
      }
      const tr = this.online.get(player);
      if (!tr || tr.player.disconnected) return;
      // Before 1.19 flying-squid reads '&x' as a colour code in chat ('&&' is a literal '&'); from 1.19 it sends text as is.
      tr.player.chat(this.serv.supportFeature('signedChat') ? message : message.replaceAll('&', '&&'));
    } catch (err) {
      this.s.handlerErrors++;
      log.warn({ err, player }, 'tell failed');
    }
  }

  /** The region of a position: the first box that holds it, else defaultRegion, else the world's name. */
  regionAt(world: FsWorld, x: number, y: number, z: number): string {
    const worldName = this.worldName(world);
    for (const b of this.regions) {
      if (b.world !== undefined && b.world !== worldName) continue;
      if (x >= b.min[0] && x <= b.max[0] && y >= b.min[1] && y <= b.max[1] && z >= b.min[2] && z <= b.max[2]) return b.name;
    }
    return this.defaultRegion ?? worldName;
  }

  // ---- flying-squid events ----

  private track(player: FsPlayer): void {
    const tr = this.trackedFor(player);
    const onSpawned = () => this.guard('spawned', () => this.onSpawned(tr));
    player.once('spawned', onSpawned);
    const prev = tr.detach;
    tr.detach = () => {
      player.off('spawned', onSpawned);
      prev();
    };
  }

  private trackedFor(player: FsPlayer): Tracked {
    return { player, id: '', joined: false, last: undefined, detach: () => {} };
  }

  private onSpawned(tr: Tracked): void {
    if (this.closed) return;
    const player = tr.player;
    tr.id = this.idOf(player);
    const onMove = (data: FsMoveData, cancelled: boolean) => this.guard('move', () => this.onMove(tr, data, cancelled));
    const onLeft = () => this.guard('disconnected', () => this.onLeft(tr));
    player.on('move', onMove);
    player.once('disconnected', onLeft);
    const prev = tr.detach;
    tr.detach = () => {
      player.off('move', onMove);
      player.off('disconnected', onLeft);
      prev();
    };
    const stale = this.online.get(tr.id);
    if (stale && stale !== tr) stale.detach();
    this.online.set(tr.id, tr);
    this.sendJoin(tr);
  }

  private sendJoin(tr: Tracked): void {
    if (!this.sink || tr.joined || tr.player.disconnected) return;
    tr.joined = true;
    this.s.joins++;
    this.emit({ type: 'join', t: this.stamp(), player: tr.id });
    // The spawn position is a position the server holds for the player: a treasure at spawn counts.
    const p = tr.player.position;
    this.sendMove(tr, tr.player.world, p.x, p.y, p.z);
  }

  private onMove(tr: Tracked, data: FsMoveData, cancelled: boolean): void {
    if (!this.sink || !tr.joined) return;
    const pos = data.position;
    const world = tr.player.world;
    const last = tr.last;
    if (cancelled || (last && last[0] === pos.x && last[1] === pos.y && last[2] === pos.z && last[3] === world)) {
      this.s.movesSkipped++;
      return;
    }
    this.sendMove(tr, world, pos.x, pos.y, pos.z);
  }

  private sendMove(tr: Tracked, world: FsWorld, x: number, y: number, z: number): void {
    tr.last = [x, y, z, world];
    this.s.moves++;
    this.emit({ type: 'move', t: this.stamp(), player: tr.id, region: this.regionAt(world, x, y, z), at: [x, y, z] });
  }

  private onLeft(tr: Tracked): void {
    tr.detach();
    if (this.online.get(tr.id) === tr) this.online.delete(tr.id);
    if (!tr.joined || !this.sink) return;
    this.s.leaves++;
    this.emit({ type: 'leave', t: this.stamp(), player: tr.id });
  }

  private onCommand(args: string, ctx: FsCommandContext): void {
    const player = ctx.player ? this.idOf(ctx.player) : CONSOLE;
    if (!this.sink) {
      if (ctx.player) ctx.player.chat('Cairn is not running on this server.');
      else this.serv.info('[Cairn] not running on this server');
      return;
    }
    this.s.commands++;
    this.emit({ type: 'command', t: this.stamp(), player, line: `hunt ${args ?? ''}`.trim() });
  }

  // ---- helpers ----

  private emit(sample: Sample): void {
    this.sink?.accept(sample);
  }

  private stamp(): number {
    const t = Math.max(this.clock(), this.lastStamp);
    this.lastStamp = t;
    return t;
  }

  private worldName(world: FsWorld): string {
    if (world === this.serv.overworld) return 'overworld';
    if (world === this.serv.netherworld) return 'nether';
    return 'world';
  }

  private refused(): false {
    this.s.grantsRefused++;
    return false;
  }

  /** Runs a flying-squid hook body; an exception is logged and counted, never rethrown. */
  private guard(where: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.s.handlerErrors++;
      const n = this.s.handlerErrors;
      if (n <= 10 || n % 1000 === 0) log.error({ err, where, count: n }, 'flying-squid handler failed (caught: an exception here would stop the server)');
    }
  }
}
