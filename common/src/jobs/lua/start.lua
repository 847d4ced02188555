-- Mark a job as being processed and count the attempt; or, when its user
-- already runs as many jobs as the cap allows, park it until one ends. An
-- import item not begun before ends here instead when its import was
-- cancelled, or is skipped when it may only fill a missing avatar and its
-- user has one.
local status = redis.call('HGET', K.job, F.status)
if status ~= S.queued and status ~= S.processing then
  -- Ended (or gone) already: a stale entry, such as one taken over from a
  -- slow worker that then finished the job.
  redis.call('XACK', K.stream, A.group, A.entry)
  redis.call('XDEL', K.stream, A.entry)
  return {-4, 0, 0, 0}
end
local imp, _, _, url = import_item(K.job, A.import_prefix)
local function drop(as)
  redis.call('HSET', K.job, F.status, as, F.updated, A.now_ms)
  if tonumber(A.record_ttl_secs) > 0 then
    redis.call('EXPIRE', K.job, A.record_ttl_secs)
  end
  redis.call('XACK', K.stream, A.group, A.entry)
  redis.call('XDEL', K.stream, A.entry)
end
if imp and status ~= S.processing then
  local import = redis.call('HMGET', imp, I.status, I.mode)
  if import[1] ~= IS.running then
    drop(S.cancelled)
    import_end_after(imp, A.job_id, A.record_prefix, url, S.cancelled, '', '', A.now_ms,
      A.record_ttl_secs, A.hook_prefix, A.hook_url)
    return {-2, 0, 0, 0}
  end
  if import[2] == 'missing' and redis.call('HEXISTS', K.user, U.key) == 1 then
    drop(S.skipped)
    import_move(imp, I.queued, I.skipped, A.now_ms)
    if redis.call('HGET', imp .. IK.urls, url) == A.job_id then
      import_pass_on(imp, A.job_id, url, A.record_prefix, K.stream)
    end
    import_settle(imp, A.now_ms, A.record_ttl_secs, A.hook_prefix, A.hook_url)
    return {-3, 0, 0, 0}
  end
end
if tonumber(A.cap) > 0 then
  redis.call('ZREMRANGEBYSCORE', K.running, '-inf', A.now_ms)
  local mine = redis.call('ZSCORE', K.running, A.job_id)
  if not mine and redis.call('ZCARD', K.running) >= tonumber(A.cap) then
    redis.call('RPUSH', K.parked, A.job_id)
    redis.call('ZADD', K.parked_users, A.now_ms, A.user_id)
    redis.call('XACK', K.stream, A.group, A.entry)
    redis.call('XDEL', K.stream, A.entry)
    return {-1, 0, 0, 0}
  end
  redis.call('ZADD', K.running, tonumber(A.now_ms) + tonumber(A.lease_ms), A.job_id)
end
if imp and status ~= S.processing then
  import_move(imp, I.queued, I.processing, A.now_ms)
end
redis.call('HSET', K.job, F.status, S.processing, F.updated, A.now_ms, F.started_us, A.now_us)
local attempts = redis.call('HINCRBY', K.job, F.attempts, 1)
local fields = redis.call('HMGET', K.job, F.retries, F.retry_from, F.accepted_us)
return {attempts, tonumber(fields[1] or '0'), tonumber(fields[2] or A.default_retry_from),
  tonumber(fields[3] or A.now_us)}
