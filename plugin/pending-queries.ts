/**
 * The queries a link has asked the gateway and not yet had answered (protocol `query` /
 * `reply`): each gets an id, a timeout, and is settled by its reply, its timeout, or the
 * connection going down. A query is never queued for a later connection: a player
 * waiting on chat wants an answer now or an apology.
 */
import type { Reply } from '../protocol/index.js';

export class PendingQueries {
  private lastId = 0;
  private readonly waiting = new Map<number, { resolve(r: Reply): void; reject(err: Error): void }>();

  /** A new query id, and the promise its reply (or timeout) settles. */
  open(timeoutMs: number): { id: number; answer: Promise<Record<string, unknown>> } {
    const id = ++this.lastId;
    const answer = new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(id, {
        resolve: (r) => {
          clearTimeout(timer);
          if (r.ok) resolve(r.data ?? {});
          else reject(new Error(r.error ?? 'query refused'));
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      });
    });
    return { id, answer };
  }

  /** Settles the query a reply answers; a reply to an unknown (timed out) query is dropped. */
  answer(reply: Reply): void {
    this.waiting.get(reply.id)?.resolve(reply);
    this.waiting.delete(reply.id);
  }

  /** Rejects every open query (the connection went down). */
  failAll(why: string): void {
    for (const q of this.waiting.values()) q.reject(new Error(why));
    this.waiting.clear();
  }
}
