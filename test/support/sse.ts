/** Reads a Server-Sent Events stream until a message satisfies `until` (or the time runs out). */
export interface SseRead<T> {
  /** the `data:` payloads, parsed */
  messages: T[];
  /** everything the stream carried, as text */
  raw: string;
}

export async function readSse<T = unknown>(url: string, until: (msg: T, all: T[]) => boolean, opts: { headers?: Record<string, string>; timeoutMs?: number } = {}): Promise<SseRead<T>> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), opts.timeoutMs ?? 20_000);
  const messages: T[] = [];
  let raw = '';
  let pending = '';
  try {
    const res = await fetch(url, { headers: opts.headers ?? {}, signal: ac.signal });
    if (res.status !== 200 || !res.body) throw new Error(`${url}: HTTP ${res.status}`);
    const decoder = new TextDecoder();
    for await (const chunk of res.body) {
      const text = decoder.decode(chunk as Uint8Array, { stream: true });
      raw += text;
      pending += text;
      let end: number;
      while ((end = pending.indexOf('\n\n')) >= 0) {
        const event = pending.slice(0, end);
        pending = pending.slice(end + 2);
        const data = event.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5)).join('\n');
        if (!data) continue;
        const msg = JSON.parse(data) as T;
        messages.push(msg);
        if (until(msg, messages)) return { messages, raw };
      }
    }
    throw new Error(`${url}: stream ended before the awaited message`);
  } catch (err) {
    if (ac.signal.aborted) throw new Error(`${url}: no awaited message within ${opts.timeoutMs ?? 20_000} ms (${messages.length} messages read)`);
    throw err;
  } finally {
    clearTimeout(timer);
    ac.abort();
  }
}
