/**
 * The plugin's options are checked once against their schema: defaults filled in, unknown
 * options refused by name, every error a ConfigInvalid naming the option, the result frozen.
 */
import { describe, expect, it } from 'vitest';
import { CairnError, ErrorCode } from '../../protocol/index.js';
import { resolveOptions, type PluginOptions } from '../../plugin/plugin-options.js';
import { FakeHost } from './support/fake-host.js';

const base = (): PluginOptions => ({ host: new FakeHost(), hunts: [], dataDir: '/tmp/x', gatewayUrl: 'ws://127.0.0.1:1', token: 't' });

function refusal(opts: unknown): CairnError {
  try {
    resolveOptions(opts as PluginOptions);
  } catch (err) {
    expect(err).toBeInstanceOf(CairnError);
    expect((err as CairnError).code).toBe(ErrorCode.ConfigInvalid);
    return err as CairnError;
  }
  throw new Error('options were accepted');
}

describe('plugin options', () => {
  it('fills in every default and freezes the result, leaving the caller’s object as it was', () => {
    const opts = { ...base(), link: { backoffBaseMs: 5 } };
    const r = resolveOptions(opts);
    expect(r).toMatchObject({ flushIntervalMs: 250, flushSliceEvents: 128, flushSliceMs: 0.5, heartbeatMs: 1000, autoFlush: true, stopOnSignals: false, batchMaxEvents: 500, batchMaxBytes: 256 * 1024, outboxMaxBytes: 64 * 1024 * 1024 });
    expect(Object.isFrozen(r)).toBe(true);
    expect(Object.isFrozen(r.link)).toBe(true);
    expect(r.host).toBe(opts.host);
    expect(opts).not.toHaveProperty('flushIntervalMs');
    expect(Object.isFrozen(opts.link)).toBe(false);
  });

  it('keeps what the caller set', () => {
    const pause = (): void => undefined;
    const r = resolveOptions({ ...base(), flushIntervalMs: 50, autoFlush: false, stopOnSignals: { timeoutMs: 100 }, onFlushPause: pause });
    expect(r).toMatchObject({ flushIntervalMs: 50, autoFlush: false, stopOnSignals: { timeoutMs: 100 } });
    expect(r.onFlushPause).toBe(pause);
  });

  it('refuses an unknown option by name, nested ones too', () => {
    expect(refusal({ ...base(), flushIntervalMS: 100 }).message).toMatch(/flushIntervalMS: unknown option/);
    expect(refusal({ ...base(), link: { backoffMs: 1 } }).message).toMatch(/link\.backoffMs: unknown option/);
  });

  it('names each wrong option, all at once', () => {
    const m = refusal({ ...base(), flushSliceEvents: 0, heartbeatMs: -1, flushSliceMs: 0 }).message;
    expect(m).toMatch(/flushSliceEvents: must be >= 1, got 0/);
    expect(m).toMatch(/heartbeatMs: must be > 0, got -1/);
    expect(m).toMatch(/flushSliceMs: must be > 0, got 0/);
  });

  it('checks the server id, the gateway URL, the required options and the opaque ones', () => {
    expect(refusal({ ...base(), host: new FakeHost('bad id') }).message).toMatch(/host\.serverId: must match pattern/);
    expect(refusal({ ...base(), gatewayUrl: 'http://x' }).message).toMatch(/gatewayUrl: must be a ws:\/\/ or wss:\/\/ URL, or several \(a list, or comma-separated\), got "http:\/\/x"$/);
    expect(refusal({ ...base(), gatewayUrl: ['ws://a:1', 'http://x'] }).message).toMatch(/gatewayUrl: must be a ws:\/\/ or wss:\/\/ URL, or several/);
    expect(() => resolveOptions({ ...base(), gatewayUrl: 'ws://a:1, wss://b:2' })).not.toThrow();
    const { token: _token, ...noToken } = base();
    expect(refusal(noToken).message).toMatch(/token: required/);
    expect(refusal({ ...base(), onFlushPause: 5 }).message).toMatch(/onFlushPause: must be a function \(ms\) => void, got 5/);
    expect(refusal({ ...base(), batchMaxEvents: 5000 }).message).toMatch(/batchMaxEvents: must be <= 2000/);
  });
});
