--[[
  Ingests one Kinesis record (one part of one plugin batch) atomically. Applying it
  twice changes nothing: a part already seen is reported as a duplicate and skipped.

  Input (the number of KEYS varies: 4 + 4 per hunt the record touches):
    KEYS[1]        hunts        SET of hunt ids
    KEYS[2]        batchParts   SET of part indexes received for (server, epoch, seq)
    KEYS[3]        batchDone    HASH seq -> watermark of complete batches of (server, epoch)
    KEYS[4]        watermark    HASH {next, wm, at} of (server, epoch); at: Redis time (ms) of
                                the last record ingested, for the silent-server timeout
    for hunt h = 0 .. H-1:
    KEYS[5 + 4h]   closed       STRING end of the hunt's last closed window
    KEYS[6 + 4h]   pending      ZSET pending events, scored by event time
    KEYS[7 + 4h]   late         SET ids of events that arrived after their window closed
    KEYS[8 + 4h]   window       STRING window length in ms

    ARGV[1] seq  ARGV[2] part  ARGV[3] parts (np)  ARGV[4] batch watermark
    ARGV[5] TTL in ms of the batch part and batch done keys  ARGV[6] H
    then for each hunt, in KEYS order:
      hunt id, window ms ('' when the record carries no rules for it),
      window ms the entries were grouped by ('' when not grouped), m,
      then m x (score: event time, or the first one's for a chunk; member (pending-events.ts);
      its event ids comma-separated; its number of events; the last one's time)

  Output: { applied, stored, duplicateEvents, late, next, wm }
    applied          1, or 0 when this part was already ingested (nothing changed), or -1
                     when the entries were grouped by a window length other than the one
                     stored, or a chunk straddles the hunt's `closed` (nothing changed:
                     send them again one member per event)
    stored           events added to pending
    duplicateEvents  events already pending (ZADD no-op)
    late             events newly recorded as late (t < closed)
    next, wm         the (server, epoch) watermark after this record ('' when none yet)
]]
--- @include "includes/redis-time-ms"

local seq = ARGV[1]
local part = ARGV[2]
local nparts = tonumber(ARGV[3])

local nxt = tonumber(redis.call('HGET', KEYS[4], 'next') or '1')
if tonumber(seq) < nxt
  or redis.call('HEXISTS', KEYS[3], seq) == 1
  or redis.call('SISMEMBER', KEYS[2], part) == 1 then
  return { 0, 0, 0, 0, nxt, redis.call('HGET', KEYS[4], 'wm') or '' }
end

-- Check every hunt's grouping before writing anything, so a refused record changes nothing.
local a = 7
for h = 0, tonumber(ARGV[6]) - 1 do
  local grouped = ARGV[a + 2]
  if grouped ~= '' then
    local stored = redis.call('GET', KEYS[8 + 4 * h]) or ARGV[a + 1]
    if stored ~= grouped then return { -1, 0, 0, 0, nxt, redis.call('HGET', KEYS[4], 'wm') or '' } end
  end
  local m = tonumber(ARGV[a + 3])
  local closed = redis.call('GET', KEYS[5 + 4 * h])
  closed = closed and tonumber(closed)
  a = a + 4
  for _ = 1, m do
    -- A chunk lies in one window and `closed` is a window end, unless windows were closed
    -- by the default length before the hunt's rules set its own: then refuse the chunk.
    if closed and tonumber(ARGV[a]) < closed and tonumber(ARGV[a + 4]) >= closed then
      return { -1, 0, 0, 0, nxt, redis.call('HGET', KEYS[4], 'wm') or '' }
    end
    a = a + 5
  end
end

local stored, dups, late = 0, 0, 0
a = 7
for h = 0, tonumber(ARGV[6]) - 1 do
  local base = 5 + 4 * h
  local hunt, win, m = ARGV[a], ARGV[a + 1], tonumber(ARGV[a + 3])
  a = a + 4
  redis.call('SADD', KEYS[1], hunt)
  if win ~= '' then redis.call('SET', KEYS[base + 3], win, 'NX') end
  local closed = redis.call('GET', KEYS[base])
  closed = closed and tonumber(closed)
  for _ = 1, m do
    local t, n = tonumber(ARGV[a]), tonumber(ARGV[a + 3])
    -- No chunk straddles `closed` (checked above): it is late exactly when its first event is.
    if closed and t < closed then
      for id in string.gmatch(ARGV[a + 2], '[^,]+') do
        late = late + redis.call('SADD', KEYS[base + 2], id)
      end
    else
      local added = redis.call('ZADD', KEYS[base + 1], ARGV[a], ARGV[a + 1])
      stored = stored + added * n
      dups = dups + (1 - added) * n
    end
    a = a + 5
  end
end

-- Mark the part; a complete batch joins batchDone, then the contiguous prefix advances.
redis.call('HSET', KEYS[4], 'at', redisTimeMs())
redis.call('SADD', KEYS[2], part)
if redis.call('SCARD', KEYS[2]) < nparts then
  -- A batch whose last part never comes (it cannot: the gateway acks a batch only when
  -- every part is in Kinesis) must not keep its key forever.
  redis.call('PEXPIRE', KEYS[2], ARGV[5])
else
  redis.call('HSET', KEYS[3], seq, ARGV[4])
  redis.call('PEXPIRE', KEYS[3], ARGV[5])
  redis.call('DEL', KEYS[2])
  local wm = redis.call('HGET', KEYS[4], 'wm')
  local moved = false
  while true do
    local w = redis.call('HGET', KEYS[3], tostring(nxt))
    if not w then break end
    -- Keep the original string: tostring() of a large double is not round-trippable.
    if not wm or tonumber(w) > tonumber(wm) then wm = w end
    redis.call('HDEL', KEYS[3], tostring(nxt))
    nxt = nxt + 1
    moved = true
  end
  if moved then redis.call('HSET', KEYS[4], 'next', nxt, 'wm', wm) end
end
return { 1, stored, dups, late, nxt, redis.call('HGET', KEYS[4], 'wm') or '' }
