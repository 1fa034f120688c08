--[[
  Commits one closed window of one hunt: the fold's new hunt state and the finds of the
  players this window changed, each decided prize set once and appended to its server's
  prize stream, then a window-closed entry on every server's stream.

  Compare-and-set on `closed`: only the first of several workers that computed the same
  window writes; the others get 0 (stale), reload and go on. This per-hunt check is the
  commit's fencing token: a worker that was paused (SIGSTOP, GC, a lost lease) and wakes
  up with a window computed from old state can never write it. It needs no shard lease
  and no global lock.

  Applying the same call twice changes nothing: ioredis resends a command whose reply was
  lost with the connection. The second run finds `closed` already at this window's end
  and the state this very call wrote (the state JSON carries a unique commit id), and
  answers 2 instead of 0, so the worker counts it as its own commit, not a stale one.

  Pending events of the window are removed by score (ZREMRANGEBYSCORE), not member by
  member, after checking that exactly the F members the caller read are there: an event
  ingested for this window after it was read makes the count differ, and the caller
  re-reads (-2) instead of dropping it.

  Input (the number of KEYS varies: 7 + S):
    KEYS[1]      closed    STRING end (exclusive) of the last closed window
    KEYS[2]      state     STRING JSON hunt state, without the players
    KEYS[3]      prizes    HASH reason -> JSON prize, each field set once ever
    KEYS[4]      pending   ZSET pending events, scored by event time
    KEYS[5]      late      SET ids of late events
    KEYS[6]      servers   HASH server -> epoch (the registry of active servers)
    KEYS[7]      players   HASH bucket -> JSON finds of the bucket's players
    KEYS[7 + i]  the prize stream of server i (i = 1 .. S)

    ARGV[1] expected value of closed: the window start, or '' when closed must be missing
    ARGV[2] hunt  ARGV[3] window start  ARGV[4] window end (the new closed)
    ARGV[5] state JSON (unique per call)  ARGV[6] stream retention in ms (MINID trimming)
    ARGV[7] F: pending members with a score below the window end that the caller read
    ARGV[8] S, then S server ids (server i's stream is KEYS[7 + i])
    then P, then P x (reason, prize JSON, server index i, player, item, count)
    then N, then N x (bucket, JSON): player buckets holding a player whose finds this window changed
    then G, then G event ids: late events found in pending (removed with the rest, marked late)

  Output: { status, newPrizes }
    status  1 committed; 2 this call had already been applied (a resend);
            0 stale: closed is not ARGV[1] (another worker closed the window first);
            -1 a server in the registry has no stream key here (registry changed: retry);
            -2 the pending events below the window end are not the F the caller read (retry)
    newPrizes  prizes set by this call (a prize already set is not appended again)
]]
--- @include "includes/redis-time-ms"

local closed = redis.call('GET', KEYS[1])
if (closed or '') ~= ARGV[1] then
  if closed == ARGV[4] and redis.call('GET', KEYS[2]) == ARGV[5] then
    -- Our own commit, applied before the connection dropped: count the prizes it set.
    local n, a = 0, 9 + tonumber(ARGV[8])
    for _ = 1, tonumber(ARGV[a]) do
      if redis.call('HGET', KEYS[3], ARGV[a + 1]) == ARGV[a + 2] then n = n + 1 end
      a = a + 6
    end
    return { 2, n }
  end
  return { 0, 0 }
end

local hunt, wstart, wend = ARGV[2], ARGV[3], ARGV[4]
local nservers = tonumber(ARGV[8])
local streamOf = {}
for i = 1, nservers do streamOf[ARGV[8 + i]] = KEYS[7 + i] end
for _, s in ipairs(redis.call('HKEYS', KEYS[6])) do
  if not streamOf[s] then return { -1, 0 } end
end
if redis.call('ZCOUNT', KEYS[4], '-inf', '(' .. wend) ~= tonumber(ARGV[7]) then return { -2, 0 } end

-- unpack() is bounded by the Lua C stack (LUAI_MAXCSTACK 8000): write in chunks.
local CHUNK = 500
local function inChunks(cmd, key, first, count, width)
  local i = 0
  while i < count do
    local j = math.min(i + CHUNK, count)
    redis.call(cmd, key, unpack(ARGV, first + i * width, first + j * width - 1))
    i = j
  end
end

-- The heavy writes first, the stream entries last: an entry's id is the Redis time it
-- was added at, which delivery latency is measured from, and readers see it only once
-- the script is over.
local a = 9 + nservers
local nprizes = tonumber(ARGV[a])
local prizesAt = a + 1
a = a + 1 + 6 * nprizes
local nplayers = tonumber(ARGV[a])
inChunks('HSET', KEYS[7], a + 1, nplayers, 2)
a = a + 1 + 2 * nplayers
inChunks('SADD', KEYS[5], a + 1, tonumber(ARGV[a]), 1)
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', '(' .. wend)
redis.call('SET', KEYS[2], ARGV[5])
redis.call('SET', KEYS[1], wend)

local minid = string.format('%d', tonumber(redisTimeMs()) - tonumber(ARGV[6]))
local newPrizes = 0
a = prizesAt
for _ = 1, nprizes do
  local reason, json, si = ARGV[a], ARGV[a + 1], tonumber(ARGV[a + 2])
  if redis.call('HSETNX', KEYS[3], reason, json) == 1 then
    newPrizes = newPrizes + 1
    redis.call('XADD', KEYS[7 + si], 'MINID', '~', minid, '*',
      'kind', 'prize', 'hunt', hunt, 'reason', reason, 'player', ARGV[a + 3], 'item', ARGV[a + 4], 'count', ARGV[a + 5])
  end
  a = a + 6
end
for i = 1, nservers do
  redis.call('XADD', KEYS[7 + i], 'MINID', '~', minid, '*', 'kind', 'closed', 'hunt', hunt, 'start', wstart, 'end', wend)
end
return { 1, newPrizes }
