--[[
  Puts a server's epoch in the registry of active servers, which the worker's frontier
  reads. The epoch only rises, so a late call for an older epoch changes nothing.

  Input:
    KEYS[1] servers   HASH server id -> newest epoch that said hello
    ARGV[1] server id
    ARGV[2] epoch (decimal integer, < 2^53)

  Output: 1 when the registry changed, else 0
]]
local newest = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '-1')
if newest >= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
