/**
 * Every message on the plugin <-> gateway WebSocket. See protocol/SPEC.md.
 */
import type { DiscreteEvent } from './events.js';
import type { ErrorCode } from './errors.js';
import type { PrizeGift } from './prize.js';

export const Op = {
  Hello: 1,
  Welcome: 2,
  Batch: 3,
  Ack: 4,
  Prize: 5,
  PrizeAck: 6,
  WindowClosed: 7,
  Error: 8,
  Query: 9,
  Reply: 10,
  Prizes: 11,
} as const;
export type Op = (typeof Op)[keyof typeof Op];

/**
 * Optional features a plugin names in its hello (`caps`). A gateway uses only those it
 * knows and ignores the rest, and an older gateway ignores the field: either side can be
 * upgraded first.
 */
export const Cap = {
  /** the plugin takes several deliveries in one frame (`Prizes`, op 11) */
  Prizes: 'prizes',
} as const;
export type Cap = (typeof Cap)[keyof typeof Cap];

/** plugin -> gateway, first message on every connection. */
export interface Hello { op: typeof Op.Hello; v: number; server: string; epoch: number; token: string; caps?: string[] }
/** gateway -> plugin: accepted; `durable` is the highest seq of this (server, epoch) already durable. */
export interface Welcome { op: typeof Op.Welcome; durable: number }
/**
 * plugin -> gateway: discrete events in `ev`, the coalesced deltas in one moves block `mv`
 * (protocol/moves.ts); every event with t <= wm has been sent.
 */
export interface Batch { op: typeof Op.Batch; seq: number; wm: number; ev: DiscreteEvent[]; mv?: Uint8Array }
/** gateway -> plugin: batch `seq` (and every earlier one) is durable in Kinesis. */
export interface Ack { op: typeof Op.Ack; seq: number }
/** gateway -> plugin: a prize to grant; `id` is its delivery id (the Redis stream entry). */
export interface Prize extends PrizeGift {
  op: typeof Op.Prize;
  id: string;
}
/** plugin -> gateway: these deliveries (prizes or window-closed) are recorded; do not send them again. */
export interface PrizeAck { op: typeof Op.PrizeAck; ids: string[] }
/** gateway -> plugin: every prize of `hunt` for events with start <= t < end has been delivered before this. */
export interface WindowClosed { op: typeof Op.WindowClosed; id: string; hunt: string; start: number; end: number }
/**
 * gateway -> plugin, to a plugin whose hello named `Cap.Prizes`: several deliveries in one
 * frame, in stream order, each exactly the Prize or WindowClosed message it stands for.
 * One frame for what one read of the prize stream returned saves a frame (and a socket
 * write, and a decode) per prize.
 */
export interface Prizes { op: typeof Op.Prizes; items: Array<Prize | WindowClosed> }
/** either way: what went wrong; the gateway closes the connection after sending it. */
export interface ErrorMessage { op: typeof Op.Error; code: ErrorCode; message: string }

/** What a query asks about: a hunt's state as the worker has folded it. */
export type QueryKind = 'status' | 'leaderboard';
/** plugin -> gateway: a question the plugin cannot answer alone (answered from the worker's state). */
export interface Query { op: typeof Op.Query; id: number; q: QueryKind; hunt: string; n?: number; player?: string }
/** gateway -> plugin: the answer to query `id`. */
export interface Reply { op: typeof Op.Reply; id: number; ok: boolean; data?: Record<string, unknown>; error?: string }

export type PluginMessage = Hello | Batch | PrizeAck | Query;
export type GatewayMessage = Welcome | Ack | Prize | WindowClosed | Prizes | ErrorMessage | Reply;
export type Message = PluginMessage | GatewayMessage;
