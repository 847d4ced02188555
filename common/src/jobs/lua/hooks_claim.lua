-- Claim up to `limit` webhook deliveries that are due: each is pushed back
-- by the lease, so no other pool takes it meanwhile, and one whose pool
-- died is due again once the lease has run out. Returns the deliveries'
-- records as flat field lists.
local due = redis.call('ZRANGEBYSCORE', K.due, '-inf', A.now_ms, 'LIMIT', 0, A.limit)
local claimed = {}
for _, id in ipairs(due) do
  local record = redis.call('HGETALL', A.hook_prefix .. id)
  if #record == 0 then
    -- Its record is gone: nothing left to deliver.
    redis.call('ZREM', K.due, id)
    redis.call('ZREM', K.pending, id)
  else
    redis.call('ZADD', K.due, tonumber(A.now_ms) + tonumber(A.lease_ms), id)
    claimed[#claimed + 1] = record
  end
end
return claimed
