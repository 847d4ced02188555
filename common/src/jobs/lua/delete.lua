-- Remove the user's avatar. The delete takes a stamp as an update does, and
-- the current avatar's stamp becomes it: a job accepted before (a smaller
-- stamp) can never be made current afterwards, and one accepted after can.
-- Every stored avatar of the user (the current one, and those kept for
-- their retention, K.retained) is due for deletion now; the user's staged
-- uploads are listed for the workers to remove (K.deletions); the workers
-- are woken.
local stamp = next_stamp(K.user)
local current = redis.call('HGET', K.user, U.key)
redis.call('HSET', K.user, U.stamp, stamp, U.deleted, stamp)
redis.call('HDEL', K.user, U.key, U.sides, U.placeholder)
local doomed = redis.call('ZRANGE', K.retained, 0, -1)
if current then
  doomed[#doomed + 1] = current
end
-- ZADD in slices, within Lua's limit on unpacked arguments.
for first = 1, #doomed, 500 do
  local scored = {}
  for i = first, math.min(first + 499, #doomed) do
    scored[#scored + 1] = '0'
    scored[#scored + 1] = doomed[i]
  end
  redis.call('ZADD', K.garbage, unpack(scored))
end
redis.call('DEL', K.retained)
redis.call('ZADD', K.deletions, A.now_ms, A.user_id .. '\n' .. stamp)
if current then
  hook_event(nil, ET.avatar_deleted, {userId = A.user_id})
end
redis.call('PUBLISH', A.wake_channel, A.user_id)
return {current and 'deleted' or 'none'}
