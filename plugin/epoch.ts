/**
 * The plugin's epoch: bumped on every start and persisted in the data folder, so batch
 * numbers (server, epoch, seq) and discrete event ids (e, n) never repeat across restarts.
 * The gateway fences a hello whose epoch is older than the newest it has seen for the
 * server, so the epoch must keep growing even when the data folder is lost: the new epoch
 * is max(previous + 1, wall-clock seconds).
 */
import { open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { logger } from '../common/log.js';

export const EPOCH_FILE = 'epoch';

const log = logger('plugin');

/** Reads the previous epoch (undefined when there is none or it is unreadable). */
export async function readEpoch(dataDir: string): Promise<number | undefined> {
  let text: string;
  try {
    text = await readFile(join(dataDir, EPOCH_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const v = Number(text.trim());
  if (!Number.isSafeInteger(v) || v < 0) {
    log.warn({ dataDir, content: text.slice(0, 40) }, 'epoch file is not a non-negative integer; starting from the wall clock');
    return undefined;
  }
  return v;
}

/**
 * Computes, persists (write to a temporary file, fsync, rename, fsync the folder) and
 * returns the new epoch. `nowMs` is the wall clock, never a replay's trace time.
 */
export async function bumpEpoch(dataDir: string, nowMs: number = Date.now()): Promise<number> {
  const prev = await readEpoch(dataDir);
  const epoch = Math.max(prev !== undefined ? prev + 1 : 0, Math.floor(nowMs / 1000));
  const file = join(dataDir, EPOCH_FILE);
  const tmp = `${file}.tmp`;
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(`${epoch}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
  await syncDir(dataDir);
  return epoch;
}

/** fsync of a directory makes a rename or a new file in it durable (POSIX); a no-op where unsupported. */
export async function syncDir(dir: string): Promise<void> {
  let fh;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch (err) {
    // Windows cannot open or fsync a directory; NTFS journals the metadata itself.
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EPERM' && code !== 'EINVAL' && code !== 'EBADF') throw err;
  } finally {
    await fh?.close();
  }
}
