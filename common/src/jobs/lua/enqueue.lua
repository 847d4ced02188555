-- Accept a job: stamp it, record it and add it to the stream, atomically;
-- or, when its idempotency key was seen before, return the earlier job.
-- The stamp is the acceptance time in unix ms, made strictly greater than the
-- user's previous stamp, so later acceptance always means a greater stamp.
if A.idempotency_key ~= '' then
  local earlier = redis.call('GET', K.idempotency)
  if earlier then
    return {0, earlier}
  end
  redis.call('SET', K.idempotency, A.job_id, 'EX', A.idempotency_ttl_secs)
end
local stamp = tonumber(A.now_ms)
local last = tonumber(redis.call('HGET', K.user, U.last) or '0')
if stamp <= last then
  stamp = last + 1
end
stamp = string.format('%d', stamp)
redis.call('HSET', K.user, U.last, stamp)
redis.call('HSET', K.job,
  F.id, A.job_id, F.user, A.user_id, F.status, S.queued, F.stamp, stamp,
  F.created, A.now_ms, F.updated, A.now_ms, F.accepted_us, A.now_us,
  F.attempts, 0, F.retry_from, A.now_ms, F.job, A.job_json, F.stream, K.stream)
if A.callback_url ~= '' then
  redis.call('HSET', K.job, F.callback, A.callback_url)
end
redis.call('XADD', K.stream, '*', E.job, A.job_json, E.stamp, stamp)
return {tonumber(stamp), A.job_id}
