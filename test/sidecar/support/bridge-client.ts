/** A Node stand-in for the game's bridge: NDJSON over a socket, with a queue of what the sidecar sent. */
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';

export type Msg = Record<string, unknown> & { type: string };

export class BridgeClient {
  readonly received: Msg[] = [];
  closed = false;
  private rest = '';
  private waiters: Array<() => void> = [];

  private constructor(readonly sock: Socket) {
    sock.setEncoding('utf8');
    sock.on('data', (s: string) => {
      const parts = (this.rest + s).split('\n');
      this.rest = parts.pop()!;
      for (const p of parts) if (p) this.received.push(JSON.parse(p) as Msg);
      this.wake();
    });
    sock.on('close', () => {
      this.closed = true;
      this.wake();
    });
    sock.on('error', () => undefined);
  }

  static async connect(port: number): Promise<BridgeClient> {
    const sock = connect(port, '127.0.0.1');
    await once(sock, 'connect');
    return new BridgeClient(sock);
  }

  send(...lines: Array<object | string>): void {
    this.sock.write(lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l)) + '\n').join(''));
  }

  /** The first message (from `from` on) matching `pred`; waits up to `ms`. */
  async next(pred: (m: Msg) => boolean, ms = 20_000): Promise<Msg> {
    const deadline = Date.now() + ms;
    for (;;) {
      const m = this.received.find(pred);
      if (m) return m;
      if (this.closed) throw new Error(`connection closed; received: ${JSON.stringify(this.received).slice(0, 500)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out; received: ${JSON.stringify(this.received).slice(0, 500)}`);
      await new Promise<void>((r) => {
        const timer = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          r();
        });
      });
    }
  }

  async waitClosed(ms = 10_000): Promise<void> {
    if (this.closed) return;
    await Promise.race([once(this.sock, 'close'), new Promise((_, rej) => setTimeout(() => rej(new Error('not closed')), ms))]);
  }

  close(): void {
    this.sock.destroy();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}
