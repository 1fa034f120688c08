/**
 * The sidecar's end of the bridge (docs/sidecar-protocol.md): a TCP or Unix socket server
 * for one game server at a time. The first hello starts the plugin (through the caller's
 * factory) after playing the sample journal, so a restarted sidecar has the plugin state
 * the killed one had; each chunk of numbered lines is journaled, fed to the plugin, then
 * acked, and the bridge sends again whatever was not acked when it reconnects.
 *
 * A line that is not valid closes the connection with an error line naming the line
 * number and the field; the lines before it stand, nothing of it reaches the plugin.
 *
 * Over ~300 lines: the connection's state machine (hello, journal replay, numbered lines,
 * acks, give answers, close) is one piece, like the link on the gateway side; the line
 * parser is bridge-protocol.ts, the journal bridge-journal.ts, where it listens
 * bridge-listen.ts.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { ErrorCode } from '../../protocol/index.js';
import { logger } from '../../common/log.js';
import type { CairnPlugin, WindowClosedInfo } from '../cairn-plugin.js';
import { BridgeHost, type BridgeClock, type BridgeSink } from './bridge-host.js';
import { GiveBook, SampleJournal } from './bridge-journal.js';
import { describeAddress, listenOn, type ListenAddress } from './bridge-listen.js';
import { MoveLineScanner } from './trace-fast-path.js';
import { BRIDGE_PROTOCOL_VERSION, BridgeLineError, MAX_BRIDGE_LINE_BYTES, parseGameLine, type AnswerLine, type GameLine, type HelloLine, type SeqLine } from './bridge-protocol.js';

const log = logger('sidecar');

export type { ListenAddress } from './bridge-listen.js';

export interface SidecarOptions {
  /** the game server's data folder: the plugin's files, and ours under bridge/ */
  dataDir: string;
  clock: BridgeClock;
  listen: ListenAddress;
  /** Starts the plugin for the host (hunts, gateway and token are the caller's). */
  startPlugin(host: BridgeHost, dataDir: string): Promise<CairnPlugin>;
}

export interface SidecarStats {
  connections: number;
  lines: number;
  samples: number;
  /** numbered lines the game sent again that were already journaled (after a reconnect) */
  duplicates: number;
  /** connections closed for a bad line */
  refused: number;
  givesSent: number;
  answers: number;
  /** messages to players with no game connected (not kept) */
  tellsDropped: number;
  journalReplayed: number;
}

interface Conn {
  sock: Socket;
  lineNo: number;
  rest: Buffer | undefined;
  hello: HelloLine | undefined;
  closed: boolean;
  work: Promise<void>;
  /** reads move lines written in the trace format without decoding them (plugin/hosts/trace-fast-path.ts) */
  scanner: MoveLineScanner;
}

export class Sidecar implements BridgeSink {
  readonly stats: SidecarStats = { connections: 0, lines: 0, samples: 0, duplicates: 0, refused: 0, givesSent: 0, answers: 0, tellsDropped: 0, journalReplayed: 0 };
  private readonly bridgeDir: string;
  private host: BridgeHost | undefined;
  private plugin: CairnPlugin | undefined;
  private journal: SampleJournal | undefined;
  private book: GiveBook | undefined;
  private starting: Promise<void> | undefined;
  private conn: Conn | undefined;
  private lastSeq = 0;
  private closing = false;

  private constructor(
    private readonly opts: SidecarOptions,
    private readonly server: Server,
  ) {
    this.bridgeDir = join(opts.dataDir, 'bridge');
  }

  static async start(opts: SidecarOptions): Promise<Sidecar> {
    mkdirSync(join(opts.dataDir, 'bridge'), { recursive: true });
    const server = createServer();
    const sidecar = new Sidecar(opts, server);
    server.on('connection', (s) => sidecar.onConnection(s));
    await listenOn(server, opts.listen);
    return sidecar;
  }

