-- A webhook delivery's attempt failed: count it, keep why, and make it due
-- again at `due_ms`.
local record = A.hook_prefix .. A.id
if redis.call('EXISTS', record) == 0 then
  return 0
end
redis.call('HINCRBY', record, W.attempts, 1)
redis.call('HSET', record, W.last_error, A.reason)
redis.call('ZADD', K.due, A.due_ms, A.id)
return 1
