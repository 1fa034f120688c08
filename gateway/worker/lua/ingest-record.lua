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

    ARGV[1] seq  ARGV[2] part  ARGV[3] parts (np)  ARGV[4] batch watermark  ARGV[5] H
    then for each hunt, in KEYS order:
      hunt id, window ms ('' when the record carries no rules for it), m,
      then m triples: event time, member (canonical JSON of the event), event id

  Output: { applied, stored, duplicateEvents, late, next, wm }
    applied          1, or 0 when this part was already ingested (nothing changed)
    stored           events added to pending
    duplicateEvents  events already pending (ZADD no-op)
    late             events newly recorded as late (t < closed)
    next, wm         the (server, epoch) watermark after this record ('' when none yet)
]]
local seq = ARGV[1]
local part = ARGV[2]
local nparts = tonumber(ARGV[3])

local nxt = tonumber(redis.call('HGET', KEYS[4], 'next') or '1')
if tonumber(seq) < nxt
  or redis.call('HEXISTS', KEYS[3], seq) == 1
  or redis.call('SISMEMBER', KEYS[2], part) == 1 then
  return { 0, 0, 0, 0, nxt, redis.call('HGET', KEYS[4], 'wm') or '' }
end

local stored, dups, late = 0, 0, 0
local a = 6
for h = 0, tonumber(ARGV[5]) - 1 do
  local base = 5 + 4 * h
  local hunt, win, m = ARGV[a], ARGV[a + 1], tonumber(ARGV[a + 2])
  a = a + 3
  redis.call('SADD', KEYS[1], hunt)
  if win ~= '' then redis.call('SET', KEYS[base + 3], win, 'NX') end
  local closed = redis.call('GET', KEYS[base])
  closed = closed and tonumber(closed)
  for _ = 1, m do
    local t = tonumber(ARGV[a])
    if closed and t < closed then
      late = late + redis.call('SADD', KEYS[base + 2], ARGV[a + 2])
    else
      local added = redis.call('ZADD', KEYS[base + 1], ARGV[a], ARGV[a + 1])
      stored = stored + added
      dups = dups + 1 - added
    end
    a = a + 3
  end
end

-- Mark the part; a complete batch joins batchDone, then the contiguous prefix advances.
local now = redis.call('TIME')
redis.call('HSET', KEYS[4], 'at', string.format('%d', tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)))
redis.call('SADD', KEYS[2], part)
if redis.call('SCARD', KEYS[2]) >= nparts then
  redis.call('HSET', KEYS[3], seq, ARGV[4])
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
