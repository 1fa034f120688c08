/**
 * Where the sidecar listens for its game server: a TCP host:port or a Unix socket path,
 * and the clean-up a Unix socket needs after a crash.
 */
import { once } from 'node:events';
import { lstatSync, rmSync } from 'node:fs';
import { connect, type AddressInfo, type Server } from 'node:net';

export type ListenAddress = { host: string; port: number } | { path: string };

/** Listens on `at`; resolves once listening. */
export async function listenOn(server: Server, at: ListenAddress): Promise<void> {
  if ('path' in at) {
    await removeStaleSocket(at.path);
    server.listen(at.path);
  } else server.listen(at.port, at.host);
  await once(server, 'listening');
}

/** host:port, or the socket path. */
export function describeAddress(server: Server): string {
  const a = server.address();
  return typeof a === 'string' ? a : `${(a as AddressInfo).address}:${(a as AddressInfo).port}`;
}

/**
 * A sidecar killed with SIGKILL leaves its Unix socket file behind, and listening on it
 * again fails with EADDRINUSE: remove it when nothing answers on it (another live sidecar
 * on the same path keeps it, and the listen then fails as it should).
 */
async function removeStaleSocket(path: string): Promise<void> {
  try {
    if (!lstatSync(path).isSocket()) return;
  } catch {
    return;
  }
  const alive = await new Promise<boolean>((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
  if (!alive) rmSync(path, { force: true });
}
