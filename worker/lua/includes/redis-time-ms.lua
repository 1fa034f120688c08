--[[
  redisTimeMs(): the Redis server's clock in whole ms, as a decimal string (a number
  this large would print in exponent form). The TS side reads TIME the same way:
  backend/redis/time.ts.
]]
local function redisTimeMs()
  local now = redis.call('TIME')
  return string.format('%d', tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000))
end
