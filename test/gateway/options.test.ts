import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../protocol/index.js';
import { resolveGatewaySettings, type GatewaySettings } from '../../gateway/options.js';

const base: GatewaySettings = { port: 0, token: 't', stream: 's' };

describe('gateway settings', () => {
  it('fills in the defaults and freezes the result', () => {
    const s = resolveGatewaySettings(base);
    expect(s).toMatchObject({ helloTimeoutMs: 10_000, upgradeTimeoutMs: 10_000, maxPutsInFlight: 4, recordTargetBytes: 25 * 1024, maxUnackedBytes: 8 * 1024 * 1024 });
    expect(Object.isFrozen(s)).toBe(true);
    expect(base).not.toHaveProperty('helloTimeoutMs'); // the caller's object is left alone
  });

  it('treats an option given as undefined as left out', () => {
    expect(resolveGatewaySettings({ ...base, helloTimeoutMs: undefined }).helloTimeoutMs).toBe(10_000);
  });

  it('refuses an unknown option by name', () => {
    expect(() => resolveGatewaySettings({ ...base, helloTimeout: 5 } as GatewaySettings)).toThrow(
      expect.objectContaining({ code: ErrorCode.ConfigInvalid, message: expect.stringContaining('gateway option helloTimeout: not a gateway option') }),
    );
  });

  it('names each wrong option and its value', () => {
    let err: unknown;
    try {
      resolveGatewaySettings({ ...base, token: '', helloTimeoutMs: 0, recordTargetBytes: 2 * 1024 * 1024 });
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: ErrorCode.ConfigInvalid });
    const message = (err as Error).message;
    expect(message).toContain('gateway option token=""');
    expect(message).toContain('gateway option helloTimeoutMs=0: must be >= 1');
    expect(message).toContain('gateway option recordTargetBytes=2097152: must be <= 1048576');
  });

  it('names a missing required option', () => {
    const { token: _, ...noToken } = base;
    expect(() => resolveGatewaySettings(noToken as GatewaySettings)).toThrow(/gateway option token: must have required property 'token'/);
  });
});
