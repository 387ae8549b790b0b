-- A breaker's state as the fleet left it: who opened it (empty when it is not open)
-- and for how many more milliseconds.
--
-- KEYS[1]  the state
local opener = redis.call('GET', KEYS[1])
if not opener then
    return {'', 0}
end
return {opener, redis.call('PTTL', KEYS[1])}
