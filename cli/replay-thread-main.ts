/**
 * What runs in the replay's second thread (cli/replay-thread.ts): reads trace segments on
 * request, and starts and stops the embedded back end. It answers each request by its id;
 * id 0 tells the main thread that it is ready.
 */
import { parentPort } from 'node:worker_threads';
import type { EnvConfig } from '../backend/config.js';
import { CairnError } from '../protocol/index.js';
import type { TraceRange } from '../plugin/hosts/trace.js';
import { readSegment } from '../plugin/hosts/trace-segments.js';
import { transferables } from '../plugin/hosts/trace-blocks.js';
import type { Stack } from './stack.js';

export type ThreadRequest =
  | { id: number; op: 'segment'; file: string; range: TraceRange; keep: boolean }
  | { id: number; op: 'start-stack'; config: EnvConfig }
  | { id: number; op: 'stop-stack' };

/** The back end a thread started: where its gateway listens, and the Redis key prefix of the run. */
export interface ThreadBackEnd {
  gatewayUrl: string;
  redisPrefix: string;
}

export interface ThreadReply {
  id: number;
  value?: unknown;
  /** a failure; `code` when it was a CairnError, which the main thread throws again as one */
  error?: { message: string; stack?: string; code?: string };
}

const port = parentPort!;
// The back end's code is large; it loads while the thread reads segments.
const stackModule = import('./stack.js');
stackModule.catch(() => {});
let stack: Stack | undefined;

async function handle(m: ThreadRequest): Promise<{ value?: unknown; transfer?: ArrayBuffer[] }> {
  switch (m.op) {
    case 'segment': {
      const r = await readSegment(m.file, m.range, m.keep);
      return { value: r, transfer: r.block ? transferables(r.block) : [] };
    }
    case 'start-stack': {
      if (stack) throw new Error('the back end already runs');
      const { startStack } = await stackModule;
      // Windows close within a poll of the last watermark (pollMs), while the readers, woken by
      // each put of the gateway beside them, rarely poll an idle stream: polling two shards
      // every 20 ms cost a third of a core.
      stack = await startStack({ config: m.config, embedded: true, gateway: true, workers: 1, isolate: true, port: 0, pollMs: 20, idleReadMs: 250 });
      return { value: { gatewayUrl: stack.gateway!.url, redisPrefix: stack.keys.prefix } satisfies ThreadBackEnd };
    }
    case 'stop-stack': {
      const s = stack;
      stack = undefined;
      await s?.stop();
      return {};
    }
  }
}

port.on('message', (m: ThreadRequest) => {
  handle(m).then(
    ({ value, transfer }) => port.postMessage({ id: m.id, value } satisfies ThreadReply, transfer ?? []),
    (err: Error) => {
      const code = err instanceof CairnError ? { code: err.code } : {};
      port.postMessage({ id: m.id, error: { message: err.message, ...(err.stack ? { stack: err.stack } : {}), ...code } } satisfies ThreadReply);
    },
  );
});
port.postMessage({ id: 0 } satisfies ThreadReply);
