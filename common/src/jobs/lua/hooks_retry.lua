-- A webhook delivery's attempt failed: count it, keep why, and make it due
-- again at `due_ms`. For a callback, the failure also counts against its
-- host: after `trip_after` in a row, the host is backed off as a whole for
-- `pause_first_ms`, doubling with each further failure up to
-- `pause_max_ms`, and the delivery waits at least that long.
-- With A.deferred = '1', no attempt was made (its pool had as many in
-- flight to the host as it sends): the delivery is only put off.
local stored = redis.call('HGET', K.hook_deliveries, A.id)
if not stored then
  return {'gone'}
end
local delivery = cjson.decode(stored)
local lane = delivery[W.target] == 'callback' and K.hook_due_callbacks or K.hook_due
if A.deferred == '1' then
  redis.call('ZADD', lane, A.due_ms, A.id)
  return {'scheduled'}
end
delivery[W.attempts] = string.format('%d', tonumber(delivery[W.attempts]) + 1)
delivery[W.last_error] = A.reason
redis.call('HSET', K.hook_deliveries, A.id, cjson.encode(delivery))
local due = tonumber(A.due_ms)
local host = delivery[W.host]
if host and host ~= '' then
  local state = redis.call('HGET', K.hook_hosts, host)
  local failures = (state and tonumber(string.match(state, '^(%d+)|')) or 0) + 1
  local until_ms = 0
  local over = failures - tonumber(A.trip_after)
  if over >= 0 then
    local pause = tonumber(A.pause_first_ms) * 2 ^ math.min(over, 30)
    until_ms = tonumber(A.now_ms) + math.min(pause, tonumber(A.pause_max_ms))
    due = math.max(due, until_ms)
  end
  redis.call('HSET', K.hook_hosts, host, string.format('%d|%d', failures, until_ms))
end
redis.call('ZADD', lane, due, A.id)
return {'scheduled'}
