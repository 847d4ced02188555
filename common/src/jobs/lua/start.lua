-- Mark a job as being processed and count the attempt; or, when its user
-- already runs as many jobs as the cap allows, park it until one ends. An
-- import item not begun before ends here instead when its import was
-- cancelled, or is skipped when it may only fill a missing avatar and its
-- user has one. An import item taken from the stream for the first time
-- is recorded here, its retry budget running from now (a bulk backlog may
-- hold it for hours); until now its stream entry was all there was of it.
local job = job_fields()
if not job.status and A.import_id ~= '' then
  local accepted_us = A.stamp .. '000'
  record_queued(K.job, A.job_id, A.user_id, A.stamp, K.stream, A.stamp, accepted_us, A.now_ms,
    {F.import, A.import_id})
  job = {status = S.queued, attempts = '0', retry_from = A.now_ms, accepted_us = accepted_us}
end
local status = job.status
if status ~= S.queued and status ~= S.processing then
  -- Ended (or gone) already: a stale entry, such as one taken over from a
  -- slow worker that then finished the job.
  ack(K.stream, A.entry)
  return {'ended'}
end
local item = import_item()
local function drop(as)
  redis.call('HSET', K.job, F.status, as, F.updated, A.now_ms)
  expire(K.job)
  ack(K.stream, A.entry)
end
if item and status ~= S.processing then
  local import = redis.call('HMGET', K.import, I.status, I.mode)
  local cancelled = import[1] ~= IS.running
  local skipped = not cancelled and import[2] == 'missing'
    and redis.call('HEXISTS', K.user, U.key) == 1
  local first = import_first(item.url)
  if (cancelled or skipped) and first and not waiting_fresh() then
    return stale()
  end
  if cancelled then
    drop(S.cancelled)
    if first then
      import_end_after(item.url, S.cancelled, '', '')
    end
    return {'cancelled'}
  end
  if skipped then
    drop(S.skipped)
    import_move(I.queued, I.skipped)
    if first then
      import_pass_on(item.url)
    end
    import_settle()
    return {'skipped'}
  end
end
-- The running set holds each running job scored by when its lease ends;
-- only the leases not yet ended count (a job whose worker died stops
-- counting when its lease does). A job taken over from a silent worker
-- (processing already) holds its place and renews its lease.
if tonumber(A.cap) > 0 then
  if status ~= S.processing
    and redis.call('ZCOUNT', K.running, A.now_ms, '+inf') >= tonumber(A.cap) then
    redis.call('ZREMRANGEBYSCORE', K.running, '-inf', A.now_ms)
    keep_job()
    redis.call('RPUSH', K.parked, A.job_id)
    redis.call('ZADD', K.parked_users, A.now_ms, A.user_id)
    ack(K.stream, A.entry)
    return {'parked'}
  end
  redis.call('ZADD', K.running, tonumber(A.now_ms) + tonumber(A.lease_ms), A.job_id)
end
if item and status ~= S.processing then
  import_move(I.queued, I.processing)
end
local attempts = (tonumber(job.attempts) or 0) + 1
redis.call('HSET', K.job, F.status, S.processing, F.updated, A.now_ms, F.started_us, A.now_us,
  F.attempts, attempts)
return {'began', attempts, tonumber(job.retries) or 0, tonumber(job.retry_from),
  tonumber(job.accepted_us)}
