--[[
  Extends a shard lease, only while it is still ours under the token we hold.

  Input:
    KEYS[1] lease       STRING owner of the shard lease
    KEYS[2] leaseToken  STRING fencing token counter of the shard
    ARGV[1] owner  ARGV[2] our fencing token  ARGV[3] lease TTL in ms

  Output: 1 renewed; 0 lost (expired, taken over, or a newer token was issued)
]]
if redis.call('GET', KEYS[1]) ~= ARGV[1] or redis.call('GET', KEYS[2]) ~= ARGV[2] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
