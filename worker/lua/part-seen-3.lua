--[[
  Whether one part of one plugin batch (one Kinesis record) has been ingested already.
  Read only; the first of the three steps of a record's ingest (worker/record-apply.ts).

  Input (the server's hash tag):
    KEYS[1] batchParts  SET of part indexes received for (server, epoch, seq)
    KEYS[2] batchDone   HASH seq -> watermark of complete batches of (server, epoch)
    KEYS[3] watermark   HASH {next, wm, at} of (server, epoch)
    ARGV[1] seq  ARGV[2] part

  Output: { seen, next, wm }
    seen  1 when the part (or its whole batch) was ingested before, else 0
    next, wm  the (server, epoch) watermark ('' when none yet)
]]
local nxt = tonumber(redis.call('HGET', KEYS[3], 'next') or '1')
local seen = 0
if tonumber(ARGV[1]) < nxt or redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 or redis.call('SISMEMBER', KEYS[1], ARGV[2]) == 1 then
  seen = 1
end
return { seen, nxt, redis.call('HGET', KEYS[3], 'wm') or '' }
