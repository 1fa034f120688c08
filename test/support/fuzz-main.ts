/**
 * `npm run fuzz [cases] [seed]`: the frame property check of test/support/frame-fuzz.ts
 * over 10^6 cases (by default), in rounds of 10^5, printing cases/s as it goes.
 */
import { fuzzFrames } from './frame-fuzz.js';

const total = Number(process.argv[2] ?? 1_000_000);
const seed = Number(process.argv[3] ?? Date.now() % 2 ** 31);
const round = Math.min(100_000, total);
const started = performance.now();
console.log(`fuzzing ${total.toLocaleString('en-US')} frames (seed ${seed})`);
for (let done = 0, r = 0; done < total; done += round, r++) {
  const rate = fuzzFrames(Math.min(round, total - done), seed + r);
  console.log(`  ${(done + round).toLocaleString('en-US')} cases, ${Math.round(rate).toLocaleString('en-US')} cases/s this round`);
}
const secs = (performance.now() - started) / 1000;
console.log(`done: ${total.toLocaleString('en-US')} cases in ${secs.toFixed(0)} s, ${Math.round(total / secs).toLocaleString('en-US')} cases/s, no property broken`);
