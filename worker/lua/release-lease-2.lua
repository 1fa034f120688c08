--[[
  Gives a shard lease back (balancing, shutdown), only if it is still ours.

  Input:
    KEYS[1] lease       STRING owner of the shard lease
    KEYS[2] leaseToken  STRING fencing token counter of the shard
    ARGV[1] owner  ARGV[2] our fencing token

  Output: 1 released; 0 it was not ours any more
]]
if redis.call('GET', KEYS[1]) ~= ARGV[1] or redis.call('GET', KEYS[2]) ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[1])
return 1
