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
-- Every number stays an integer below 2^53, exact in Lua's doubles; the state is
-- written with %d, never tostring, which would round it. The key expires when the
-- state is replenished, so idle limiters leave nothing behind.
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
local want = tonumber(ARGV[4])

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then
    tat = now
end
local allowed = now + burst * interval

local verdict, granted, wait
local free = math.floor((allowed - tat) / interval)
if free >= 1 then
    verdict, granted, wait = 0, math.min(want, free), 0
    tat = tat + granted * interval
else
    wait = tat + interval - allowed
    if wait > max_wait then
        return {2, 0, wait, 0, tat - now}
    end
    verdict, granted = 1, 1
    tat = tat + interval
end

local ttl = math.max(1, math.ceil((tat - now) / 1000))
redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', ttl)
local remaining = math.max(0, math.floor((allowed - tat) / interval))
return {verdict, granted, wait, remaining, tat - now}
