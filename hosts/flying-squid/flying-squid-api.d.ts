/**
 * The part of flying-squid's API (npm `flying-squid` 1.12, which ships no types) that the
 * Cairn adapter uses, written from its source (src/lib/plugins/*.js). Items and windows
 * are prismarine-item and prismarine-windows objects; only the members we touch are here.
 * Nothing in this file exists at run time: the adapter gets the server object from the
 * process that started flying-squid, so Cairn's main install does not need the package.
 */

export interface FsVec3 {
  readonly x: number;
  readonly y: number;
  readonly z: number;
}

/** A prismarine-item Item. */
export interface FsItem {
  type: number;
  count: number;
  slot: number;
  readonly name: string;
  readonly stackSize: number;
  nbt: unknown;
}

/** `require('prismarine-item')(serv.registry)`: flying-squid does not re-export it. */
export type FsItemConstructor = new (type: number, count: number) => FsItem;

/** A prismarine-windows Window: the player's inventory (slots 9-44, hotbar 36-44). */
export interface FsWindow {
  readonly slots: (FsItem | null | undefined)[];
  readonly inventoryStart: number;
  /** exclusive */
  readonly inventoryEnd: number;
  readonly hotbarStart: number;
  /** Sets a slot and, through flying-squid's listener, sends the slot to the client. */
  updateSlot(slot: number, item: FsItem | null): void;
}

/** A prismarine-world World; only its identity matters to us. */
export type FsWorld = object;

export interface FsMoveData {
  position: FsVec3;
  onGround: boolean;
  teleport?: boolean;
}

export interface FsPlayer {
  readonly id: number;
  /** set by the login plugin before 'spawned' */
  readonly username: string;
  readonly uuid: string;
  /** flying-squid's only permission level (settings['everybody-op'], /op, /deop) */
  op: boolean;
  readonly position: FsVec3;
  readonly world: FsWorld;
  /** ready from 'spawned' on: the saved inventory is loaded just before it */
  readonly inventory: FsWindow;
  readonly disconnected?: boolean;
  /** a chat line to this player (system chat from 1.19 on) */
  chat(message: string): void;
  /** after login: world, inventory and position are ready */
  on(event: 'spawned' | 'disconnected', listener: () => void): this;
  /**
   * Emitted (through flying-squid's behavior system) for every position the client sends
   * that differs from the last, before it is applied; `cancelled` is true when a
   * `move_cancel` listener refused it (the player is sent back).
   */
  on(event: 'move', listener: (data: FsMoveData, cancelled: boolean) => void): this;
  once(event: 'spawned' | 'disconnected', listener: () => void): this;
  off(event: string, listener: (...args: never[]) => void): this;
}

export interface FsCommandContext {
  /** absent for the console */
  player?: FsPlayer;
}

export interface FsCommandParams {
  base: string;
  info?: string;
  usage?: string;
  aliases?: string[];
  /** true: only ops may run it (flying-squid answers everyone else itself) */
  op?: boolean;
  tab?: string[];
  /** receives the text after the command name; a returned string is sent back in red */
  action(args: string, ctx: FsCommandContext): unknown;
}

export interface FsCommands {
  add(params: FsCommandParams): unknown;
  /** runs a command line (without '/') as `ctx.player`, or as the console */
  use(line: string, ctx?: FsCommandContext, op?: boolean): Promise<string | undefined>;
}

export interface FsRegistry {
  readonly itemsByName: Readonly<Record<string, { readonly id: number; readonly name: string; readonly stackSize: number } | undefined>>;
}

/** What `require('flying-squid').createMCServer(options)` returns. */
export interface FsServer {
  readonly players: FsPlayer[];
  readonly commands: FsCommands;
  readonly registry: FsRegistry;
  readonly overworld: FsWorld;
  readonly netherworld: FsWorld;
  /** the port it listens on, once 'listening' was emitted */
  readonly listeningPort?: number;
  supportFeature(feature: string): boolean;
  info(message: string): void;
  warn(message: string): void;
  err(message: string): void;
  /** emitted for each connection that logs in, before 'spawned' */
  on(event: 'newPlayer', listener: (player: FsPlayer) => void): this;
  on(event: 'listening', listener: (port: number) => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
  off(event: string, listener: (...args: never[]) => void): this;
  once(event: 'listening', listener: (port: number) => void): this;
  waitForReady(timeoutMs?: number): Promise<unknown>;
  /** kicks every player, then closes the listener */
  quit(reason?: string): Promise<void>;
}
