/**
 * The flying-squid adapter against a fake server that behaves like flying-squid's event
 * and command API (no flying-squid install needed; the real server and real clients are in
 * hosts/flying-squid/test, run by `npm run test:hosts`).
 */
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { Sample } from '../../plugin/host.js';
import { CONSOLE, FlyingSquidHost, planInsert, type FlyingSquidHostOptions } from '../../hosts/flying-squid/adapter.js';
import type { FsCommandParams, FsItem, FsMoveData, FsServer, FsWindow } from '../../hosts/flying-squid/flying-squid-api.js';

const REGISTRY = {
  itemsByName: {
    gold_ingot: { id: 1, name: 'gold_ingot', stackSize: 64 },
    iron_nugget: { id: 2, name: 'iron_nugget', stackSize: 64 },
    golden_helmet: { id: 3, name: 'golden_helmet', stackSize: 1 },
  } as Record<string, { id: number; name: string; stackSize: number }>,
};

class FakeItem implements FsItem {
  slot = -1;
  nbt: unknown = null;
  constructor(
    public type: number,
    public count: number,
  ) {}
  get name() {
    return Object.values(REGISTRY.itemsByName).find((i) => i.id === this.type)!.name;
  }
  get stackSize() {
    return Object.values(REGISTRY.itemsByName).find((i) => i.id === this.type)!.stackSize;
  }
}

/** Player inventory window: 46 slots, main inventory 9-44, hotbar 36-44. */
function fakeWindow(): FsWindow & { sent: number[] } {
  const w = {
    slots: new Array<FsItem | null>(46).fill(null),
    inventoryStart: 9,
    inventoryEnd: 45,
    hotbarStart: 36,
    sent: [] as number[],
    updateSlot(slot: number, item: FsItem | null) {
      if (item) item.slot = slot;
      w.slots[slot] = item;
      w.sent.push(slot);
    },
  };
  return w;
}

class FakePlayer extends EventEmitter {
  op = false;
  disconnected = false;
  position = { x: 0, y: 64, z: 0 };
  inventory = fakeWindow();
  chats: string[] = [];
  constructor(
    public username: string,
    public world: object,
    public uuid = `uuid-${username}`,
    public id = 1,
  ) {
    super();
  }
  chat(message: string) {
    this.chats.push(message);
  }
  /** what flying-squid's behavior system does: 'move' with the new position, then applies it */
  move(x: number, y: number, z: number, cancelled = false) {
    const data: FsMoveData = { position: { x, y, z }, onGround: true };
    this.emit('move', data, cancelled);
    if (!cancelled) this.position = { x, y, z };
  }
}

class FakeServer extends EventEmitter {
  players: FakePlayer[] = [];
  overworld = {};
  netherworld = {};
  registry = REGISTRY;
  infos: string[] = [];
  signedChat = false;
  readonly commandList: FsCommandParams[] = [];
  commands = {
    add: (p: FsCommandParams) => this.commandList.push(p),
    use: async (line: string, ctx: { player?: FakePlayer } = {}) => {
      const [base, ...rest] = line.split(' ');
      const cmd = this.commandList.find((c) => c.base === base);
      const out = cmd?.action(rest.join(' '), ctx as never);
      return out === undefined ? undefined : String(out);
    },
  };
  supportFeature(f: string) {
    return f === 'signedChat' && this.signedChat;
  }
  info(m: string) {
    this.infos.push(m);
  }
  warn() {}
  err() {}
  async waitForReady() {}
  async quit() {}
  /** login as flying-squid does it: newPlayer, then (after the inventory loads) spawned */
  login(name: string, opts: { spawn?: boolean } = {}): FakePlayer {
    const p = new FakePlayer(name, this.overworld);
    this.emit('newPlayer', p);
    this.players.push(p);
    if (opts.spawn ?? true) p.emit('spawned');
    return p;
  }
  logout(p: FakePlayer) {
    p.emit('disconnected');
    p.disconnected = true;
    this.players = this.players.filter((x) => x !== p);
  }
}

