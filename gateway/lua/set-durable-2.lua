--[[
  Records that batch ARGV[1] of (server, epoch) is durable in Kinesis. The durable seq
  only ever rises, so applying the same call twice (a retry after a lost reply) or two
  calls out of order changes nothing. A stale epoch is fenced here too: when a newer
  epoch of the server said hello (possibly on another gateway), nothing is recorded and
  the caller closes the stale connection instead of acking.

  Input:
    KEYS[1] durable   STRING highest durable batch seq of (ARGV[2], ARGV[3])
    KEYS[2] epoch     STRING newest epoch of the server that said hello
    ARGV[1] seq (positive integer)
    ARGV[2] server id (unused: kept so gateways of two versions can run side by side)
    ARGV[3] epoch (decimal integer)
    ARGV[4] time to live of the durable key in ms (refreshed on every call)

  Output:
    the durable seq after the call (>= ARGV[1]), or
    -1 when the server's newest epoch > ARGV[3] (fenced; nothing changed)
]]
local newest = tonumber(redis.call('GET', KEYS[2]) or '-1')
if newest > tonumber(ARGV[3]) then
  return -1
end
local seq = tonumber(ARGV[1])
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if seq > cur then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[4])
  return seq
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return cur
