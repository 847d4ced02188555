-- Mark a job as being processed and count the attempt.
redis.call('HSET', K.job, F.status, S.processing, F.updated, A.now_ms, F.started_us, A.now_us)
local attempts = redis.call('HINCRBY', K.job, F.attempts, 1)
local fields = redis.call('HMGET', K.job, F.retries, F.retry_from, F.accepted_us)
return {attempts, tonumber(fields[1] or '0'), tonumber(fields[2] or A.default_retry_from),
  tonumber(fields[3] or A.now_us)}
