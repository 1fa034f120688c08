/**
 * mineflayer bots for the end-to-end test: join offline, walk straight to points on flat
 * ground (no pathfinder needed), type commands, collect the chat they receive.
 */
import { once } from 'node:events';
import { createRequire } from 'node:module';
import type { Bot } from 'mineflayer';

const require = createRequire(import.meta.url);
const mineflayer = require('mineflayer') as typeof import('mineflayer');

export interface TestBot {
  name: string;
  bot: Bot;
  /** every chat/system line received, as plain text */
  messages: string[];
}

export async function joinBot(name: string, port: number, version: string): Promise<TestBot> {
  const bot = mineflayer.createBot({ host: '127.0.0.1', port, username: name, auth: 'offline', version, hideErrors: false, logErrors: true });
  const messages: string[] = [];
  let forcedMoves = 0;
  bot.on('forcedMove', () => {
    forcedMoves++;
  });
  bot.on('messagestr', (m: string) => {
    messages.push(m);
  });
  const kicked = new Promise<never>((_, reject) => {
    bot.once('kicked', (reason: unknown) => reject(new Error(`${name} kicked: ${JSON.stringify(reason)}`)));
    bot.once('error', (err: Error) => reject(new Error(`${name}: ${err.message}`)));
  });
  await Promise.race([once(bot, 'spawn'), kicked]);
  await Promise.race([bot.waitForChunksToLoad(), kicked]);
  // flying-squid finishes a login when the client first sends 'flying' or 'look' (a standing
  // client does within a tick or two; a walking one sends only positions), and then sets the
  // player back to the login position: a bot that walked off at once would be snapped back
  // when it stops, and on 1.21.2+ the entity_teleport flying-squid sends the others for that
  // jump fails to encode and silently breaks their connections. So wait for that second
  // position packet before walking.
  const deadline = Date.now() + 5000;
  while (forcedMoves < 2) {
    if (Date.now() > deadline) throw new Error(`${name}: flying-squid did not finish the login (no second position packet within 5 s)`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return { name, bot, messages };
}

/** Resolves with the first message (already received or new) that matches, or rejects after timeoutMs. */
export async function waitMessage(b: TestBot, re: RegExp, timeoutMs = 5000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = b.messages.find((x) => re.test(x));
    if (m !== undefined) return m;
    if (Date.now() > deadline) throw new Error(`${b.name}: no message matching ${re} within ${timeoutMs} ms; got ${JSON.stringify(b.messages)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * Walks (no sprint: ~4.3 blocks/s) straight to (x, z) on flat ground and stops within
 * `within` blocks of it, steering every physics tick. Rejects if it takes over timeoutMs.
 */
export function walkTo(b: TestBot, x: number, z: number, within = 0.3, timeoutMs = 15_000): Promise<void> {
  const bot = b.bot;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      done();
      const p = bot.entity.position;
      reject(new Error(`${b.name} did not reach (${x}, ${z}) within ${timeoutMs} ms; at (${p.x.toFixed(2)}, ${p.z.toFixed(2)})`));
    }, timeoutMs);
    const done = () => {
      clearTimeout(timer);
      bot.removeListener('physicsTick', steer);
      bot.clearControlStates();
    };
    const steer = () => {
      const p = bot.entity.position;
      const dx = x - p.x;
      const dz = z - p.z;
      if (Math.hypot(dx, dz) <= within) {
        done();
        resolve();
        return;
      }
      // mineflayer's yaw: 0 faces -z, increasing counter-clockwise (as in bot.lookAt).
      void bot.look(Math.atan2(-dx, -dz), 0, true);
      bot.setControlState('forward', true);
    };
    bot.on('physicsTick', steer);
  });
}

/** Walks through the points in order, then waits until the bot stands still. */
export async function walkPath(b: TestBot, points: readonly (readonly [number, number])[]): Promise<void> {
  for (const [x, z] of points) await walkTo(b, x, z);
  await settle(b);
}

/** Resolves once the bot's horizontal speed is ~0 (it slides a little after letting go of forward). */
export async function settle(b: TestBot, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = b.bot.entity.velocity;
    if (Math.hypot(v.x, v.z) < 1e-3) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

export function chat(b: TestBot, line: string): void {
  b.bot.chat(line);
}

/** Item name -> total count in the bot's inventory, as the client sees it. */
export function inventoryOf(b: TestBot): Record<string, number> {
  const out: Record<string, number> = {};
  for (const it of b.bot.inventory.items()) out[it.name] = (out[it.name] ?? 0) + it.count;
  return out;
}

export async function quitAll(bots: readonly TestBot[]): Promise<void> {
  await Promise.all(
    bots.map(async (b) => {
      if (!b.bot._client.socket || b.bot._client.socket.destroyed) return;
      const ended = once(b.bot, 'end').catch(() => undefined);
      b.bot.quit();
      await Promise.race([ended, new Promise((r) => setTimeout(r, 2000))]);
    }),
  );
}
