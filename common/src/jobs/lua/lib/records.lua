-- Job records: stamping a new job, recording it, the recorded-once guard
-- and the lifetime of ended records.

-- The stamp of a new job of the user whose hash is `user`: the time
-- (A.now_ms), made strictly greater than the user's last stamp, which it
-- becomes. So later acceptance always means a greater stamp.
local function next_stamp(user)
  local stamp = tonumber(A.now_ms)
  local last = tonumber(redis.call('HGET', user, U.last) or '0')
  if stamp <= last then
    stamp = last + 1
  end
  stamp = string.format('%d', stamp)
  redis.call('HSET', user, U.last, stamp)
  return stamp
end

-- Records a job as queued under `record`, in `stream`, with the `extra`
-- fields and values given (a list), if any: accepted with `stamp` at
-- `accepted_ms` (and `accepted_us`, the same in µs), its retry budget
-- running from `retry_from`. The job's JSON is not among its fields while
-- its stream entry holds it: it is written when the job leaves the stream
-- to come back (`keep_job`).
local function record_queued(record, job_id, user_id, stamp, stream, accepted_ms, accepted_us,
                             retry_from, extra)
  redis.call('HSET', record,
    F.id, job_id, F.user, user_id, F.status, S.queued, F.stamp, stamp,
    F.created, accepted_ms, F.updated, A.now_ms, F.accepted_us, accepted_us,
    F.attempts, 0, F.retry_from, retry_from, F.stream, stream,
    unpack(extra or {}))
end

-- Writes the job's JSON (A.job_json) to its record, K.job: it leaves its
-- stream entry (parked, to retry, failed) and will be rebuilt from there.
local function keep_job()
  redis.call('HSET', K.job, F.job, A.job_json)
end

-- Gives `key` the lifetime of an ended record: A.record_ttl_secs, or for
-- ever when that is 0.
local function expire(key)
  if tonumber(A.record_ttl_secs) > 0 then
    redis.call('EXPIRE', key, A.record_ttl_secs)
  end
end

-- The fields of the job's record (K.job) the transitions read, in one
-- call: `{status, callback, error_code, attempts, retries, retry_from,
-- accepted_us}`, each nil where the record has none.
local function job_fields()
  local f = redis.call('HMGET', K.job, F.status, F.callback, F.error_code, F.attempts,
    F.retries, F.retry_from, F.accepted_us)
  return {status = f[1], callback = f[2], error_code = f[3], attempts = f[4], retries = f[5],
    retry_from = f[6], accepted_us = f[7]}
end

-- The recorded-once guard of the transitions that end an attempt: when the
-- job (its `job_fields`) is no longer processing (a retried call whose
-- first answer was lost, or a worker that finished a job another had
-- taken over), its entry is acknowledged and nothing else is done.
-- Returns whether that was so.
local function recorded_before(job)
  if job.status == S.processing then
    return false
  end
  ack(K.stream, A.entry)
  return true
end
