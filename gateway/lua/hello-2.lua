--[[
  Registers a server's hello and fences out stale plugin instances, the way Kafka
  fences producer epochs: an instance whose epoch is older than the newest epoch
  that said hello for the same server is refused.

  Input:
    KEYS[1] servers   HASH server id -> newest epoch that said hello
    KEYS[2] durable   STRING highest durable batch seq of (ARGV[1], ARGV[2])
    ARGV[1] server id
    ARGV[2] epoch (decimal integer, < 2^53)

  Output:
    {1, durable}  accepted: servers[server] = max(servers[server], epoch);
                  durable = highest durable seq of (server, epoch), 0 if none
    {0, newest}   refused: the newest epoch recorded for the server is greater than
                  ARGV[2]; nothing was changed
]]
local epoch = tonumber(ARGV[2])
local newest = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '-1')
if newest > epoch then
  return {0, newest}
end
if newest < epoch then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
end
return {1, tonumber(redis.call('GET', KEYS[2]) or '0')}
