/**
 * The prize ledger's I/O seam for tests: counts writes and fsyncs, and lets a test stall
 * or fail one (a slow disk, a crash in the middle of an append, a broken disk).
 */
import type { CairnPlugin } from '../../../plugin/cairn-plugin.js';
import { nodeLedgerIo, type LedgerIo } from '../../../plugin/prize-ledger.js';
import { until, type FakeGateway } from './fake-gateway.js';
import type { FakeHost } from './fake-host.js';

export interface TestIo extends LedgerIo {
  /** the data of every write that reached the file, in order */
  readonly writes: string[];
  /** writes attempted (a failed or stalled one included) */
  writeCalls: number;
  syncs: number;
  /** runs before each write; a rejection fails the write, a promise that never settles stalls it */
  beforeWrite?: (data: string) => Promise<void>;
  /** runs before each fsync, likewise */
  beforeSync?: () => Promise<void>;
}

export function testIo(): TestIo {
  const io: TestIo = {
    writes: [],
    writeCalls: 0,
    syncs: 0,
    async write(fh, data) {
      io.writeCalls++;
      await io.beforeWrite?.(data);
      io.writes.push(data);
      await nodeLedgerIo.write(fh, data);
    },
    async sync(fh) {
      io.syncs++;
      await io.beforeSync?.();
      await nodeLedgerIo.sync(fh);
    },
  };
  return io;
}

export interface Gate {
  /** resolves once something waits at the gate */
  reached: Promise<void>;
  /** what waits at the gate: resolves on open(), rejects on fail() */
  wait(): Promise<void>;
  open(): void;
  fail(err: Error): void;
}

export function gate(): Gate {
  let arrive!: () => void;
  let open!: () => void;
  let fail!: (err: Error) => void;
  const reached = new Promise<void>((r) => (arrive = r));
  const opened = new Promise<void>((resolve, reject) => {
    open = resolve;
    fail = reject;
  });
  opened.catch(() => undefined);
  return {
    reached,
    wait: () => {
      arrive();
      return opened;
    },
    open,
    fail,
  };
}

/**
 * Resolves once everything `p` sent before the call has reached the gateway: it makes the
 * plugin send a batch (a heartbeat) and waits for it; one connection delivers in order. So
 * "nothing was acked" can be asserted without waiting for a while.
 */
export async function roundTrip(h: { gw: FakeGateway; host: FakeHost }, p: CairnPlugin): Promise<void> {
  const before = h.gw.batches.length;
  h.host.clock += 1000;
  p.flush({ force: true });
  await until(() => h.gw.batches.length > before, 'a heartbeat batch at the gateway');
}
