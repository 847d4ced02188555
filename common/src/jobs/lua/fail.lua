-- Record a failed job, acknowledge its stream entry and announce it. Failed
-- jobs are indexed so that an operator can queue them again; a failed
-- import item is listed among its import's failures instead, and the items
-- waiting for it, the first of their URL, fail with it.
-- Recorded once: a second run (a retried call whose first answer was
-- lost, or a worker that finished a job another had taken over) only
-- acknowledges the entry.
if redis.call('HGET', K.job, F.status) ~= S.processing then
  redis.call('XACK', K.stream, A.group, A.entry)
  redis.call('XDEL', K.stream, A.entry)
  return 0
end
redis.call('HSET', K.job, F.status, S.failed, F.error_code, A.code,
  F.error_message, A.message, F.updated, A.now_ms)
if tonumber(A.record_ttl_secs) > 0 then
  redis.call('EXPIRE', K.job, A.record_ttl_secs)
end
local imp, index, user_id, url = import_item(K.job, A.import_prefix)
if not imp then
  redis.call('ZADD', K.failed, A.now_ms, A.job_id)
end
hook_event(A.hook_prefix, A.hook_url, redis.call('HGET', K.job, F.callback), ET.avatar_failed,
  {userId = A.user_id, jobId = A.job_id, error = {code = A.code, message = A.message}}, A.now_ms)
redis.call('XACK', K.stream, A.group, A.entry)
redis.call('XDEL', K.stream, A.entry)
release_slot(K.running, K.parked, K.parked_users, A.user_id, A.job_id, A.cap, A.now_ms,
  K.stream, A.record_prefix)
if imp then
  import_move(imp, I.processing, I.failed, A.now_ms)
  import_failure(imp, index, user_id, url, A.code, A.message)
  if redis.call('HGET', imp .. IK.urls, url) == A.job_id then
    redis.call('HDEL', imp .. IK.urls, url)
    -- Once cancelled, they were counted as cancelled already.
    local as = S.failed
    if redis.call('HGET', imp, I.status) ~= IS.running then
      as = S.cancelled
    end
    import_end_after(imp, A.job_id, A.record_prefix, url, as, A.code, A.message,
      A.now_ms, A.record_ttl_secs, A.hook_prefix, A.hook_url)
  end
  import_settle(imp, A.now_ms, A.record_ttl_secs, A.hook_prefix, A.hook_url)
end
redis.call('PUBLISH', A.channel, A.job_id)
return 1
