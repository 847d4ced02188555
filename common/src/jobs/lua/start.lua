-- Mark a job as being processed and count the attempt; or, when its user
-- already runs as many jobs as the cap allows, park it until one ends.
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
redis.call('HSET', K.job, F.status, S.processing, F.updated, A.now_ms, F.started_us, A.now_us)
local attempts = redis.call('HINCRBY', K.job, F.attempts, 1)
local fields = redis.call('HMGET', K.job, F.retries, F.retry_from, F.accepted_us)
return {attempts, tonumber(fields[1] or '0'), tonumber(fields[2] or A.default_retry_from),
  tonumber(fields[3] or A.now_us)}
