-- Probe slots for a half-open breaker, counted for the whole fleet: at most `limit`
-- slots held at once, each leased until it expires, so an instance that dies holding
-- one loses it. Slots this instance held before are given back first.
--
-- KEYS[1]  the probe slots: a sorted set of "<instance>:<n>" by lease expiry (ms of
--          the server's clock)
-- ARGV[1]  this instance
-- ARGV[2]  slots wanted
-- ARGV[3]  the fleet's limit (the breaker's half_open_calls)
-- ARGV[4]  the lease, in milliseconds
--
-- Returns the slots granted.
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local wanted, limit, lease = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
for n = 1, limit do
    redis.call('ZREM', KEYS[1], ARGV[1] .. ':' .. n)
end
local held = redis.call('ZCARD', KEYS[1])
local granted = 0
while granted < wanted and held < limit do
    granted = granted + 1
    held = held + 1
    redis.call('ZADD', KEYS[1], now + lease, ARGV[1] .. ':' .. granted)
end
if held > 0 then
    redis.call('PEXPIRE', KEYS[1], lease)
end
return granted
