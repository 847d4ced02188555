-- Record a failed job, acknowledge its stream entry and announce it. Failed
-- jobs are indexed so that an operator can queue them again; a failed
-- import item is listed among its import's failures instead, and the items
-- waiting for it, the first of their URL, fail with it.
local answer, item, first, job = ending_attempt()
if answer then
  return answer
end
redis.call('HSET', K.job, F.status, S.failed, F.error_code, A.code,
  F.error_message, A.message, F.updated, A.now_ms)
expire(K.job)
if not item then
  -- Kept to be queued again by an operator.
  keep_job()
  redis.call('ZADD', K.failed, A.now_ms, A.job_id)
end
hook_event(job.callback, ET.avatar_failed,
  {userId = A.user_id, jobId = A.job_id, error = {code = A.code, message = A.message}})
ack(K.stream, A.entry)
release_own_slot()
if item then
  import_move(I.processing, I.failed)
  import_failure(item.index, item.user, item.url, A.code, A.message)
  if first then
    -- Once cancelled, they were counted as cancelled already.
    local as = S.failed
    if redis.call('HGET', K.import, I.status) ~= IS.running then
      as = S.cancelled
    end
    import_end_after(item.url, as, A.code, A.message)
  end
  import_settle()
end
redis.call('PUBLISH', A.channel, A.job_id)
return {'failed'}
