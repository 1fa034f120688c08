/**
 * Redis TIME -> ms, the one conversion every role uses, so times written by scripts
 * (worker/lua/includes/redis-time-ms.lua) and read in TS agree: whole ms, rounded down.
 */
/** The reply of TIME, [seconds, microseconds] as strings, in whole ms. */
export function redisTimeMs(reply: unknown): number {
  if (!Array.isArray(reply) || reply.length !== 2) throw new Error(`not a TIME reply: ${JSON.stringify(reply)}`);
  return Number(reply[0]) * 1000 + Math.floor(Number(reply[1]) / 1000);
}
