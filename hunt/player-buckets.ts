/**
 * The stored form of the players' finds: a hunt's players hash holds PLAYER_BUCKETS
 * fields, each the JSON of the players whose id hashes to it,
 *
 *   { player: [server of the latest find, its time, treasure, time, treasure, time, ...] }
 *
 * so a window reads and rewrites only the buckets of the players it names (hunt-store.ts
 * says why buckets). This file is the format alone: which bucket, and a bucket's JSON
 * both ways.
 */
import { fnv1a } from '../protocol/index.js';
import type { PlayerFinds } from './hunt-fold.js';

/** Buckets of the players hash. Changing it would need a migration of every stored hunt. */
export const PLAYER_BUCKETS = 65_536;

/** The bucket of a player as a number: FNV-1a of the id, low 16 bits. */
export const bucketNumber = (player: string): number => fnv1a(player) % PLAYER_BUCKETS;

/** The bucket of a player: its field name in the players hash (bucketNumber in base 36). */
export function playerBucket(player: string): string {
  return bucketNumber(player).toString(36);
}

/** One player's finds as stored: [server of the latest find, its time, treasure, time, ...]. */
export type StoredFinds = (string | number)[];

export function fromStored(a: StoredFinds): PlayerFinds {
  const f: Record<string, number> = {};
  for (let i = 2; i + 1 < a.length; i += 2) f[a[i] as string] = a[i + 1] as number;
  return { f, lt: a[1] as number, ls: a[0] as string };
}

/** A bucket's JSON, parsed: player -> stored finds. */
export function parseBucket(json: string): Record<string, StoredFinds> {
  return JSON.parse(json) as Record<string, StoredFinds>;
}

/** A bucket's JSON. Hand-built: generic JSON.stringify of 65 k buckets' small objects took over a second. */
export function bucketJson(players: Map<string, PlayerFinds>): string {
  const parts: string[] = [];
  for (const [p, pf] of players) {
    let json = `${str(p)}:[${str(pf.ls)},${pf.lt}`;
    const fs = pf.f;
    for (const tr in fs) json += `,${str(tr)},${fs[tr]}`;
    parts.push(json + ']');
  }
  return `{${parts.join(',')}}`;
}

const PLAIN = /^[A-Za-z0-9_.:-]*$/;
/** Ids of the usual shape need no escaping. */
const str = (s: string): string => (PLAIN.test(s) ? `"${s}"` : JSON.stringify(s));
