--[[
  Commits one closed window of one hunt, in the hunt's hash slot only: the fold's new
  hunt state, each decided prize set once, one fan-out entry listing the prizes this call
  set, and the finds the window made as one value (the merge list, hunt/find-list.ts).
  Two more steps follow, each resumable: putting the prizes on the servers' prize streams
  (fan-out-window-2.lua, one call per server, worker/window-fan-out.ts), so that on a
  Redis Cluster no script spans two slots; and spreading the merge list over the player
  buckets (merge-players-3.lua, worker/window-merge.ts). The fan-out entry and the merge
  list stay until their step is done, so a crash between steps neither loses nor repeats
  a prize or a find.

  The merge list arrives ahead of this call, as a plain SET of a staging key sent in the
  same round trip (worker/scripts.ts): a value of megabytes costs Redis several times
  more as a script argument than as a SET's (measured: 5 MB, 100 ms against 30), and the
  script blocks Redis meanwhile. A commit renames it into place; any other outcome deletes
  it (and it expires by itself if this call never comes).

  A commit is refused (-3) while a merge list is still there: the next window's fold reads
  the players' earlier finds from the buckets, which lack that list's finds until it is
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

  Input (9 KEYS, all with the hunt's hash tag):
    KEYS[1]  closed     STRING end (exclusive) of the last closed window
    KEYS[2]  state      STRING JSON hunt state, without the players
    KEYS[3]  prizes     HASH reason -> JSON prize, each field set once ever
    KEYS[4]  pending    ZSET pending events, scored by event time
    KEYS[5]  late       SET ids of late events
    KEYS[6]  merge      HASH {end: end of the committed window whose merge list waits,
                        at: Redis time of the commit, ms}
    KEYS[7]  fanOut     ZSET window end -> JSON [start, end, then per prize set by the
                        commit: reason, server, player, item, count]
    KEYS[8]  mergeList  STRING the merge list of that window
    KEYS[9]  staged     STRING this call's merge list, sent ahead (unique to the call)

    ARGV[1] expected value of closed: the window start, or '' when closed must be missing
    ARGV[2] window start  ARGV[3] window end (the new closed)
    ARGV[4] state JSON (unique per call)
    ARGV[5] F: pending members with a score below the window end that the caller read
    then P, then P x (reason, prize JSON, server, player, item, count)
    then '1' when a merge list was staged, '0' when the window made no find
    then G, then G event ids: late events found in pending (removed with the rest, marked late)

  Output: { status, newPrizes }
    status  1 committed; 2 this call had already been applied (a resend);
            0 stale: closed is not ARGV[1] (another worker closed the window first);
            -2 the pending events below the window end are not the F the caller read (retry);
            -3 the previous window's finds are not merged yet (merge, then fold again);
            -4 the staged merge list is not there (its SET failed or came after: retry)
    newPrizes  prizes set by this call (a prize already set is not fanned out again)
]]
--- @include "includes/redis-time-ms"

local nprizes = tonumber(ARGV[6])
local stagedAt = 7 + 6 * nprizes
local staged = ARGV[stagedAt] == '1'
local function refuse(code, n)
  if staged then redis.call('DEL', KEYS[9]) end
  return { code, n or 0 }
end

local closed = redis.call('GET', KEYS[1])
if (closed or '') ~= ARGV[1] then
  if closed == ARGV[3] and redis.call('GET', KEYS[2]) == ARGV[4] then
    -- Our own commit, applied before the connection dropped: count the prizes it set.
    local n, a = 0, 6
    for _ = 1, nprizes do
      if redis.call('HGET', KEYS[3], ARGV[a + 1]) == ARGV[a + 2] then n = n + 1 end
      a = a + 6
    end
    return refuse(2, n)
  end
  return refuse(0)
end

if redis.call('EXISTS', KEYS[6]) == 1 then return refuse(-3) end
if staged and redis.call('EXISTS', KEYS[9]) == 0 then return { -4, 0 } end
local wstart, wend = ARGV[2], ARGV[3]
if redis.call('ZCOUNT', KEYS[4], '-inf', '(' .. wend) ~= tonumber(ARGV[5]) then return refuse(-2) end

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

if staged then
  redis.call('RENAME', KEYS[9], KEYS[8])
  redis.call('PERSIST', KEYS[8])
  redis.call('HSET', KEYS[6], 'end', wend, 'at', redisTimeMs())
end
local a = stagedAt + 1
inChunks('SADD', KEYS[5], a + 1, tonumber(ARGV[a]), 1)
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', '(' .. wend)
redis.call('SET', KEYS[2], ARGV[4])
redis.call('SET', KEYS[1], wend)

local out = { wstart, wend }
local newPrizes = 0
a = 7
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
