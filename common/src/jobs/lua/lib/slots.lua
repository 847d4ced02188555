-- The fair share: a user's running slots and parked jobs.

-- A job of the user `user_id` stopped running (`job_id`, or '' when none
-- did): forget it, and the leases that ran out, in the user's `running`
-- set, and while the user is under the cap (A.cap) move the oldest job of
-- the user's `parked` list back to its lane's stream, rebuilt from
-- `next_record`, its record, which the caller read the list's head for.
local function release_slot(running, parked, next_record, user_id, job_id)
  redis.call('ZREM', running, job_id)
  redis.call('ZREMRANGEBYSCORE', running, '-inf', A.now_ms)
  if redis.call('ZCARD', running) < tonumber(A.cap) and redis.call('LPOP', parked) then
    local f = redis.call('HMGET', next_record, F.job, F.stamp, F.stream)
    if f[1] and f[2] then
      add_entry(stream_named(f[3]), f[1], f[2])
    end
  end
  if redis.call('LLEN', parked) == 0 then
    redis.call('ZREM', K.parked_users, user_id)
  end
end
