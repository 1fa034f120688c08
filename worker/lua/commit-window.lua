--[[
  Commits one closed window of one hunt, in the hunt's hash slot only: the fold's new
  hunt state, each decided prize set once, one fan-out entry listing the prizes this call
  set, and the finds of the players this window changed as one value (the merge list).
  Two more steps follow, each resumable: putting the prizes on the servers' prize streams
  (fan-out-window-2.lua, one call per server, worker/window-fan-out.ts), so that on a
  Redis Cluster no script spans two slots; and spreading the merge list over the player
  buckets (merge-players-2.lua, worker/window-merge.ts). The fan-out entry and the merge
  list stay until their step is done, so a crash between steps neither loses nor repeats
  a prize or a find.

  A commit is refused (-3) while a merge list is still there: the next window's fold reads
  the players' earlier finds from the buckets, which lack that list's players until it is
  merged. The closer merges, then folds again.

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

  Input (7 KEYS, all with the hunt's hash tag):
    KEYS[1]  closed    STRING end (exclusive) of the last closed window
    KEYS[2]  state     STRING JSON hunt state, without the players
    KEYS[3]  prizes    HASH reason -> JSON prize, each field set once ever
    KEYS[4]  pending   ZSET pending events, scored by event time
    KEYS[5]  late      SET ids of late events
    KEYS[6]  merge     HASH {end: window end, finds: JSON player -> finds} of the last
                       committed window, until merged into the player buckets
    KEYS[7]  fanOut    ZSET window end -> JSON [start, end, then per prize set by the
                       commit: reason, server, player, item, count]

    ARGV[1] expected value of closed: the window start, or '' when closed must be missing
    ARGV[2] window start  ARGV[3] window end (the new closed)
    ARGV[4] state JSON (unique per call)
    ARGV[5] F: pending members with a score below the window end that the caller read
    then P, then P x (reason, prize JSON, server, player, item, count)
    then the finds of the players this window changed (hunt/hunt-store.ts findsJson), '' for none
    then G, then G event ids: late events found in pending (removed with the rest, marked late)

  Output: { status, newPrizes }
    status  1 committed; 2 this call had already been applied (a resend);
            0 stale: closed is not ARGV[1] (another worker closed the window first);
            -2 the pending events below the window end are not the F the caller read (retry);
            -3 the previous window's finds are not merged yet (merge, then fold again)
    newPrizes  prizes set by this call (a prize already set is not fanned out again)
]]
local closed = redis.call('GET', KEYS[1])
if (closed or '') ~= ARGV[1] then
  if closed == ARGV[3] and redis.call('GET', KEYS[2]) == ARGV[4] then
    -- Our own commit, applied before the connection dropped: count the prizes it set.
    local n, a = 0, 6
    for _ = 1, tonumber(ARGV[a]) do
      if redis.call('HGET', KEYS[3], ARGV[a + 1]) == ARGV[a + 2] then n = n + 1 end
      a = a + 6
    end
    return { 2, n }
  end
  return { 0, 0 }
end

if redis.call('EXISTS', KEYS[6]) == 1 then return { -3, 0 } end
local wstart, wend = ARGV[2], ARGV[3]
if redis.call('ZCOUNT', KEYS[4], '-inf', '(' .. wend) ~= tonumber(ARGV[5]) then return { -2, 0 } end

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

local a = 6
local nprizes = tonumber(ARGV[a])
local prizesAt = a + 1
a = a + 1 + 6 * nprizes
if ARGV[a] ~= '' then redis.call('HSET', KEYS[6], 'end', wend, 'finds', ARGV[a]) end
a = a + 1
inChunks('SADD', KEYS[5], a + 1, tonumber(ARGV[a]), 1)
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', '(' .. wend)
redis.call('SET', KEYS[2], ARGV[4])
redis.call('SET', KEYS[1], wend)

local out = { wstart, wend }
local newPrizes = 0
a = prizesAt
for _ = 1, nprizes do
  if redis.call('HSETNX', KEYS[3], ARGV[a], ARGV[a + 1]) == 1 then
    newPrizes = newPrizes + 1
    out[#out + 1] = ARGV[a]
    out[#out + 1] = ARGV[a + 2]
    out[#out + 1] = ARGV[a + 3]
    out[#out + 1] = ARGV[a + 4]
    out[#out + 1] = ARGV[a + 5]
  end
  a = a + 6
end
redis.call('ZADD', KEYS[7], wend, cjson.encode(out))
return { 1, newPrizes }
