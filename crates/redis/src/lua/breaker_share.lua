-- A breaker's own transition, shared with the fleet: its probe slots given back, the
-- state set (open, expiring when the open time ends) or cleared (closed), and the
-- change published for the instances that follow the channel.
--
-- KEYS[1]  the state: present while the breaker is open, holding the instance that
--          opened it, expiring with the open time
-- KEYS[2]  the probe slots: a sorted set of "<instance>:<n>" by lease expiry
-- ARGV[1]  "open" or "closed"
-- ARGV[2]  how long the breaker stays open, in milliseconds (for "open")
-- ARGV[3]  this instance
-- ARGV[4]  the channel to publish on
-- ARGV[5]  probe slots this instance may hold ("<instance>:1" to "<instance>:<n>")
for n = 1, tonumber(ARGV[5]) do
    redis.call('ZREM', KEYS[2], ARGV[3] .. ':' .. n)
end
if ARGV[1] == 'open' then
    redis.call('SET', KEYS[1], ARGV[3], 'PX', math.max(1, tonumber(ARGV[2])))
else
    redis.call('DEL', KEYS[1])
end
redis.call('PUBLISH', ARGV[4], ARGV[1] .. ' ' .. ARGV[2] .. ' ' .. ARGV[3])
return 1
