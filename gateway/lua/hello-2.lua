--[[
  Records a server's hello and fences out stale plugin instances, the way Kafka
  fences producer epochs: an instance whose epoch is older than the newest epoch
  that said hello for the same server is refused. Both keys carry the server's hash
  tag; the registry of active servers (one key for all) is updated after this, by
  register-server-1.lua.

  Input:
    KEYS[1] epoch     STRING newest epoch of the server that said hello
    KEYS[2] durable   STRING highest durable batch seq of (server, ARGV[1])
    ARGV[1] epoch (decimal integer, < 2^53)

  Output:
    {1, durable}  accepted: epoch = max(epoch, ARGV[1]);
                  durable = highest durable seq of (server, epoch), 0 if none
    {0, newest}   refused: the newest epoch recorded for the server is greater than
                  ARGV[1]; nothing was changed
]]
local epoch = tonumber(ARGV[1])
local newest = tonumber(redis.call('GET', KEYS[1]) or '-1')
if newest > epoch then
  return {0, newest}
end
if newest < epoch then
  redis.call('SET', KEYS[1], ARGV[1])
end
return {1, tonumber(redis.call('GET', KEYS[2]) or '0')}
