/**
 * Events a plugin sends in batches. Discrete events carry their identity (epoch of
 * creation `e`, per-epoch counter `n`) so a resend, a spill replayed after a restart
 * or a duplicate Kinesis record is recognised downstream. Continuous state travels as
 * deltas that carry only the fields that changed since the last flush.
 */
import type { HuntRules } from './rules.js';

export type Vec3 = [number, number, number];

interface Discrete {
  /** Epoch of the plugin instance that created the event. */
  e: number;
  /** Per-(server, epoch) event counter. */
  n: number;
  /** Event time in ms since the Unix epoch: the raw sample's own time. */
  t: number;
}

/** A player joined; `i` is the compact per-session index that deltas use. */
export interface JoinEvent extends Discrete { k: 'join'; p: string; i: number }
export interface LeaveEvent extends Discrete { k: 'leave'; p: string }
/** A move sample entered a treasure's radius (previous sample in the session was outside it). */
export interface EnterEvent extends Discrete {
  k: 'enter';
  p: string;
  hunt: string;
  tr: string;
  region: string;
  at: Vec3;
  /** 1 when the sample broke the hunt's maxSpeed: it produces no find. */
  sus?: 1;
}
/** An authorised `hunt start`; carries the rules in force and their content hash. */
export interface StartEvent extends Discrete { k: 'start'; p: string; hunt: string; rules: HuntRules; hash: string }
/** An authorised `hunt stop`. */
export interface StopEvent extends Discrete { k: 'stop'; p: string; hunt: string }
/**
 * The rules a server has loaded for a hunt (sent at start-up and on reload). `reload: 1`
 * marks an admin's `hunt reload`: a running hunt switches to these rules from the next
 * window. Without it, rules that differ from the ones in force are only reported.
 */
export interface RulesEvent extends Discrete { k: 'rules'; hunt: string; rules: HuntRules; hash: string; reload?: 1 }

export type DiscreteEvent = JoinEvent | LeaveEvent | EnterEvent | StartEvent | StopEvent | RulesEvent;

/**
 * Coalesced continuous state of one player (by session index `i`), only the fields that
 * changed. Positions are quantized (see plugin/coalescer.ts).
 */
export interface DeltaEvent {
  k: 'delta';
  t: number;
  i: number;
  region?: string;
  x?: number;
  y?: number;
  z?: number;
}

export type WireEvent = DiscreteEvent | DeltaEvent;

export function isDiscrete(ev: WireEvent): ev is DiscreteEvent {
  return ev.k !== 'delta';
}

/** The events the worker folds into hunt state (rules: for a hunt's `schedule`). */
export type HuntEvent = (EnterEvent | StartEvent | StopEvent | RulesEvent) & { server: string };
