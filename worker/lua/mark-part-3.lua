--[[
  Marks one part of one plugin batch as ingested, after its events are pending (the last
  step of a record's ingest, worker/record-apply.ts); a complete batch joins batchDone,
  then the (server, epoch) watermark advances over the contiguous prefix of complete
  batches. Marking a part twice changes nothing.

  Input (the server's hash tag):
    KEYS[1] batchParts  SET of part indexes received for (server, epoch, seq)
    KEYS[2] batchDone   HASH seq -> watermark of complete batches of (server, epoch)
    KEYS[3] watermark   HASH {next, wm, at} of (server, epoch); at: Redis time (ms) of
                        the last record ingested, for the silent-server timeout
    ARGV[1] seq  ARGV[2] part  ARGV[3] parts (np)  ARGV[4] batch watermark
    ARGV[5] TTL in ms of the batch part and batch done keys

  Output: { applied, next, wm }
    applied  1, or 0 when the part was marked before (nothing changed)
    next, wm the (server, epoch) watermark after this call ('' when none yet)
]]
--- @include "includes/redis-time-ms"

local seq, part, nparts = ARGV[1], ARGV[2], tonumber(ARGV[3])
local nxt = tonumber(redis.call('HGET', KEYS[3], 'next') or '1')
if tonumber(seq) < nxt or redis.call('HEXISTS', KEYS[2], seq) == 1 or redis.call('SISMEMBER', KEYS[1], part) == 1 then
  return { 0, nxt, redis.call('HGET', KEYS[3], 'wm') or '' }
end

redis.call('HSET', KEYS[3], 'at', redisTimeMs())
redis.call('SADD', KEYS[1], part)
if redis.call('SCARD', KEYS[1]) < nparts then
  -- A batch whose last part never comes (it cannot: the gateway acks a batch only when
  -- every part is in Kinesis) must not keep its key forever.
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
else
  redis.call('HSET', KEYS[2], seq, ARGV[4])
  redis.call('PEXPIRE', KEYS[2], ARGV[5])
  redis.call('DEL', KEYS[1])
  local wm = redis.call('HGET', KEYS[3], 'wm')
  local moved = false
  while true do
    local w = redis.call('HGET', KEYS[2], tostring(nxt))
    if not w then break end
    -- Keep the original string: tostring() of a large double is not round-trippable.
    if not wm or tonumber(w) > tonumber(wm) then wm = w end
    redis.call('HDEL', KEYS[2], tostring(nxt))
    nxt = nxt + 1
    moved = true
  end
  if moved then redis.call('HSET', KEYS[3], 'next', nxt, 'wm', wm) end
end
return { 1, nxt, redis.call('HGET', KEYS[3], 'wm') or '' }
