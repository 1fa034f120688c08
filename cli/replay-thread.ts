/**
 * The replay's second thread, seen from the first. `cairn replay` runs the plugins (one per
 * server in the trace) on the main thread; this thread takes the rest, so that the two
 * halves of a replay use two cores:
 *
 * - while the trace is validated, it reads segments of it, as the main thread does
 *   (plugin/hosts/trace-segments.ts);
 * - during the replay, it runs the embedded back end (cli/stack.ts: Redis, kinesalite, the
 *   gateway and a worker), which the plugins reach over their WebSockets as they would any
 *   gateway.
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

  /** Starts the embedded back end in the thread (as `startStack` with a gateway and one worker, its own key prefix). */
  async startStack(config: Readonly<EnvConfig>): Promise<ThreadBackEnd> {
    this.stackUp = true;
    return (await this.call({ op: 'start-stack', config: { ...config } })) as ThreadBackEnd;
  }

  async stopStack(): Promise<void> {
    this.stackUp = false;
    await this.call({ op: 'stop-stack' });
  }

  /** Stops the back end if it runs, and ends the thread (at once when it has nothing to stop, even while it loads). */
  async close(): Promise<void> {
    if (this.stackUp && !this.failure) await this.stopStack().catch(() => {});
    await this.worker.terminate();
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
