-- A webhook delivery's attempt failed: count it, keep why, and make it due
-- again at `due_ms`.
local stored = redis.call('HGET', K.hook_deliveries, A.id)
if not stored then
  return {'gone'}
end
local delivery = cjson.decode(stored)
delivery[W.attempts] = string.format('%d', tonumber(delivery[W.attempts]) + 1)
delivery[W.last_error] = A.reason
redis.call('HSET', K.hook_deliveries, A.id, cjson.encode(delivery))
redis.call('ZADD', K.hook_due, A.due_ms, A.id)
return {'scheduled'}
