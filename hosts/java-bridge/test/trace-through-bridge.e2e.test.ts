/**
 * The Java bridge in a real JVM: hosts/java-bridge's TracePlayer plays the sample fixture's
 * trace through one CairnBridge per server into one `cairn sidecar --clock game` process
 * per server, against a real back end (gateway, kinesalite, worker, Redis). Each sidecar is
 * killed with SIGKILL mid-run and started again on the same data folder and port; the
 * bridge reconnects and resumes. The prizes must be exactly expected.json, every one that
 * is granted granted through the Java give callback exactly once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { testStack } from '../../../test/support/stack.js';
import { prizeKeys } from '../../../test/support/trace-builder.js';
import type { PrizeAward } from '../../../protocol/index.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const FIXTURE = join(ROOT, 'test/fixtures/sample-hunt');
const EXPECTED = JSON.parse(readFileSync(join(FIXTURE, 'expected.json'), 'utf8')) as PrizeAward[];
const JARS = ['cairn-bridge.jar', 'cairn-harness.jar'].map((j) => join(ROOT, 'hosts/java-bridge/build', j)).join(':');

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Running {
  proc: ChildProcess;
  port: number;
  stderr: string[];
}

async function startSidecar(hunts: string, dataDir: string, gateway: string, port: number): Promise<Running> {
  const proc = spawn(process.execPath, [join(ROOT, 'bin/cairn.js'), 'sidecar', '--hunts', hunts, '--data-dir', dataDir, '--listen', `127.0.0.1:${port}`, '--clock', 'game', '--gateway', gateway], {
    cwd: ROOT,
    env: { ...process.env, CAIRN_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stderr: string[] = [];
  proc.stderr!.on('data', (d: Buffer) => stderr.push(d.toString()));
  const lines = createInterface({ input: proc.stdout! });
  const listening = await new Promise<number>((resolve, reject) => {
    lines.on('line', (l) => {
      const m = /listening on [^ ]+:(\d+)/.exec(l);
      if (m) resolve(Number(m[1]));
    });
    proc.once('exit', (code) => reject(new Error(`sidecar exited (${code}) before listening: ${stderr.join('')}`)));
  });
  cleanups.push(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  });
  return { proc, port: listening, stderr };
}

/** Every prize in a sidecar's ledger, by its latest record. */
function ledger(dataDir: string): Map<string, PrizeAward & { status: string }> {
  const out = new Map<string, PrizeAward & { status: string }>();
  const file = join(dataDir, 'prizes.ndjson');
  if (!existsSync(file)) return out;
  for (const l of readFileSync(file, 'utf8').split('\n')) {
    if (!l) continue;
    const r = JSON.parse(l) as PrizeAward & { status: string };
    const prev = out.get(`${r.hunt}|${r.reason}`);
    if (prev?.status !== 'granted') out.set(`${r.hunt}|${r.reason}`, r);
  }
  return out;
}

