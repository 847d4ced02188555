-- Record a finished avatar, make it current unless a later one already is,
-- acknowledge the stream entry, schedule the deletion of whichever avatar is
-- no longer current (at once for one accepted before the user's last
-- DELETE), and announce the job, atomically. An import item that
-- may only fill a missing avatar is skipped instead when its user has one;
-- the first item of a URL lets the items waiting for it copy its avatar.
local answer, item, first, job = ending_attempt()
if answer then
  return answer
end
local skipped = item and redis.call('HGET', K.import, I.mode) == 'missing'
  and redis.call('HEXISTS', K.user, U.key) == 1
local outcome = 'not_current'
if skipped then
  redis.call('HSET', K.job, F.status, S.skipped, F.updated, A.now_ms)
  discard(A.object_key, A.delete_after_ms)
  outcome = 'skipped'
else
  redis.call('HSET', K.job, F.status, S.completed, F.key, A.object_key, F.sides, A.sides,
    F.placeholder, A.placeholder, F.updated, A.now_ms)
  if job.error_code then
    redis.call('HDEL', K.job, F.error_code, F.error_message)
  end
  local stamp = tonumber(A.stamp)
  local user = redis.call('HMGET', K.user, U.stamp, U.key, U.deleted)
  local current = tonumber(user[1] or '0')
  if stamp > current then
    local replaced = user[2]
    if replaced then
      discard(replaced, A.delete_after_ms)
    end
    redis.call('HSET', K.user, U.stamp, A.stamp, U.key, A.object_key, U.sides, A.sides,
      U.placeholder, A.placeholder)
    outcome = 'current'
    hook_event(job.callback, ET.avatar_updated, {userId = A.user_id, jobId = A.job_id,
      key = A.object_key, sides = A.sides, placeholder = A.placeholder})
  elseif stamp < current then
    -- A later update or a DELETE came first: this avatar never will be
    -- current, and after a DELETE it goes at once.
    local deleted = tonumber(user[3] or '0')
    discard(A.object_key, stamp < deleted and '0' or A.delete_after_ms)
  end
end
expire(K.job)
ack(K.stream, A.entry)
release_own_slot()
if item then
  import_move(I.processing, skipped and I.skipped or I.completed)
  if first then
    import_release_after(item.url, A.object_key .. '|' .. A.sides .. '|' .. A.placeholder)
  end
  import_settle()
end
redis.call('PUBLISH', A.channel, A.job_id)
return {outcome}
