--[[
  Takes a shard lease and issues a new fencing token. A lease held by someone else is
  refused; an expired lease is gone from Redis (PX), so it is simply taken over.

  Input:
    KEYS[1] lease       STRING owner of the shard lease
    KEYS[2] leaseToken  STRING fencing token counter of the shard (only grows)
    ARGV[1] owner (worker id)  ARGV[2] lease TTL in ms

  Output: the new fencing token (> 0), or 0 when another worker holds the lease
]]
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return redis.call('INCR', KEYS[2])