describe('the Java bridge, in a JVM, into cairn sidecar', () => {
  it('keeps its own rules: moves dropped first, bad arguments counted, one give per prize id, resend after the ack', async () => {
    // BridgeSelfTest runs against a fake sidecar of its own and prints OK, or FAILED lines.
    const java = spawn('java', ['-cp', JARS, 'dev.cairn.harness.BridgeSelfTest'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    java.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const [code] = (await once(java, 'exit')) as [number];
    expect(out.trim()).toBe('OK');
    expect(code).toBe(0);
  });

  it('plays the sample trace to exactly the expected prizes, through SIGKILL restarts of both sidecars', async () => {
    const stack = await testStack();
    cleanups.push(() => stack.cleanup());
    const dir = mkdtempSync(join(tmpdir(), 'cairn-jvm-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const hunts = join(dir, 'hunts');
    mkdirSync(hunts);
    cpSync(join(FIXTURE, 'rules.json'), join(hunts, 'oracle-hunt.json'));
    const servers = ['srv-a', 'srv-b'];
    const gateway = stack.gateway!.url;
    const sidecars = new Map<string, Running>();
    await Promise.all(servers.map(async (s) => sidecars.set(s, await startSidecar(hunts, join(dir, s), gateway, 0))));

    const java = spawn(
      'java',
      ['-cp', JARS, 'dev.cairn.harness.TracePlayer', '--trace', join(FIXTURE, 'trace.ndjson'), ...servers.flatMap((s) => ['--sidecar', `${s}=127.0.0.1:${sidecars.get(s)!.port}`]), '--hunt', 'oracle-hunt=60000', '--grace', '0'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    cleanups.push(() => {
      if (java.exitCode === null) java.kill('SIGKILL');
    });
    const javaErr: string[] = [];
    java.stderr!.on('data', (d: Buffer) => javaErr.push(d.toString()));
    // Kill each sidecar once, at a different point of the trace (in the second window, the hunt running).
    const killAt = new Map(process.env.NOKILL ? [] : [
      [10_000, 'srv-a'],
      [18_000, 'srv-b'],
    ]);
    const gives: Array<{ prize: string; server: string; player: string; item: string; count: number; given: boolean; call: number }> = [];
    let done: Record<string, unknown> | undefined;
    let failed: string | undefined;
    const restarts: Promise<void>[] = [];
    const out = createInterface({ input: java.stdout! });
    out.on('line', (l) => {
      if (l.startsWith('GIVE ')) gives.push(JSON.parse(l.slice(5)));
      else if (l.startsWith('DONE ')) done = JSON.parse(l.slice(5));
      else if (l.startsWith('FAILED ')) failed = l;
      else if (process.env.SHOWT) console.error(Date.now() % 100000, l);
      if (l.startsWith('LINES ')) {
        const victim = killAt.get(Number(l.slice(6)));
        if (!victim) return;
        const old = sidecars.get(victim)!;
        restarts.push(
          (async () => {
            old.proc.kill('SIGKILL');
            await once(old.proc, 'exit');
            sidecars.set(victim, await startSidecar(hunts, join(dir, victim), gateway, old.port));
          })(),
        );
      }
    });
    const [code] = (await once(java, 'exit')) as [number];
    await Promise.all(restarts);
    expect(failed, javaErr.join('')).toBeUndefined();
    expect(code, javaErr.join('')).toBe(0);
    expect(restarts).toHaveLength(process.env.NOKILL ? 0 : 2);

    // Both sidecars came back and the bridges resumed: nothing dropped, lines were sent again.
    for (const s of servers) {
      const st = done![s] as Record<string, number>;
      if (!process.env.NOKILL) expect(st.reconnects, s).toBeGreaterThanOrEqual(1);
      expect(st.droppedMoves + st.droppedEvents + st.rejected, s).toBe(0);
    }

    // Every prize the ledgers granted reached the game through the Java callback, exactly once.
    const ledgers = servers.flatMap((s) => [...ledger(join(dir, s)).values()]);
    expect(prizeKeys(ledgers)).toEqual(EXPECTED);
    const granted = ledgers.filter((r) => r.status === 'granted');
    const callbackGiven = gives.filter((g) => g.given);
    expect(gives.every((g) => g.call === 1), JSON.stringify(gives.filter((g) => g.call > 1))).toBe(true);
    expect(callbackGiven.map((g) => `${g.prize}@${g.server}`).sort()).toEqual(granted.map((r) => `${r.hunt}|${r.reason}@${r.server}`).sort());
    for (const g of callbackGiven) {
      const r = granted.find((x) => `${x.hunt}|${x.reason}` === g.prize)!;
      expect({ player: g.player, item: g.item, count: g.count, server: g.server }).toEqual({ player: r.player, item: r.item, count: r.count, server: r.server });
    }
    expect(granted.length).toBeGreaterThan(50);
    for (const s of sidecars.values()) s.proc.kill('SIGTERM');
    await Promise.all([...sidecars.values()].map((s) => (s.proc.exitCode === null ? once(s.proc, 'exit') : undefined)));
  });
});