function setup(over: Partial<FlyingSquidHostOptions> = {}) {
  const serv = new FakeServer();
  let clock = 1000;
  const host = new FlyingSquidHost(serv as unknown as FsServer, {
    serverId: 'mc-1',
    Item: FakeItem,
    items: { silver_coin: 'iron_nugget', crown: 'golden_helmet' },
    regions: [{ name: 'grove', world: 'overworld', min: [-10, 0, -10], max: [0, 255, 10] }],
    clock: () => clock,
    ...over,
  });
  const samples: Sample[] = [];
  host.attach({ accept: (s) => samples.push(s) });
  return { serv, host, samples, tick: (ms = 1) => (clock += ms) };
}

describe('flying-squid host adapter', () => {
  it('sends join and the spawn position on spawned, moves with regions, and leave on disconnect', () => {
    const { serv, samples, tick } = setup();
    const p = serv.login('alex');
    tick();
    p.move(-5, 64, 3); // in the grove box
    tick();
    p.move(5, 64, 3); // outside every box: the world's name
    tick();
    serv.logout(p);
    expect(samples).toEqual([
      { type: 'join', t: 1000, player: 'alex' },
      { type: 'move', t: 1000, player: 'alex', region: 'grove', at: [0, 64, 0] },
      { type: 'move', t: 1001, player: 'alex', region: 'grove', at: [-5, 64, 3] },
      { type: 'move', t: 1002, player: 'alex', region: 'overworld', at: [5, 64, 3] },
      { type: 'leave', t: 1003, player: 'alex' },
    ]);
  });

  it('sends nothing for a player who leaves before spawning, and skips cancelled and unchanged moves', () => {
    const { serv, host, samples } = setup();
    const early = serv.login('early', { spawn: false });
    serv.logout(early);
    expect(samples).toEqual([]);
    const p = serv.login('alex');
    p.move(1, 64, 1, true);
    p.move(0, 64, 0); // the spawn position again (onGround changed)
    expect(samples.map((s) => s.type)).toEqual(['join', 'move']);
    expect(host.stats().movesSkipped).toBe(2);
  });

  it('never lets an exception out of a flying-squid hook (it would stop the server)', () => {
    const serv = new FakeServer();
    const host = new FlyingSquidHost(serv as unknown as FsServer, { serverId: 'mc-1', Item: FakeItem });
    host.attach({
      accept() {
        throw new Error('boom');
      },
    });
    const p = serv.login('alex');
    expect(() => p.move(1, 2, 3)).not.toThrow();
    expect(() => serv.logout(p)).not.toThrow();
    expect(() => serv.commands.use('hunt start x', { player: p })).not.toThrow();
    expect(host.stats().handlerErrors).toBeGreaterThanOrEqual(3);
  });

  it('stamps samples after every watermark it handed out (now() is one ms behind)', () => {
    const { serv, host, samples } = setup();
    const watermark = host.now();
    serv.login('alex'); // same wall-clock ms as the flush
    expect(samples.every((s) => s.t > watermark)).toBe(true);
  });

  it('forwards /hunt as a command sample, from players and the console', async () => {
    const { serv, samples } = setup();
    const p = serv.login('alex');
    await serv.commands.use('hunt start spring', { player: p });
    await serv.commands.use('hunt');
    const cmds = samples.filter((s) => s.type === 'command');
    expect(cmds).toEqual([
      { type: 'command', t: 1000, player: 'alex', line: 'hunt start spring' },
      { type: 'command', t: 1000, player: CONSOLE, line: 'hunt' },
    ]);
    expect(serv.commandList[0]!.op).toBeUndefined();
  });

  it('maps permissions: everyone, the op flag, named players, the console', () => {
    const { serv, host } = setup({ permissions: { players: { sam: ['cairn.admin'] } } });
    const alex = serv.login('alex');
    serv.login('sam');
    expect(host.hasPermission('alex', 'cairn.play')).toBe(true);
    expect(host.hasPermission('alex', 'cairn.admin')).toBe(false);
    alex.op = true;
    expect(host.hasPermission('alex', 'cairn.admin')).toBe(true);
    expect(host.hasPermission('sam', 'cairn.admin')).toBe(true);
    expect(host.hasPermission(CONSOLE, 'cairn.admin')).toBe(true);
    expect(host.hasPermission('nobody', 'cairn.admin')).toBe(false);
  });

  it('gives items into stacks, then empty slots hotbar first; maps names; all or nothing', () => {
    const { serv, host } = setup();
    const p = serv.login('alex');
    p.inventory.slots[10] = Object.assign(new FakeItem(1, 60), { slot: 10 });
    expect(host.giveItem('alex', 'gold_ingot', 10)).toBe(true);
    expect(p.inventory.slots[10]!.count).toBe(64);
    expect(p.inventory.slots[36]).toMatchObject({ type: 1, count: 6 });
    expect(host.giveItem('alex', 'silver_coin', 2)).toBe(true);
    expect(p.inventory.slots[37]).toMatchObject({ type: 2, count: 2 });
    expect(p.inventory.sent).toEqual([10, 36, 37]);
    // Not a Minecraft item and not mapped: held, not given.
    expect(host.giveItem('alex', 'medal', 1)).toBe(false);
    // Full inventory: nothing changes, the prize is held.
    for (let i = 9; i < 45; i++) p.inventory.slots[i] ??= Object.assign(new FakeItem(3, 1), { slot: i });
    const before = p.inventory.sent.length;
    expect(host.giveItem('alex', 'crown', 1)).toBe(false);
    expect(p.inventory.sent.length).toBe(before);
    expect(host.giveItem('nobody', 'gold_ingot', 1)).toBe(false);
  });

  it('plans an insert across several stacks or refuses it whole', () => {
    const w = fakeWindow();
    expect(planInsert(w, 3, 1, 3)).toEqual([{ slot: 36, add: 1 }, { slot: 37, add: 1 }, { slot: 38, add: 1 }]);
    for (let i = 9; i < 44; i++) w.slots[i] = Object.assign(new FakeItem(3, 1), { slot: i });
    expect(planInsert(w, 1, 64, 65)).toBeUndefined();
    expect(planInsert(w, 1, 64, 64)).toEqual([{ slot: 44, add: 64 }]);
  });

  it('tells players (escaping colour codes before 1.19) and the console', () => {
    const { serv, host } = setup();
    const p = serv.login('alex');
    host.tell('alex', 'Rock & roll');
    serv.signedChat = true;
    host.tell('alex', 'Rock & roll');
    host.tell(CONSOLE, 'hello');
    host.tell('nobody', 'lost');
    expect(p.chats).toEqual(['Rock && roll', 'Rock & roll']);
    expect(serv.infos).toEqual(['[Cairn] hello']);
  });

  it('opens sessions for players already online when it attaches, and stops on close', () => {
    const serv = new FakeServer();
    const host = new FlyingSquidHost(serv as unknown as FsServer, { serverId: 'mc-1', Item: FakeItem, clock: () => 5 });
    const p = serv.login('alex');
    const samples: Sample[] = [];
    host.attach({ accept: (s) => samples.push(s) });
    expect(samples.map((s) => s.type)).toEqual(['join', 'move']);
    expect(host.isOnline('alex')).toBe(true);
    host.close();
    p.move(3, 3, 3);
    expect(samples.length).toBe(2);
    expect(host.isOnline('alex')).toBe(false);
  });

  it('rejects a region box with min above max', () => {
    expect(() => setup({ regions: [{ name: 'bad', min: [1, 0, 0], max: [0, 1, 1] }] })).toThrow(/min <= max/);
  });
});
