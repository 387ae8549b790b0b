-- A store's saved response for one key and its age on the server's clock (ms); nil
-- when there is none.
--
-- KEYS[1]  the store's responses: a hash of key -> "<saved at>:<value>"
-- ARGV[1]  the key
local stored = redis.call('HGET', KEYS[1], ARGV[1])
if not stored then
    return false
end
local colon = string.find(stored, ':', 1, true)
if not colon then
    return false
end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local saved = tonumber(string.sub(stored, 1, colon - 1)) or now
return {math.max(0, now - saved), string.sub(stored, colon + 1)}
