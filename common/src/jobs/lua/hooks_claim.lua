-- Claim up to `limit` webhook deliveries that are due: each is pushed back
-- by the lease, so no other pool takes it meanwhile, and one whose pool
-- died is due again once the lease has run out. Returns the deliveries'
-- records as flat field lists.
local due = redis.call('ZRANGEBYSCORE', K.hook_due, '-inf', A.now_ms, 'LIMIT', 0, A.limit)
local claimed = {}
for _, id in ipairs(due) do
  local stored = redis.call('HGET', K.hook_deliveries, id)
  if not stored then
    -- Its record is gone: nothing left to deliver.
    redis.call('ZREM', K.hook_due, id)
    redis.call('ZREM', K.hook_pending, id)
  else
    redis.call('ZADD', K.hook_due, tonumber(A.now_ms) + tonumber(A.lease_ms), id)
    local record = {}
    for name, value in pairs(cjson.decode(stored)) do
      record[#record + 1] = name
      record[#record + 1] = value
    end
    claimed[#claimed + 1] = record
  end
end
return claimed
