-- Record a failed job, acknowledge its stream entry and announce it. Failed
-- jobs are indexed so that an operator can queue them again.
redis.call('HSET', K.job, F.status, S.failed, F.error_code, A.code,
  F.error_message, A.message, F.updated, A.now_ms)
if tonumber(A.record_ttl_secs) > 0 then
  redis.call('EXPIRE', K.job, A.record_ttl_secs)
end
redis.call('ZADD', K.failed, A.now_ms, A.job_id)
redis.call('XACK', K.stream, A.group, A.entry)
redis.call('XDEL', K.stream, A.entry)
release_slot(K.running, K.parked, K.parked_users, A.user_id, A.job_id, A.cap, A.now_ms,
  K.stream, A.record_prefix)
redis.call('PUBLISH', A.channel, A.job_id)
return 1
