-- Take a job off the stream to run again later: acknowledge its entry and
-- schedule it in the retry set. A live record is needed to rebuild it. An
-- import item counts as queued again, or as cancelled when its import was
-- cancelled meanwhile (it will end so when its retry is due).
-- Recorded once: a second run (a retried call whose first answer was
-- lost, or a worker that finished a job another had taken over) only
-- acknowledges the entry.
if redis.call('HGET', K.job, F.status) ~= S.processing then
  redis.call('XACK', K.stream, A.group, A.entry)
  redis.call('XDEL', K.stream, A.entry)
  return 0
end
redis.call('HSET', K.job, F.status, S.retry_later, F.updated, A.now_ms, F.last_error, A.reason)
redis.call('HINCRBY', K.job, F.retries, 1)
redis.call('ZADD', K.retry, A.due_ms, A.job_id)
redis.call('XACK', K.stream, A.group, A.entry)
redis.call('XDEL', K.stream, A.entry)
release_slot(K.running, K.parked, K.parked_users, A.user_id, A.job_id, A.cap, A.now_ms,
  K.stream, A.record_prefix)
local imp = import_item(K.job, A.import_prefix)
if imp then
  local to = I.queued
  if redis.call('HGET', imp, I.status) ~= IS.running then
    to = I.cancelled
  end
  import_move(imp, I.processing, to, A.now_ms)
  import_settle(imp, A.now_ms, A.record_ttl_secs, A.hook_prefix, A.hook_url)
end
return 1
