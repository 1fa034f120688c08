/**
 * The replay's second thread, seen from the first. `cairn replay` runs the plugins (one per
 * server in the trace) on the main thread; this thread takes the rest, so that the two
 * halves of a replay use two cores:
 *
 * - while the trace is validated, it reads segments of it, as the main thread does
 *   (plugin/hosts/trace-segments.ts);
 * - during the replay, it runs the embedded back end (cli/stack.ts: Redis, the gateway and a
 *   worker), which the plugins reach over their WebSockets as they would any gateway.
 *
 * The embedded kinesalite runs on the main thread (unless CAIRN_KINESIS_ENDPOINT names a
 * Kinesis): the second thread is the one that limits a replay, and the main thread waits
 * for it at every window close. Moved, its ~20% of the second thread's CPU (HTTP, JSON,
 * base64, its leveldb) runs in the main thread's idle time; the SDK calls stay where they are.
 *
 * The code that runs in the thread is cli/replay-thread-main.ts. The thread loads TypeScript
 * through tsx as the main thread does (a worker thread does not inherit the main thread's
 * module hooks), which takes about a second of CPU: it starts at once, and the main thread
 * validates on its own until the thread is ready.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { EnvConfig } from '../backend/config.js';
import { startKinesalite } from '../backend/kinesis/client.js';
import { CairnError, type ErrorCode } from '../protocol/index.js';
import type { TraceRange } from '../plugin/hosts/trace.js';
import type { SegmentReader, SegmentResult } from '../plugin/hosts/trace-segments.js';
import type { ThreadBackEnd, ThreadReply, ThreadRequest } from './replay-thread-main.js';

export type { ThreadBackEnd };

/** tsx's module API (`tsx/esm/api`, its ESM build), found through the package's exports. */
function tsxApiUrl(): string {
  const require = createRequire(import.meta.url);
  const pkgFile = require.resolve('tsx/package.json');
  const pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as { exports: Record<string, { import: { default: string } }> };
  return pathToFileURL(join(dirname(pkgFile), pkg.exports['./esm/api']!.import.default)).href;
}

/** The thread's young generation (V8's default on 64-bit is 48 MB: three 16 MB semi-spaces). */
const YOUNG_GENERATION_MB = 96;

type Request = ThreadRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

export class ReplayThread implements SegmentReader {
  /** Settles when the thread can take work (a segment before then waits in its queue). */
  readonly ready: Promise<void>;
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(err: Error): void }>();
  private nextId = 1;
  private failure: Error | undefined;
  /** whether a back end runs (or is starting) in the thread */
  private stackUp = false;
  /** the kinesalite this thread's back ends use, started on the first one's start */
  private kinesalite: Promise<{ endpoint: string; stop(): Promise<void> }> | undefined;

  private constructor() {
    const entry = new URL('./replay-thread-main.ts', import.meta.url).href;
    const boot = `const { tsImport } = await import(${JSON.stringify(tsxApiUrl())}); await tsImport(${JSON.stringify(entry)}, import.meta.url);`;
    // A young generation twice V8's default: the back end allocates fast (HTTP, JSON,
    // base64 of every Kinesis call) and with the default half its scavenges copy what a
    // larger one lets die (measured: 45 scavenges, 255 ms, against 28 and 190 ms).
    this.worker = new Worker(new URL(`data:text/javascript,${encodeURIComponent(boot)}`), { resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB } });
    let ready!: () => void;
    let failed!: (err: Error) => void;
    this.ready = new Promise<void>((resolve, reject) => {
      ready = resolve;
      failed = reject;
    });
    // Nobody need wait for `ready`: a thread that never starts only leaves its work to the main thread.
    this.ready.catch(() => {});
    this.worker.on('message', (m: ThreadReply) => {
      if (m.id === 0) return ready();
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.error) {
        const err = m.error.code ? new CairnError(m.error.code as ErrorCode, m.error.message) : new Error(m.error.message);
        if (m.error.stack) err.stack = m.error.stack;
        p.reject(err);
      } else p.resolve(m.value);
    });
    const fail = (err: Error) => {
      this.failure ??= err;
      failed(err);
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`the replay thread exited (code ${code})`)));
  }

  /** Starts the thread; it loads its code meanwhile (`ready`). */
  static start(): ReplayThread {
    return new ReplayThread();
  }

  readSegment(file: string, range: TraceRange, keep: boolean): Promise<SegmentResult> {
    return this.call({ op: 'segment', file, range, keep }) as Promise<SegmentResult>;
  }

  /**
   * Starts the embedded back end in the thread (as `startStack` with a gateway and one worker,
   * its own key prefix), its kinesalite on this thread when no Kinesis is configured (each
   * back end then gets a stream of its own in it, as on a shared Kinesis).
   */
  async startStack(config: Readonly<EnvConfig>): Promise<ThreadBackEnd> {
    let kinesisEndpoint = config.kinesisEndpoint;
    if (kinesisEndpoint === undefined) {
      this.kinesalite ??= startKinesalite();
      kinesisEndpoint = (await this.kinesalite).endpoint;
    }
    this.stackUp = true;
    return (await this.call({ op: 'start-stack', config: { ...config, kinesisEndpoint } })) as ThreadBackEnd;
  }

  async stopStack(): Promise<void> {
    this.stackUp = false;
    await this.call({ op: 'stop-stack' });
  }

  /** Stops the back end if it runs, ends the thread (at once when it has nothing to stop, even while it loads), then stops the kinesalite. */
  async close(): Promise<void> {
    if (this.stackUp && !this.failure) await this.stopStack().catch(() => {});
    await this.worker.terminate();
    await (await this.kinesalite?.catch(() => undefined))?.stop();
  }

  private call(req: Request): Promise<unknown> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...req, id });
    });
  }
}
