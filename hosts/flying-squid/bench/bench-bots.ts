/**
 * The players of `npm run bench:host`, in their own process so their cost is not the
 * server's: N mineflayer bots that join, then walk (never sprint, never teleport) from
 * one random point near spawn to the next until told to stop. Honest walkers: the
 * maxSpeed rule must flag none of them.
 */
import { parseArgs } from 'node:util';
import { joinBot, quitAll, walkTo, type TestBot } from '../test/bots.js';

const { values } = parseArgs({ options: { port: { type: 'string' }, players: { type: 'string' }, version: { type: 'string', default: '1.16.5' }, seed: { type: 'string', default: '1' } } });
const port = Number(values.port);
const n = Number(values.players);
let seed = Number(values.seed) >>> 0;
const random = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);

// A bot's connection can fail after its join (the join's race has no listener then): the
// bench goes on with the others and reports how many it lost.
let lost = 0;
process.on('unhandledRejection', (err) => {
  lost++;
  process.stderr.write(`bench bots: ${(err as Error).message}\n`);
});

async function join(name: string): Promise<TestBot> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await joinBot(name, port, values.version!);
    } catch (err) {
      if (attempt >= 3) throw err;
      process.stderr.write(`bench bots: ${name} could not join (${(err as Error).message}); again\n`);
    }
  }
}

const bots: TestBot[] = [];
// A few at a time: a crowd joining at once makes flying-squid time logins out.
for (let i = 0; i < n; i += 5) {
  bots.push(...(await Promise.all(Array.from({ length: Math.min(5, n - i) }, (_, k) => join(`bench_${i + k}`)))));
}
let walking = true;
const walks = bots.map(async (b) => {
  while (walking) {
    // the flat world around spawn and the example hunt's treasures
    await walkTo(b, -5 + random() * 40, -5 + random() * 40, 0.5, 20_000).catch(() => {});
  }
});
process.on('message', async (m: { k: string }) => {
  if (m.k !== 'stop') return;
  walking = false;
  if (lost) process.stderr.write(`bench bots: ${lost} bot connection(s) failed during the run\n`);
  await quitAll(bots);
  void walks;
  process.exit(0);
});
process.send!({ k: 'ready' });
