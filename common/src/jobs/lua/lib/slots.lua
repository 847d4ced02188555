-- The fair share: a user's running slots and parked jobs.

-- A job of the user `user_id` stopped running (`job_id`, or '' when none
-- did): forget it in the user's `running` set and, when the user's
-- `parked` list holds a job (`parked_next`, its head as the caller read
-- it, is not ''), the leases that ran out; then while the user is under
-- the cap (A.cap) move that oldest parked job back to its lane's stream,
-- rebuilt from `next_record`, its record. With nothing parked, forgetting
-- the job is all: the leases that ran out are not counted (see start.lua)
-- and are forgotten when a job is next parked.
local function release_slot(running, parked, next_record, user_id, job_id, parked_next)
  if job_id ~= '' then
    redis.call('ZREM', running, job_id)
  end
  if parked_next == '' then
    return
  end
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
