/**
 * Child processes for tests, started fast: a TypeScript entry bundled once with esbuild (the
 * compiler tsx itself runs on) into one ES module, its packages left as imports. Under tsx a
 * child spends ~2 s of CPU compiling its imports on every start; the bundle starts in ~0.3 s,
 * which matters for a test that starts and kills two dozen of them on a shared machine.
 */
import { mkdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Bundles `entry` (a path) and returns the bundle's path, inside node_modules so its packages resolve. */
export async function bundleChild(entry: string): Promise<string> {
  const dir = join(ROOT, 'node_modules', '.cache', 'cairn-test');
  await mkdir(dir, { recursive: true });
  const outfile = join(dir, `${basename(entry, '.ts')}-${process.pid}.mjs`);
  await build({ entryPoints: [entry], bundle: true, platform: 'node', format: 'esm', target: 'node20', packages: 'external', outfile, logLevel: 'error' });
  return outfile;
}
