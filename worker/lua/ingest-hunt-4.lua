--[[
  Adds one record's events of one hunt to the hunt's pending set, or to its late set when
  their window has closed: the second step of a record's ingest (worker/record-apply.ts),
  one call per hunt the record touches, each in the hunt's hash slot. Applying it twice
  changes nothing but the counts: members are the same (pending-events.ts), so ZADD and
  SADD are no-ops.

  Input (the hunt's hash tag):
    KEYS[1] closed   STRING end of the hunt's last closed window
    KEYS[2] pending  ZSET pending events, scored by event time
    KEYS[3] late     SET ids of events that arrived after their window closed
    KEYS[4] window   STRING window length in ms

    ARGV[1] window ms ('' when the record carries no rules for the hunt)
    ARGV[2] window ms the entries were grouped by ('' when not grouped)
    ARGV[3] m, then m x (score: event time, or the first one's for a chunk; member;
            its event ids comma-separated; its number of events; the last one's time)

  Output: { applied, stored, duplicateEvents, late }
    applied          1, or -1 when the entries were grouped by a window length other than
                     the one stored, or a chunk straddles the hunt's `closed` (nothing
                     changed: send them again one member per event)
    stored           events added to pending
    duplicateEvents  events already pending (ZADD no-op)
    late             events newly recorded as late (t < closed)
]]
local grouped = ARGV[2]
if grouped ~= '' then
  local stored = redis.call('GET', KEYS[4]) or ARGV[1]
  if stored ~= grouped then return { -1, 0, 0, 0 } end
end
local m = tonumber(ARGV[3])
local closed = redis.call('GET', KEYS[1])
closed = closed and tonumber(closed)
if closed then
  local a = 4
  for _ = 1, m do
    -- A chunk lies in one window and `closed` is a window end, unless windows were closed
    -- by the default length before the hunt's rules set its own: then refuse the chunk.
    if tonumber(ARGV[a]) < closed and tonumber(ARGV[a + 4]) >= closed then return { -1, 0, 0, 0 } end
    a = a + 5
  end
end

if ARGV[1] ~= '' then redis.call('SET', KEYS[4], ARGV[1], 'NX') end
local stored, dups, late = 0, 0, 0
local a = 4
for _ = 1, m do
  local t, n = tonumber(ARGV[a]), tonumber(ARGV[a + 3])
  -- No chunk straddles `closed` (checked above): it is late exactly when its first event is.
  if closed and t < closed then
    for id in string.gmatch(ARGV[a + 2], '[^,]+') do
      late = late + redis.call('SADD', KEYS[3], id)
    end
  else
    local added = redis.call('ZADD', KEYS[2], ARGV[a], ARGV[a + 1])
    stored = stored + added * n
    dups = dups + (1 - added) * n
  end
  a = a + 5
end
return { 1, stored, dups, late }
