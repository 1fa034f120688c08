--[[
  Commits one closed window of one hunt: the fold's new state, each decided prize set
  once and appended to its server's prize stream, then a window-closed entry on every
  server's stream. Compare-and-set on `closed`: only the first of several workers that
  computed the same window writes; the others get 0, reload and go on. This per-hunt
  check is the commit's fencing token: it needs no shard lease and no global lock.

  Input (the number of KEYS varies: 6 + S):
    KEYS[1]      closed    STRING end (exclusive) of the last closed window
    KEYS[2]      state     STRING JSON hunt state
    KEYS[3]      prizes    HASH reason -> JSON prize, each field set once ever
    KEYS[4]      pending   ZSET pending events
    KEYS[5]      late      SET ids of late events
    KEYS[6]      servers   HASH server -> epoch (the registry of active servers)
    KEYS[6 + i]  the prize stream of server i (i = 1 .. S)

    ARGV[1] expected value of closed: the window start, or '' when closed must be missing
    ARGV[2] hunt  ARGV[3] window start  ARGV[4] window end (the new closed)
    ARGV[5] state JSON  ARGV[6] stream retention in ms (MINID trimming)
    ARGV[7] S, then S server ids (server i's stream is KEYS[6 + i])
    then P, then P x (reason, prize JSON, server index i, player, item, count)
    then F, then F pending members folded in this window (removed from pending)
    then G, then G x (member, event id): late events found in pending (removed, marked late)

  Output: { status, newPrizes }
    status  1 committed; 0 stale: closed is not ARGV[1] (already closed by another worker);
            -1 a server in the registry has no stream key here (registry changed: retry)
    newPrizes  prizes set by this call (a prize already set is not appended again)
]]
local closed = redis.call('GET', KEYS[1])
if (closed or '') ~= ARGV[1] then return { 0, 0 } end

local hunt, wstart, wend = ARGV[2], ARGV[3], ARGV[4]
local nservers = tonumber(ARGV[7])
local streamOf = {}
for i = 1, nservers do streamOf[ARGV[7 + i]] = KEYS[6 + i] end
local registry = redis.call('HKEYS', KEYS[6])
for _, s in ipairs(registry) do
  if not streamOf[s] then return { -1, 0 } end
end

local now = redis.call('TIME')
local minid = string.format('%d', tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) - tonumber(ARGV[6]))

redis.call('SET', KEYS[2], ARGV[5])

local a = 8 + nservers
local newPrizes = 0
for _ = 1, tonumber(ARGV[a]) do
  local reason, json, si = ARGV[a + 1], ARGV[a + 2], tonumber(ARGV[a + 3])
  if redis.call('HSETNX', KEYS[3], reason, json) == 1 then
    newPrizes = newPrizes + 1
    redis.call('XADD', KEYS[6 + si], 'MINID', '~', minid, '*',
      'kind', 'prize', 'hunt', hunt, 'reason', reason, 'player', ARGV[a + 4], 'item', ARGV[a + 5], 'count', ARGV[a + 6])
  end
  a = a + 6
end
a = a + 1

for i = 1, nservers do
  redis.call('XADD', KEYS[6 + i], 'MINID', '~', minid, '*', 'kind', 'closed', 'hunt', hunt, 'start', wstart, 'end', wend)
end

-- unpack() is bounded by the Lua C stack (LUAI_MAXCSTACK 8000): remove in chunks.
local nfold = tonumber(ARGV[a])
local i = 1
while i <= nfold do
  local j = math.min(i + 499, nfold)
  redis.call('ZREM', KEYS[4], unpack(ARGV, a + i, a + j))
  i = j + 1
end
a = a + nfold + 1

for _ = 1, tonumber(ARGV[a]) do
  redis.call('ZREM', KEYS[4], ARGV[a + 1])
  redis.call('SADD', KEYS[5], ARGV[a + 2])
  a = a + 2
end

redis.call('SET', KEYS[1], wend)
return { 1, newPrizes }
