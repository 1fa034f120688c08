/**
 * `cairn replay --rules FILE --trace FILE [--json] [--gateway URL[,URL...]] [--compare OLD_RULES]`
 *
 * With `--compare`, the trace is replayed twice, under the old rules (`--compare`) and the
 * new (`--rules`), each on a stack of its own, and what the change does to the prizes is
 * printed (cli/prize-diff.ts). `--json` then adds a `diff` key to the usual document (the
 * new rules' prizes and stats), which is otherwise unchanged.
 *
 * `--gateway` (or CAIRN_GATEWAY_URL) takes several gateways, comma-separated: the replayed
 * servers are spread over them.
 */
import { loadRulesFile } from '../plugin/rules-file.js';
import { logger } from '../common/log.js';
import { loadEnvConfig } from '../backend/config.js';
import { parse, UsageError } from './main.js';
import { stat } from 'node:fs/promises';
import { validateTrace } from '../plugin/hosts/trace-segments.js';
import { diffPrizes, renderDiff, type PrizeDiff } from './prize-diff.js';
import { replay, type ReplayResult } from './replay.js';
import { gatewayUrls } from '../plugin/link.js';
import { ReplayThread } from './replay-thread.js';

const log = logger('replay');

/** With --gateway, the second thread helps validate a trace this large (its start costs about a second of CPU). */
const THREAD_TRACE_BYTES = 32 << 20;

export async function replayCommand(args: string[]): Promise<number> {
  const { values } = parse(args, {
    rules: { type: 'string', multiple: true },
    compare: { type: 'string', multiple: true },
    trace: { type: 'string' },
    json: { type: 'boolean', default: false },
    gateway: { type: 'string' },
    'flush-interval': { type: 'string' },
    'batch-events': { type: 'string' },
  });
  if (!values.rules?.length) throw new UsageError('replay needs --rules FILE');
  if (!values.trace) throw new UsageError('replay needs --trace FILE');
  const hunts = values.rules.map((f) => loadRulesFile(f));
  const oldHunts = values.compare?.map((f) => loadRulesFile(f));
  // Several gateways, comma-separated: the replayed servers are spread over them.
  const gateway = values.gateway ?? (process.env.CAIRN_GATEWAY_URL || undefined);
  if (gateway !== undefined) {
    try {
      gatewayUrls(gateway);
    } catch (err) {
      throw new UsageError(`--gateway: ${(err as Error).message}`);
    }
  }
  if (oldHunts && gateway) throw new UsageError('--compare runs its own stacks; drop --gateway (and CAIRN_GATEWAY_URL)');
  const config = loadEnvConfig();
  const num = (name: string, v: string | undefined) => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name} must be a positive integer, got "${v}"`);
    return n;
  };
  const flushIntervalMs = num('flush-interval', values['flush-interval']);
  const batchMaxEvents = num('batch-events', values['batch-events']);
  const traceFile = values.trace;
  // The second thread runs the embedded back end; it also helps validate a trace large enough to be worth it.
  const big = await stat(traceFile).then((s) => s.size >= THREAD_TRACE_BYTES, () => false);
  const thread = gateway === undefined || big ? ReplayThread.start() : undefined;
  let before: ReplayResult | undefined;
  let result: ReplayResult;
  try {
    // Validate the whole trace before the back end starts: a bad line fails fast. The pass keeps
    // the lines it read, so the replay need not parse the file again.
    const trace = await validateTrace(traceFile, { helpers: thread ? [thread] : [] });
    const run = async (rules: typeof hunts): Promise<ReplayResult> => {
      const url = gateway ?? (await thread!.startStack(config)).gatewayUrl;
      try {
        return await replay({
          hunts: rules,
          traceFile,
          trace,
          gatewayUrl: url,
          token: config.token,
          graceMs: config.graceMs,
          ...(flushIntervalMs ? { flushIntervalMs } : {}),
          ...(batchMaxEvents ? { batchMaxEvents } : {}),
          onProgress: (p) => log.debug(p, 'window closed'),
        });
      } finally {
        if (gateway === undefined) await thread!.stopStack();
      }
    };
    before = oldHunts ? await run(oldHunts) : undefined;
    result = await run(hunts);
  } finally {
    await thread?.close();
  }
  const diff: PrizeDiff | undefined = before ? diffPrizes(before.prizes, result.prizes) : undefined;
  if (values.json) {
    process.stdout.write(JSON.stringify({ prizes: result.prizes, stats: result.stats, ...(diff ? { diff } : {}) }) + '\n');
  } else if (diff) {
    process.stdout.write(renderDiff(diff));
  } else {
    const rows = result.prizes.map((p) => `  ${p.hunt}  ${p.reason.padEnd(24)} ${p.player.padEnd(16)} ${p.server.padEnd(10)} ${String(p.count).padStart(3)} x ${p.item.padEnd(14)} ${p.status}`);
    process.stdout.write(`${result.prizes.length} prizes\n${rows.join('\n')}\n\n`);
    const s = result.stats;
    process.stdout.write(
      `${s.traceLines} trace lines (${s.samples} move samples, ${s.servers} servers, ${(s.traceSpanMs / 1000).toFixed(1)} s of trace time) in ${(s.durationMs / 1000).toFixed(2)} s: ${s.eventsPerSec} events/s\n` +
        `sent ${s.eventsSent} discrete events and ${s.deltasSent} deltas in ${s.batchesSent} batches (${s.bytesSent} bytes); ${s.windowsClosed} windows closed; ${s.prizesGranted} prizes granted, ${s.prizesPending} pending\n`,
    );
  }
  return 0;
}
