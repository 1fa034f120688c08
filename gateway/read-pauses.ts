/**
 * Why a connection's socket is not being read. Reading stops while any reason holds and
 * resumes when the last one clears, so the reasons cannot resume each other's pause:
 *
 *   hello     the hello registers in Redis; frames that came with it wait
 *   cap       unacked bytes reached the cap (gateway/ordered-acker.ts): TCP backpressure
 *   shutdown  the gateway is closing; in-flight batches finish, nothing new is read
 */
import type { WebSocket } from 'ws';
import type { GatewayMetrics } from './metrics.js';

export type PauseReason = 'hello' | 'cap' | 'shutdown';

export class ReadPauses {
  private readonly reasons = new Set<PauseReason>();

  constructor(
    private readonly ws: WebSocket,
    private readonly metrics: GatewayMetrics,
  ) {}

  pause(reason: PauseReason): void {
    if (this.reasons.has(reason)) return;
    this.reasons.add(reason);
    if (reason === 'cap') this.metrics.paused(1);
    if (this.reasons.size === 1) this.ws.pause();
  }

  /** Clears `reason`; reading resumes when no other reason holds and `closed` is false. */
  unpause(reason: PauseReason, closed: boolean): void {
    if (!this.reasons.delete(reason)) return;
    if (reason === 'cap') this.metrics.paused(-1);
    if (this.reasons.size === 0 && !closed) this.ws.resume();
  }

  /** Reads again whatever the reasons, so a closing peer's close frame arrives. */
  clear(): void {
    if (this.reasons.size === 0) return;
    if (this.reasons.has('cap')) this.metrics.paused(-1);
    this.reasons.clear();
    this.ws.resume();
  }
}
