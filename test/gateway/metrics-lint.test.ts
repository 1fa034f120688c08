/**
 * The gateway's /metrics output is valid Prometheus text and follows the naming rules
 * of `promtool check metrics`. promtool runs where it is installed (Debian's
 * `prometheus` package; .ci/run installs it); the JS checker in ./exposition-lint.ts
 * runs everywhere, so a machine with only Node and redis-server checks the same rules.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { Op } from '../../protocol/index.js';
import { gatewayTest } from '../support/fixtures.js';
import { checkMetrics, parseExposition } from './exposition-lint.js';
import { joins, TestClient } from './support.js';

/** promtool's findings, or undefined when promtool is not installed. */
function promtool(text: string): { ok: boolean; output: string } | undefined {
  const res = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if ((res.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') return undefined;
  if (res.error) throw res.error;
  return { ok: res.status === 0, output: `${res.stdout}${res.stderr}`.trim() };
}

describe('metrics', () => {
  gatewayTest('pass the exposition format and naming checks after real traffic', async ({ gateway }) => {
    const h = await gateway();
    const { client } = await TestClient.hello(h.gw.url, 'srv-a');
    h.clients.push(client);
    client.sendBatch(1, joins(5));
    await client.next(Op.Ack);
    client.sendMsg({ op: 42 });
    await client.closed;
    const text = await (await fetch(`http://127.0.0.1:${h.gw.port}/metrics`)).text();
    expect(text).toContain('cairn_gateway_bad_frames_total{code="CAIRN_ERR_FRAME_INVALID"} 1');
    // The checker saw the whole scrape, histograms included.
    const families = parseExposition(text);
    expect(families.some((f) => f.type === 'histogram' && f.samples.length > 0)).toBe(true);
    expect(families.some((f) => f.type === 'counter' && f.samples.length > 0)).toBe(true);
    expect(checkMetrics(text)).toEqual([]);
    const lint = promtool(text);
    if (lint) expect(lint).toEqual({ ok: true, output: '' });
  });
});

const GOOD = [
  '# HELP app_requests_total Requests served.',
  '# TYPE app_requests_total counter',
  'app_requests_total{code="200",path="/a \\"q\\" \\\\ \\n"} 3',
  'app_requests_total{code="500"} 0 1764331200000',
  '# HELP app_latency_seconds Time to answer.',
  '# TYPE app_latency_seconds histogram',
  'app_latency_seconds_bucket{le="0.1"} 1',
  'app_latency_seconds_bucket{le="1"} 2',
  'app_latency_seconds_bucket{le="+Inf"} 3',
  'app_latency_seconds_sum 4.5',
  'app_latency_seconds_count 3',
  '# HELP app_queue_bytes Bytes queued.',
  '# TYPE app_queue_bytes gauge',
  'app_queue_bytes NaN',
  '',
].join('\n');

/** Replaces lines of GOOD (by index) to make one bad input. */
const bad = (edits: Record<number, string>) => GOOD.split('\n').map((l, i) => edits[i] ?? l).join('\n');

describe('the exposition checker', () => {
  it('accepts a well-formed exposition with escapes, timestamps, NaN and a histogram', () => {
    expect(checkMetrics(GOOD)).toEqual([]);
    const [counter] = parseExposition(GOOD);
    expect(counter!.samples[0]!.labels.path).toBe('/a "q" \\ \n');
  });

  it.each([
    ['a counter without _total', bad({ 0: '# HELP app_requests Requests.', 1: '# TYPE app_requests counter', 2: 'app_requests 1', 3: '' }), 'app_requests: counter metrics should have "_total" suffix'],
    ['a gauge with _total', bad({ 12: '# TYPE app_queue_bytes_total gauge', 11: '# HELP app_queue_bytes_total Bytes.', 13: 'app_queue_bytes_total 1' }), 'app_queue_bytes_total: non-counter metrics should not have "_total" suffix'],
    ['milliseconds instead of seconds', bad({ 4: '# HELP app_latency_milliseconds T.', 5: '# TYPE app_latency_milliseconds gauge', 6: 'app_latency_milliseconds 1', 7: '', 8: '', 9: '', 10: '' }), 'app_latency_milliseconds: use base unit "seconds" instead of "milliseconds"'],
    ['kilobytes instead of bytes', bad({ 11: '# HELP app_queue_kilobytes B.', 12: '# TYPE app_queue_kilobytes gauge', 13: 'app_queue_kilobytes 1' }), 'app_queue_kilobytes: use base unit "bytes" instead of "kilobytes"'],
    ['an abbreviated unit', bad({ 11: '# HELP app_wait_ms W.', 12: '# TYPE app_wait_ms gauge', 13: 'app_wait_ms 1' }), 'app_wait_ms: metric names should not contain abbreviated units'],
    ['a colon in the name', bad({ 11: '# HELP app:queue_bytes B.', 12: '# TYPE app:queue_bytes gauge', 13: 'app:queue_bytes 1' }), "app:queue_bytes: metric names should not contain ':'"],
    ['camelCase', bad({ 11: '# HELP app_queueBytes B.', 12: '# TYPE app_queueBytes gauge', 13: 'app_queueBytes 1' }), "app_queueBytes: metric names should be written in 'snake_case' not 'camelCase'"],
    ['no help text', bad({ 11: '# a comment' }), 'app_queue_bytes: no help text'],
    ['the type in the name', bad({ 11: '# HELP app_queue_gauge B.', 12: '# TYPE app_queue_gauge gauge', 13: 'app_queue_gauge 1' }), "app_queue_gauge: metric name should not include type 'gauge'"],
    ['_count on a gauge', bad({ 11: '# HELP app_queue_count B.', 12: '# TYPE app_queue_count gauge', 13: 'app_queue_count 1' }), 'app_queue_count: non-histogram and non-summary metrics should not have "_count" suffix'],
    ['an le label on a gauge', bad({ 13: 'app_queue_bytes{le="1"} 1' }), 'app_queue_bytes: non-histogram metrics should not have "le" label'],
  ])('flags %s', (_, text, problem) => {
    expect(checkMetrics(text)).toContain(problem);
    const lint = promtool(text);
    if (lint) expect(lint.ok, lint.output).toBe(false);
  });

  it.each([
    ['a histogram without a +Inf bucket', bad({ 8: '' }), 'no le="+Inf" bucket', false],
    ['a bucket without le', bad({ 7: 'app_latency_seconds_bucket{x="1"} 2' }), 'bucket without an le label', false],
    ['buckets that are not cumulative', bad({ 7: 'app_latency_seconds_bucket{le="1"} 0' }), 'buckets are cumulative', false],
    ['_count unequal to the +Inf bucket', bad({ 10: 'app_latency_seconds_count 9' }), 'differs from the +Inf bucket', false],
    ['a histogram without _sum', bad({ 9: '' }), 'lacks _count or _sum', false],
    ['an unquoted label value', bad({ 3: 'app_requests_total{code=500} 0' }), 'invalid label list', true],
    ['an unterminated label value', bad({ 3: 'app_requests_total{code="500} 0' }), 'unterminated label value', true],
    ['a bad escape in a label value', bad({ 3: 'app_requests_total{code="5\\t0"} 0' }), 'invalid escape', true],
    ['a label named twice', bad({ 3: 'app_requests_total{code="1",code="2"} 0' }), 'label code twice', false],
    ['a reserved label name', bad({ 3: 'app_requests_total{__name__="x"} 0' }), 'invalid label name', true],
    ['a value that is not a number', bad({ 3: 'app_requests_total{code="500"} many' }), 'invalid sample value', true],
    ['a missing value', bad({ 3: 'app_requests_total{code="500"}' }), 'expected a value', true],
    ['an unknown type', bad({ 12: '# TYPE app_queue_bytes meter' }), 'unknown metric type', true],
    ['a TYPE line after the samples', bad({ 12: 'app_queue_bytes 2', 13: '# TYPE app_queue_bytes gauge' }), 'after its samples', true],
    ['a duplicate series', bad({ 3: 'app_requests_total{path="/a \\"q\\" \\\\ \\n",code="200"} 3' }), 'duplicate series', false],
    ['a family split by another', bad({ 14: 'app_requests_total{code="404"} 1' }) + '\n', 'appears again', false],
    ['no final newline', GOOD.trimEnd(), 'must end with a newline', false],
  ])('rejects %s', (_, text, message, promtoolRejects) => {
    const problems = checkMetrics(text);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^error while linting: /);
    expect(problems[0]).toContain(message);
    // The shape rules (cumulative buckets, +Inf, _count, grouping, duplicates) are stricter
    // than promtool's parser, which takes such input; the syntax errors it rejects too.
    const lint = promtoolRejects ? promtool(text) : undefined;
    if (lint) expect(lint.ok, lint.output).toBe(false);
  });
});
