-- Record a finished avatar, make it current unless a later one already is,
-- acknowledge the stream entry, schedule the deletion of whichever avatar is
-- no longer current, and announce the job, atomically.
redis.call('HSET', K.job, F.status, S.completed, F.key, A.object_key, F.updated, A.now_ms)
redis.call('HDEL', K.job, F.error_code, F.error_message)
if tonumber(A.record_ttl_secs) > 0 then
  redis.call('EXPIRE', K.job, A.record_ttl_secs)
end
local promoted = 0
local stamp = tonumber(A.stamp)
local current = tonumber(redis.call('HGET', K.user, U.stamp) or '0')
if stamp > current then
  local replaced = redis.call('HGET', K.user, U.key)
  if replaced then
    redis.call('ZADD', K.garbage, A.delete_after_ms, replaced)
  end
  redis.call('HSET', K.user, U.stamp, A.stamp, U.key, A.object_key)
  promoted = 1
elseif stamp < current then
  -- A later update is already current: this avatar never will be.
  redis.call('ZADD', K.garbage, A.delete_after_ms, A.object_key)
end
redis.call('XACK', K.stream, A.group, A.entry)
redis.call('XDEL', K.stream, A.entry)
release_slot(K.running, K.parked, K.parked_users, A.user_id, A.job_id, A.cap, A.now_ms,
  K.stream, A.record_prefix)
redis.call('PUBLISH', A.channel, A.job_id)
return promoted
