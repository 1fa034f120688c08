/**
 * What the flying-squid host is configured with, and what it counts: the options a hunt
 * host writes (in the adapter settings file of the example server, or in code).
 */
import type { Vec3 } from '../../protocol/index.js';
import type { Sample } from '../../plugin/host.js';
import type { FsItemConstructor } from './flying-squid-api.js';

/** The console's player id, as the plugin's commands expect it. */
export const CONSOLE = '@console';

/** A named box of the world; Minecraft has no regions, so the adapter makes them. */
export interface RegionBox {
  name: string;
  /** 'overworld' or 'nether'; any world when absent */
  world?: string;
  /** inclusive corners */
  min: Vec3;
  max: Vec3;
}

export interface FlyingSquidPermissions {
  /** Nodes every player holds. @default ['cairn.play'] */
  everyone?: string[];
  /** Nodes a player with flying-squid's op flag holds. @default ['cairn.admin', 'cairn.play'] */
  op?: string[];
  /** Nodes granted to named players, by their Cairn id (a small permissions file). @default {} */
  players?: Record<string, string[]>;
}

export interface FlyingSquidHostOptions {
  /** The id this game server has on the wire. */
  serverId: string;
  /** `require('prismarine-item')(serv.registry)`: flying-squid does not export it. */
  Item: FsItemConstructor;
  /** Cairn item name -> Minecraft item name (e.g. silver_coin -> iron_nugget); other names are used as they are. @default {} */
  items?: Record<string, string>;
  /** Boxes checked in order; the first that holds the position names the region. @default [] */
  regions?: RegionBox[];
  /** Region of a position in no box. @default the world's name ('overworld', 'nether') */
  defaultRegion?: string;
  permissions?: FlyingSquidPermissions;
  /** The player's Cairn id: the username (readable; unique among online players) or the UUID (survives renames). @default 'username' */
  playerId?: 'username' | 'uuid';
  /** Wall clock in ms. @default Date.now */
  clock?: () => number;
}

/** Where samples go: the plugin, or a wrapper that also records them. */
export interface SampleSink {
  accept(sample: Sample): void;
}

export interface FlyingSquidHostStats {
  joins: number;
  leaves: number;
  moves: number;
  commands: number;
  /** moves flying-squid reported that were cancelled or did not change the position */
  movesSkipped: number;
  /** exceptions caught in handlers (each one would have stopped the server) */
  handlerErrors: number;
  /** giveItem calls that returned false (offline, unknown item, inventory full) */
  grantsRefused: number;
}

