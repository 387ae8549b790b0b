-- GCRA for a limiter shared by a fleet, decided atomically on the server's clock.
--
-- KEYS[1]  the state: the theoretical arrival time (TAT) of the next turn, in
--          microseconds of the server's clock, as an integer string
-- ARGV[1]  interval: microseconds between two turns at the steady rate (>= 1)
-- ARGV[2]  burst: turns that may be taken at once after a quiet spell (>= 1)
-- ARGV[3]  max_wait: microseconds a call may wait for its turn (0: refuse instead)
-- ARGV[4]  want: turns wanted now (>= 1); only turns available now are leased
--
-- Returns {verdict, granted, wait, remaining, reset}: verdict 0 = admitted now with
-- `granted` turns, 1 = one turn reserved after `wait` microseconds, 2 = refused, a turn
-- would come after `wait` microseconds; `remaining` turns could still be taken now;
-- the state is fully replenished `reset` microseconds from now.
--
-- Every number stays an integer below 2^53, exact in Lua's doubles, and is passed to
-- Redis as a number, which Redis writes with every digit (tostring would round it).
-- `x - x % 1` is floor(x) for the non-negative values here, without a call. The key
-- expires just after the state is replenished, so idle limiters leave nothing behind.
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
local want = tonumber(ARGV[4])

local time = redis.call('TIME')
local now = time[1] * 1000000 + time[2]
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then
    tat = now
end
local allowed = now + burst * interval

local free = (allowed - tat) / interval
if free >= 1 then
    local granted = want
    if free < want then
        granted = free - free % 1
    end
    tat = tat + granted * interval
    local ttl = (tat - now) / 1000
    redis.call('SET', KEYS[1], tat, 'PX', ttl - ttl % 1 + 1)
    local remaining = (allowed - tat) / interval
    return {0, granted, 0, remaining - remaining % 1, tat - now}
end

local wait = tat + interval - allowed
if wait > max_wait then
    return {2, 0, wait, 0, tat - now}
end
tat = tat + interval
local ttl = (tat - now) / 1000
redis.call('SET', KEYS[1], tat, 'PX', ttl - ttl % 1 + 1)
return {1, 1, wait, 0, tat - now}
