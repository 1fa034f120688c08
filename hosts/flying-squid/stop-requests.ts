/**
 * When the example server stops: SIGINT (Ctrl-C) or SIGTERM to its own process, or the
 * end of the npm or npx process that started it.
 *
 * The second is why this file exists. Started as `npx tsx serve.ts`, the server is the
 * last of four processes (npm, sh, tsx, node); npm passes SIGTERM to the shell, the shell
 * dies of it without passing it on, and the server, whose parent tsx is still alive,
 * went on holding both ports. So, when npm started it (npm sets `npm_command` for
 * `npm run` and `npx`), the server watches its ancestors up to that npm process and
 * stops as for SIGTERM when one of them is gone. A server started by anything else is
 * left alone when its parent goes (`nohup`, `setsid`, a service manager).
 */
import { readFileSync } from 'node:fs';

/** Ancestors are looked at this often; a stop request is acted on within about this long. */
const POLL_MS = 500;
const MAX_DEPTH = 6;

function procStat(pid: number): { ppid: number; state: string } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'.
    const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(ppid), state: state! };
  } catch {
    return undefined;
  }
}

function isNpm(pid: number): boolean {
  try {
    // npm renames its process ("npm exec tsx ...", one string), or it is "node .../npm-cli.js ...".
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return argv.slice(0, 2).some((a) => /^(npm|npx)(-cli\.js)?$/.test(a.split(' ')[0]!.split(/[/\\]/).pop()!));
  } catch {
    return false;
  }
}

/**
 * The processes between this one and the npm that started it, npm included: on Linux
 * read from /proc, elsewhere only the parent. Empty when npm did not start it.
 */
export function launcherChain(env: NodeJS.ProcessEnv = process.env): number[] {
  if (!env.npm_command) return [];
  const chain: number[] = [];
  let pid = process.ppid;
  for (let depth = 0; depth < MAX_DEPTH && pid > 1; depth++) {
    chain.push(pid);
    if (isNpm(pid)) return chain;
    const stat = procStat(pid);
    if (!stat) return chain;
    pid = stat.ppid;
  }
  // No npm among the nearest ancestors (an unusual launcher): watch only the parent.
  return chain.slice(0, 1);
}

function gone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
  // exited but not yet reaped by its parent
  return procStat(pid)?.state === 'Z';
}

/**
 * Calls `stop` once, with what asked for it, on the first stop request. Call it after
 * flying-squid's createMCServer: flying-squid exits at once on SIGINT and SIGTERM (its exit
 * hook), and those listeners are replaced here so Cairn gets its final flush first.
 * Returns a function that stops watching.
 */
export function onStopRequest(stop: (reason: string) => void, env: NodeJS.ProcessEnv = process.env): () => void {
  let done = false;
  const request = (reason: string) => {
    if (done) return;
    done = true;
    dispose();
    stop(reason);
  };
  const onSigint = () => request('SIGINT');
  const onSigterm = () => request('SIGTERM');
  process.removeAllListeners('SIGINT');
  process.removeAllListeners('SIGTERM');
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigterm);
  const chain = launcherChain(env);
  const parent = process.ppid;
  const timer =
    chain.length > 0
      ? setInterval(() => {
          const left = process.ppid !== parent ? parent : chain.find(gone);
          if (left !== undefined) request(`launcher process ${left} ended`);
        }, POLL_MS).unref()
      : undefined;
  function dispose() {
    if (timer) clearInterval(timer);
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
    // A second signal while stopping exits at once, as one expects of a second Ctrl-C.
    if (done) {
      process.once('SIGINT', () => process.exit(130));
      process.once('SIGTERM', () => process.exit(143));
    }
  }
  return () => {
    if (done) return;
    done = true;
    if (timer) clearInterval(timer);
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
  };
}
