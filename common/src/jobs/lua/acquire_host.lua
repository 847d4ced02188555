-- Take one of an origin host's fetch permits, unless all are held. A
-- permit is a member scored by when its lease ends, so one held by a
-- worker that died is forgotten once that time has passed.
redis.call('ZREMRANGEBYSCORE', K.permits, '-inf', A.now_ms)
if redis.call('ZCARD', K.permits) >= tonumber(A.limit) then
  return {'all_held'}
end
redis.call('ZADD', K.permits, tonumber(A.now_ms) + tonumber(A.lease_ms), A.member)
redis.call('PEXPIRE', K.permits, A.lease_ms)
return {'taken'}
