-- A webhook delivery has ended: delivered (A.delivered = '1'), or given
-- up. Forget it; a callback no longer counts against its user, and one
-- delivered ends its host's run of failures.
local stored = redis.call('HGET', K.hook_deliveries, A.id)
if stored then
  local delivery = cjson.decode(stored)
  local user = delivery[W.user]
  if user and user ~= '' then
    if redis.call('HINCRBY', K.hook_callback_users, user, -1) <= 0 then
      redis.call('HDEL', K.hook_callback_users, user)
    end
  end
  local host = delivery[W.host]
  if A.delivered == '1' and host and host ~= '' then
    redis.call('HDEL', K.hook_hosts, host)
  end
end
redis.call('HDEL', K.hook_deliveries, A.id)
redis.call('ZREM', K.hook_due, A.id)
redis.call('ZREM', K.hook_due_callbacks, A.id)
redis.call('ZREM', K.hook_pending, A.id)
return {'ended'}
