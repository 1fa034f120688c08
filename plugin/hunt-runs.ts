/**
 * What this server knows at once of whether a hunt runs: the start and stop commands issued
 * here (by event time) and the rules' schedule. The worker's folded state moves only when a
 * window closes (up to a window late), so `/hunt status` shows this view first and says
 * where the worker's differs. A start or stop issued on another server is known here only
 * through the worker.
 */
import { windowMs as windowOf, type HuntRules } from '../protocol/index.js';

export interface LocalRun {
  /** 'unknown': nothing was issued here and no schedule says */
  state: 'running' | 'stopped' | 'scheduled' | 'unknown';
  /** event time of the start (running) or the stop (stopped) or the scheduled start */
  since?: number;
  /** who issued it here ('schedule' for the rules' schedule) */
  by?: string;
  /** end of the first window of the run (windows are aligned to multiples of the window length) */
  firstWindowEnd?: number;
}

export class HuntRuns {
  private readonly issued = new Map<string, { k: 'start' | 'stop'; t: number; by: string }>();

  /** A start or stop issued on this server (the command's event time). */
  record(hunt: string, k: 'start' | 'stop', t: number, by: string): void {
    this.issued.set(hunt, { k, t, by });
  }

  /** This server's view of `rules`' hunt at time `now`. */
  view(rules: HuntRules, now: number): LocalRun {
    const windowMs = windowOf(rules);
    const firstWindowEnd = (t: number) => Math.floor(t / windowMs) * windowMs + windowMs;
    const cmd = this.issued.get(rules.id);
    const start = rules.schedule?.start ? Date.parse(rules.schedule.start) : undefined;
    const end = rules.schedule?.end ? Date.parse(rules.schedule.end) : undefined;
    // The latest of what was issued here and what the schedule has passed decides.
    const marks: Array<{ k: 'start' | 'stop'; t: number; by: string }> = [];
    if (cmd) marks.push(cmd);
    if (start !== undefined && start <= now) marks.push({ k: 'start', t: start, by: 'schedule' });
    if (end !== undefined && end <= now) marks.push({ k: 'stop', t: end, by: 'schedule' });
    const last = marks.sort((a, b) => a.t - b.t).at(-1);
    if (last?.k === 'start') return { state: 'running', since: last.t, by: last.by, firstWindowEnd: firstWindowEnd(last.t) };
    if (last?.k === 'stop') return { state: 'stopped', since: last.t, by: last.by };
    if (start !== undefined) return { state: 'scheduled', since: start, by: 'schedule', firstWindowEnd: firstWindowEnd(start) };
    return { state: 'unknown' };
  }
}
