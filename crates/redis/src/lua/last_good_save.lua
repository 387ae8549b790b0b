-- Saves a store's good response for one key, stamped with the server's clock (ms).
--
-- KEYS[1]  the store's responses: a hash of key -> "<saved at>:<value>"
-- ARGV[1]  the key
-- ARGV[2]  the value (bytes)
-- ARGV[3]  how long the store's responses are kept after its last save, in ms
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('HSET', KEYS[1], ARGV[1], string.format('%d', now) .. ':' .. ARGV[2])
redis.call('PEXPIRE', KEYS[1], math.max(1, tonumber(ARGV[3])))
return 1