  /** host:port or the socket path. */
  get address(): string {
    return describeAddress(this.server);
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** The plugin, once the first game connected. */
  get cairn(): CairnPlugin | undefined {
    return this.plugin;
  }

  async close(timeoutMs = 5000): Promise<void> {
    this.closing = true;
    this.conn?.sock.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
    await this.starting?.catch(() => undefined);
    await this.plugin?.stop(timeoutMs).catch((err) => log.warn({ err }, 'plugin stop failed'));
    this.journal?.close();
  }

  // --- BridgeSink: what the plugin (through the host) asks of the game ---

  give(prizeId: string, player: string, item: string, count: number): void {
    const book = this.book!;
    const fresh = book.give(prizeId, player, item, count);
    if (!fresh && book.gives.get(prizeId)?.state === 'given') return;
    if (this.send({ type: 'give', prize: prizeId, player, item, count })) this.stats.givesSent++;
  }

  tell(player: string, text: string): void {
    if (!this.send({ type: 'tell', player, text })) this.stats.tellsDropped++;
  }

  // --- connections ---

  private onConnection(sock: Socket): void {
    if (this.closing) {
      sock.destroy();
      return;
    }
    this.stats.connections++;
    sock.setNoDelay(true);
    const c: Conn = { sock, lineNo: 0, rest: undefined, hello: undefined, closed: false, work: Promise.resolve(), scanner: new MoveLineScanner() };
    sock.on('data', (chunk: Buffer) => {
      sock.pause();
      c.work = c.work.then(() => this.onChunk(c, chunk)).then(
        () => {
          sock.resume();
        },
        (err) => {
          log.error({ err }, 'sidecar failed handling game input; closing the connection');
          this.refuse(c, ErrorCode.Internal, undefined, (err as Error).message);
        },
      );
    });
    sock.on('error', (err) => log.warn({ err }, 'game connection error'));
    sock.on('close', () => {
      c.closed = true;
      if (this.conn === c) this.conn = undefined;
    });
  }

  private async onChunk(c: Conn, chunk: Buffer): Promise<void> {
    if (c.closed) return;
    const buf = c.rest ? Buffer.concat([c.rest, chunk]) : chunk;
    c.rest = undefined;
    const accepted: Buffer[] = [];
    let ackTo = 0;
    const commit = () => {
      if (accepted.length > 0) {
        this.journal!.append(accepted.length === 1 ? accepted[0]! : Buffer.concat(accepted));
        accepted.length = 0;
      }
      if (ackTo > 0) this.send({ type: 'ack', n: ackTo }, c);
      ackTo = 0;
    };
    let start = 0;
    for (;;) {
      const nl = buf.indexOf(10, start);
      if (nl < 0) break;
      const lineNo = ++c.lineNo;
      const end = nl > start && buf[nl - 1] === 13 ? nl - 1 : nl;
      if (end - start > MAX_BRIDGE_LINE_BYTES) {
        commit();
        return this.refuse(c, ErrorCode.FrameTooLarge, undefined, `line ${lineNo}: longer than ${MAX_BRIDGE_LINE_BYTES} bytes`);
      }
      const lineStart = start;
      start = nl + 1;
      if (end === lineStart) continue;
      if (c.hello && buf[lineStart + 2] === 0x74) {
        // The hot path: a move in the trace's format ({"t":...,"server":...,"type":"move",...}), numbered implicitly.
        const move = c.scanner.scan(buf, lineStart, end);
        if (move) {
          this.stats.lines++;
          this.stats.samples++;
          accepted.push(buf.subarray(lineStart, nl + 1));
          ackTo = ++this.lastSeq;
          this.host!.setTime(move.t);
          this.plugin!.accept(move);
          continue;
        }
      }
      let line: GameLine;
      try {
        line = parseGameLine(buf.toString('utf8', lineStart, end), lineNo);
        if (!c.hello && line.type !== 'hello') throw new BridgeLineError(lineNo, 'type', `the first line must be a hello, got ${JSON.stringify(line.type)}`);
      } catch (err) {
        commit();
        if (!(err instanceof BridgeLineError)) throw err;
        return this.refuse(c, c.hello ? ErrorCode.FrameInvalid : ErrorCode.HelloRequired, err.field, err.message);
      }
      this.stats.lines++;
      if (line.type === 'hello') {
        if (c.hello) return this.refuse(c, ErrorCode.FrameInvalid, 'type', `line ${lineNo}: hello sent twice on one connection`);
        const why = await this.hello(c, line as HelloLine, lineNo);
        if (why) return this.refuse(c, why.code, why.field, why.message);
        continue;
      }
      if (line.type === 'given' || line.type === 'held') {
        const a = line as AnswerLine;
        this.stats.answers++;
        if (!this.book!.answer(a.prize, a.type)) log.warn({ prize: a.prize, answer: a.type }, 'the game answered a give the sidecar does not know');
        continue;
      }
      const seq = line as SeqLine;
      if (seq.n === 0) seq.n = this.lastSeq + 1;
      if (seq.n <= this.lastSeq) {
        this.stats.duplicates++;
        ackTo = this.lastSeq;
        continue;
      }
      if (seq.n !== this.lastSeq + 1) {
        commit();
        return this.refuse(c, ErrorCode.FrameInvalid, 'n', `line ${lineNo}: expected n=${this.lastSeq + 1}, got ${seq.n} (lines must be numbered without gaps)`);
      }
      accepted.push(buf.subarray(lineStart, nl + 1));
      this.lastSeq = seq.n;
      ackTo = seq.n;
      this.applySeq(seq, true);
    }
    if (start < buf.length) {
      if (buf.length - start > MAX_BRIDGE_LINE_BYTES) {
        commit();
        return this.refuse(c, ErrorCode.FrameTooLarge, undefined, `line ${c.lineNo + 1}: longer than ${MAX_BRIDGE_LINE_BYTES} bytes`);
      }
      c.rest = Buffer.from(buf.subarray(start));
    }
    commit();
    await this.plugin?.waitForCapacity();
  }

  /** Returns why the hello is refused, or undefined once the game is welcomed. */
  private async hello(c: Conn, h: HelloLine, lineNo: number): Promise<{ code: ErrorCode; field: string; message: string } | undefined> {
    if (h.v !== BRIDGE_PROTOCOL_VERSION) return { code: ErrorCode.ProtocolVersion, field: 'v', message: `line ${lineNo}: this sidecar speaks version ${BRIDGE_PROTOCOL_VERSION}, the game sent ${h.v}` };
    const serverFile = join(this.bridgeDir, 'server');
    let owner: string | undefined;
    try {
      owner = readFileSync(serverFile, 'utf8').trim();
    } catch {
      writeFileSync(serverFile, `${h.server}\n`);
    }
    if (owner !== undefined && owner !== h.server) {
      return { code: ErrorCode.ConfigInvalid, field: 'server', message: `line ${lineNo}: this sidecar's data folder belongs to server "${owner}", not "${h.server}" (one sidecar per game server)` };
    }
    // A start that failed (gateway unreachable, say) is tried again by the next hello.
    this.starting ??= this.startPlugin(h).catch((err) => {
      this.starting = undefined;
      throw err;
    });
    await this.starting;
    if (c.closed) return undefined;
    if (this.conn && this.conn !== c) {
      // The newer connection wins: an older one is usually half-dead after a network hiccup.
      this.send({ type: 'bye', reason: 'replaced by a newer connection from the game' }, this.conn);
      this.conn.closed = true;
      this.conn.sock.end();
    }
    c.hello = h;
    this.conn = c;
    const host = this.host!;
    if (this.journal!.boot !== h.boot) {
      const earlier = this.journal!.boot !== undefined;
      if (earlier) this.endBoot();
      this.journal!.useBoot(h.boot);
      this.lastSeq = 0;
      if (earlier) this.retireAfterDrain();
    }
    const closed: Record<string, { start: number; end: number }> = {};
    for (const [hunt, w] of this.book!.closed) closed[hunt] = w;
    this.send({ type: 'welcome', v: BRIDGE_PROTOCOL_VERSION, server: h.server, boot: h.boot, acked: this.lastSeq, closed }, c);
    for (const g of this.book!.open((p) => host.isOnline(p))) {
      this.send({ type: 'give', prize: g.prize, player: g.player, item: g.item, count: g.count }, c);
      this.stats.givesSent++;
    }
    log.info({ server: h.server, boot: h.boot, acked: this.lastSeq }, 'game connected');
    return undefined;
  }

  /** Starts the plugin and plays the journal through it, once per sidecar process. */
  private async startPlugin(h: HelloLine): Promise<void> {
    const journal = SampleJournal.open(this.bridgeDir);
    this.book = GiveBook.open(this.bridgeDir);
    const files = journal.files();
    const firstLine = files.length > 0 ? journal.lines(files[0]!)[0] : undefined;
    const firstT = firstLine ? (JSON.parse(firstLine) as { t: number }).t : undefined;
    const host = new BridgeHost(h.server, this.opts.clock, firstT ?? h.t ?? Date.now());
    host.setSink(this);
    this.host = host;
    const plugin = await this.opts.startPlugin(host, this.opts.dataDir);
    this.plugin = plugin;
    plugin.on('window-closed', (w: WindowClosedInfo) => {
      this.book!.windowClosed(w.hunt, w.start, w.end);
      this.send({ type: 'window-closed', hunt: w.hunt, start: w.start, end: w.end });
    });
    this.journal = journal;
    let lines = 0;
    for (const [i, file] of files.entries()) {
      if (i > 0) this.endBoot();
      let lineNo = 0;
      this.lastSeq = 0;
      for (const text of journal.lines(file)) {
        const line = parseGameLine(text, ++lineNo);
        if (line.type === 'hello' || line.type === 'given' || line.type === 'held') throw new Error(`${file.path}:${lineNo}: not a sample line`);
        const seq = line as SeqLine;
        if (seq.n === 0) seq.n = this.lastSeq + 1;
        this.applySeq(seq, false);
        this.lastSeq = seq.n;
        if ((++lines & 1023) === 0) await plugin.waitForCapacity();
      }
      journal.useBoot(file.boot);
    }
    this.stats.journalReplayed = lines;
    if (files.length > 1) this.retireAfterDrain();
    if (lines > 0) log.info({ lines, boots: files.length }, 'sample journal played through the plugin');
  }

  private applySeq(line: SeqLine, live: boolean): void {
    const host = this.host!;
    const plugin = this.plugin!;
    if (line.type === 'watermark') {
      if (host.mode === 'game') {
        host.setTime(line.t);
        plugin.flush({ force: true });
      }
      return;
    }
    if (line.type === 'perms') {
      host.setPerms(line.player, line.perms);
      return;
    }
    this.stats.samples++;
    plugin.accept(host.apply(line));
    if (live && line.type === 'join') {
      // Gives the game answered 'held' (inventory full, say) are tried again when the player joins.
      for (const g of this.book!.open(() => true, line.player)) {
        if (g.state !== 'held') continue;
        this.send({ type: 'give', prize: g.prize, player: g.player, item: g.item, count: g.count });
        this.stats.givesSent++;
      }
    }
  }

  /** The game restarted: every session of the old boot ended with it. */
  private endBoot(): void {
    const host = this.host!;
    const t = host.now();
    for (const player of host.players()) this.plugin!.accept(host.apply({ type: 'leave', n: 0, t, player }));
  }

  /** Once everything formed so far is acked by the gateway, the older boots' journals are not needed. */
  private retireAfterDrain(): void {
    const plugin = this.plugin!;
    plugin.flush({ force: true });
    plugin.drain().then(
      () => {
        const n = this.journal?.retireOlderBoots() ?? 0;
        if (n > 0) log.info({ files: n }, 'journals of earlier game boots retired');
      },
      (err) => log.warn({ err }, 'drain failed; earlier boots\' journals kept'),
    );
  }

  private send(msg: object, c: Conn | undefined = this.conn): boolean {
    if (!c || c.closed) return false;
    c.sock.write(`${JSON.stringify(msg)}\n`);
    return true;
  }

  private refuse(c: Conn, code: ErrorCode, field: string | undefined, message: string): void {
    this.stats.refused++;
    const m = /^line (\d+)/.exec(message);
    log.warn({ code, field, message }, 'game input refused; closing the connection');
    this.send({ type: 'error', code, ...(m ? { line: Number(m[1]) } : {}), ...(field ? { field } : {}), message }, c);
    c.closed = true;
    c.sock.end();
    if (this.conn === c) this.conn = undefined;
  }
}
