-- Claim up to `limit` webhook deliveries of one lane (`K.hook_due`: the
-- operator's, or the callbacks') that are due: each is pushed back by the
-- lease, so no other pool takes it meanwhile, and one whose pool died is
-- due again once the lease has run out. A callback whose host is backed
-- off is put off until the host's pause ends, with no attempt. Returns the
-- claimed deliveries' records as flat field lists.
local due = redis.call('ZRANGEBYSCORE', K.hook_due, '-inf', A.now_ms, 'LIMIT', 0, A.limit)
local now = tonumber(A.now_ms)
local claimed = {}
local paused = {}
for _, id in ipairs(due) do
  local stored = redis.call('HGET', K.hook_deliveries, id)
  if not stored then
    -- Its record is gone: nothing left to deliver.
    redis.call('ZREM', K.hook_due, id)
    redis.call('ZREM', K.hook_pending, id)
  else
    local delivery = cjson.decode(stored)
    local host = delivery[W.host]
    local until_ms = nil
    if host and host ~= '' then
      if paused[host] == nil then
        local state = redis.call('HGET', K.hook_hosts, host)
        paused[host] = state and tonumber(string.match(state, '|(%d+)$')) or 0
      end
      if paused[host] > now then
        until_ms = paused[host]
      end
    end
    if until_ms then
      redis.call('ZADD', K.hook_due, until_ms, id)
    else
      redis.call('ZADD', K.hook_due, now + tonumber(A.lease_ms), id)
      local record = {}
      for name, value in pairs(delivery) do
        record[#record + 1] = name
        record[#record + 1] = value
      end
      claimed[#claimed + 1] = record
    end
  end
end
return claimed
