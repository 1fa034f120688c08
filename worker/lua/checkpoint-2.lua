--[[
  Writes a shard checkpoint, fenced: a worker whose lease was taken over (its token is
  no longer the shard's current token) cannot move the checkpoint. The checkpoint only
  moves forward.

  Input:
    KEYS[1] leaseToken  STRING fencing token counter of the shard
    KEYS[2] checkpoint  HASH {token, seq, end}
    ARGV[1] our fencing token
    ARGV[2] sequence number of the last record whose ingest succeeded ('' for none)
    ARGV[3] '1' when the shard is closed and has been read to its end, else '0'

  Output: 1 written (or already at or past seq); 0 refused: the token is stale
]]
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local seq = ARGV[2]
if seq ~= '' then
  local cur = redis.call('HGET', KEYS[2], 'seq')
  -- Kinesis sequence numbers are decimal strings of up to 128 digits: compare as such.
  if not cur or #seq > #cur or (#seq == #cur and seq > cur) then
    redis.call('HSET', KEYS[2], 'seq', seq, 'token', ARGV[1])
  end
end
if ARGV[3] == '1' then redis.call('HSET', KEYS[2], 'end', '1', 'token', ARGV[1]) end
return 1
