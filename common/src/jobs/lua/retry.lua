-- Take a job off the stream to run again later: acknowledge its entry and
-- schedule it in the retry set. A live record is needed to rebuild it. An
-- import item counts as queued again, or as cancelled when its import was
-- cancelled meanwhile (it will end so when its retry is due).
local job = job_fields()
if recorded_before(job) then
  return {'recorded_before'}
end
if not parked_fresh() then
  return stale()
end
keep_job()
redis.call('HSET', K.job, F.status, S.retry_later, F.updated, A.now_ms, F.last_error, A.reason,
  F.retries, (tonumber(job.retries) or 0) + 1)
redis.call('ZADD', K.retry, A.due_ms, A.job_id)
ack(K.stream, A.entry)
release_own_slot()
if import_item() then
  local to = I.queued
  if redis.call('HGET', K.import, I.status) ~= IS.running then
    to = I.cancelled
  end
  import_move(I.processing, to)
  import_settle()
end
return {'scheduled'}
