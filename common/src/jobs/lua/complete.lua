-- Record a finished avatar, make it current unless a later one already is,
-- acknowledge the stream entry, schedule the deletion of whichever avatar is
-- no longer current, and announce the job, atomically. An import item that
-- may only fill a missing avatar is skipped instead when its user has one;
-- the first item of a URL lets the items waiting for it copy its avatar.
-- Recorded once: a second run (a retried call whose first answer was
-- lost, or a worker that finished a job another had taken over) only
-- acknowledges the entry.
if redis.call('HGET', K.job, F.status) ~= S.processing then
  redis.call('XACK', K.stream, A.group, A.entry)
  redis.call('XDEL', K.stream, A.entry)
  return 0
end
local imp, _, _, url = import_item(K.job, A.import_prefix)
local skipped = imp and redis.call('HGET', imp, I.mode) == 'missing'
  and redis.call('HEXISTS', K.user, U.key) == 1
local promoted = 0
if skipped then
  redis.call('HSET', K.job, F.status, S.skipped, F.updated, A.now_ms)
  redis.call('ZADD', K.garbage, A.delete_after_ms, A.object_key)
else
  redis.call('HSET', K.job, F.status, S.completed, F.key, A.object_key, F.updated, A.now_ms)
  redis.call('HDEL', K.job, F.error_code, F.error_message)
  local stamp = tonumber(A.stamp)
  local current = tonumber(redis.call('HGET', K.user, U.stamp) or '0')
  if stamp > current then
    local replaced = redis.call('HGET', K.user, U.key)
    if replaced then
      redis.call('ZADD', K.garbage, A.delete_after_ms, replaced)
    end
    redis.call('HSET', K.user, U.stamp, A.stamp, U.key, A.object_key)
    promoted = 1
    hook_event(A.hook_prefix, A.hook_url, redis.call('HGET', K.job, F.callback), ET.avatar_updated,
      {userId = A.user_id, jobId = A.job_id, key = A.object_key}, A.now_ms)
  elseif stamp < current then
    -- A later update is already current: this avatar never will be.
    redis.call('ZADD', K.garbage, A.delete_after_ms, A.object_key)
  end
end
if tonumber(A.record_ttl_secs) > 0 then
  redis.call('EXPIRE', K.job, A.record_ttl_secs)
end
redis.call('XACK', K.stream, A.group, A.entry)
redis.call('XDEL', K.stream, A.entry)
release_slot(K.running, K.parked, K.parked_users, A.user_id, A.job_id, A.cap, A.now_ms,
  K.stream, A.record_prefix)
if imp then
  import_move(imp, I.processing, skipped and I.skipped or I.completed, A.now_ms)
  if redis.call('HGET', imp .. IK.urls, url) == A.job_id then
    redis.call('HSET', imp .. IK.urls, url, '=' .. A.object_key)
    import_release_after(imp, A.job_id, A.record_prefix, K.stream)
  end
  import_settle(imp, A.now_ms, A.record_ttl_secs, A.hook_prefix, A.hook_url)
end
redis.call('PUBLISH', A.channel, A.job_id)
return promoted
