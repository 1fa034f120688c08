/**
 * Benchmark runner. Each benchmark prints its figures next to a named baseline, so a
 * ratio can be read from one run on a noisy machine, and ends with one JSON line of
 * its figures (for CI trend lines and issue notes).
 */
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * A benchmark's figures. `goalsMissed`: how many of its goals it missed (each printed as
 * met or missed with its ratio); `npm run bench -- --check NAME...` exits 1 when it is
 * above 0 for a named benchmark.
 */
export interface BenchResult {
  goalsMissed?: number;
  [key: string]: number | string | undefined;
}

const dir = fileURLToPath(new URL('.', import.meta.url));

export function available(): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.bench.ts'))
    .map((f) => f.replace(/\.bench\.ts$/, ''))
    .sort();
}

export async function runBenchmarks(args: string[]): Promise<number> {
  const check = args.includes('--check');
  const names = args.filter((a) => a !== '--check');
  if (check && names.length === 0) {
    process.stderr.write('--check needs the names of the benchmarks whose goals it checks\n');
    return 2;
  }
  const all = available();
  const chosen = names.length ? names : all;
  for (const name of chosen) {
    if (!all.includes(name)) {
      process.stderr.write(`unknown benchmark "${name}"; available: ${all.join(', ')}\n`);
      return 2;
    }
  }
  const missed: string[] = [];
  for (const name of chosen) {
    process.stdout.write(`\n== ${name}\n`);
    const mod = (await import(`./${name}.bench.ts`)) as { run(): Promise<BenchResult> };
    const result = await mod.run();
    process.stdout.write(JSON.stringify({ bench: name, ...result }) + '\n');
    if ((result.goalsMissed ?? 0) > 0) missed.push(`${name} (${result.goalsMissed})`);
  }
  if (check && missed.length) {
    process.stderr.write(`goals missed: ${missed.join(', ')}\n`);
    return 1;
  }
  return 0;
}

/** Runs fn repeatedly for about `ms` and returns operations per second. */
export function opsPerSec(fn: () => void, ms = 1000): number {
  for (let i = 0; i < 1000; i++) fn();
  let n = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    for (let i = 0; i < 100; i++) fn();
    n += 100;
    now = performance.now();
  }
  return (n * 1000) / (now - start);
}

export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
