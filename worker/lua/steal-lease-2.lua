--[[
  Takes a live shard lease over from the worker that holds the most (balancing: at
  most one lease at a time from the busiest worker, so leases move gradually). Only succeeds while the lease is
  still held by the worker the caller chose, so two thieves cannot take the same lease
  and a lease that changed hands meanwhile is left alone. A new fencing token is issued:
  the old holder's next renewal or checkpoint is refused, and it stops reading the shard.

  Input:
    KEYS[1] lease       STRING owner of the shard lease
    KEYS[2] leaseToken  STRING fencing token counter of the shard (only grows)
    ARGV[1] owner to take from  ARGV[2] new owner (the caller)  ARGV[3] lease TTL in ms

  Output: the new fencing token (> 0), or 0 when the lease is not held by ARGV[1] any more.
  A resend of a steal that was applied (its reply lost with the connection) finds the lease
  already the caller's and answers the token it was given.
]]
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[2] then return tonumber(redis.call('GET', KEYS[2])) end
if holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return redis.call('INCR', KEYS[2])
