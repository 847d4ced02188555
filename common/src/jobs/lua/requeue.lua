-- Put jobs back on the stream: due retries (kind 'retry') or failed jobs an
-- operator queues again (kind 'failed'). Each job (REST, with its record
-- in REST_KEYS at the same place) is rebuilt from its record with its
-- original stamp, so an old job queued again can never replace a later
-- avatar, into its lane's stream. Removing the id from its set first makes
-- two workers promoting the same retry at once move it only once.
local moved = 0
for i, id in ipairs(REST) do
  if redis.call('ZREM', K.from, id) == 1 then
    local record = REST_KEYS[i]
    local fields = redis.call('HMGET', record, F.job, F.stamp, F.status, F.stream)
    if fields[1] and fields[2] and (A.kind == 'retry' or fields[3] == S.failed) then
      redis.call('HSET', record, F.status, S.queued, F.updated, A.now_ms)
      if A.kind == 'failed' then
        redis.call('HDEL', record, F.error_code, F.error_message)
        redis.call('HSET', record, F.attempts, 0, F.retries, 0, F.retry_from, A.now_ms)
        redis.call('PERSIST', record)
      end
      add_entry(stream_named(fields[4]), fields[1], fields[2])
      moved = moved + 1
    end
  end
end
return moved
