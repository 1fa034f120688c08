--[[
  The second step of a window commit, for one server: appends the server's prizes of one
  committed window to its prize stream, then the window-closed entry, unless the stream
  already has them. Runs in the server's hash slot. Windows of a hunt are fanned out in
  order (worker/window-fan-out.ts), so the end of the last one a server got tells whether
  it has this one: a repeat after a crash, a resend or a second worker changes nothing.

  Input:
    KEYS[1] stream    STREAM the server's prizes and window-closed entries
    KEYS[2] fanned    HASH hunt -> end of the last window fanned out to this server
    ARGV[1] hunt  ARGV[2] window start  ARGV[3] window end
    ARGV[4] stream retention in ms (MINID trimming)
    ARGV[5] P, then P x (reason, player, item, count): the server's prizes of the window

  Output: 1 appended; 0 the stream already had this window (nothing changed)
]]
--- @include "includes/redis-time-ms"

local done = redis.call('HGET', KEYS[2], ARGV[1])
if done and tonumber(done) >= tonumber(ARGV[3]) then return 0 end
local minid = string.format('%d', tonumber(redisTimeMs()) - tonumber(ARGV[4]))
local a = 6
for _ = 1, tonumber(ARGV[5]) do
  redis.call('XADD', KEYS[1], 'MINID', '~', minid, '*',
    'kind', 'prize', 'hunt', ARGV[1], 'reason', ARGV[a], 'player', ARGV[a + 1], 'item', ARGV[a + 2], 'count', ARGV[a + 3])
  a = a + 4
end
redis.call('XADD', KEYS[1], 'MINID', '~', minid, '*', 'kind', 'closed', 'hunt', ARGV[1], 'start', ARGV[2], 'end', ARGV[3])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return 1
