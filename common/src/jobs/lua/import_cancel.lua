-- Cancel an import: its items not yet started count as cancelled at once
-- (each job ends so when a worker reaches it); running ones finish.
if redis.call('EXISTS', K.import) == 0 then
  return {'not_found'}
end
if redis.call('HGET', K.import, I.status) == IS.running then
  local queued = tonumber(redis.call('HGET', K.import, I.queued))
  redis.call('HSET', K.import, I.queued, 0, I.status, IS.cancelled, I.updated, A.now_ms)
  redis.call('HINCRBY', K.import, I.cancelled, queued)
  -- Its entries left in the stream are deleted by the drain, a batch at
  -- a time.
  redis.call('ZADD', K.drain, 'NX', A.now_ms,
    drain_cancel_member(redis.call('HGET', K.import, I.id)))
end
import_settle()
return {'cancelled'}
