-- Record a failed job, acknowledge its stream entry and announce it. Jobs
-- that failed on the service's own faults are indexed so that an operator
-- can queue them again.
-- KEYS[1] job hash, KEYS[2] job stream, KEYS[3] failed index
-- ARGV[1] group, ARGV[2] entry id, ARGV[3] error code, ARGV[4] error message,
-- ARGV[5] now (unix ms), ARGV[6] record ttl (s), ARGV[7] job id, ARGV[8] channel
redis.call('HSET', KEYS[1], 'status', 'failed', 'error_code', ARGV[3],
  'error_message', ARGV[4], 'updated', ARGV[5])
if tonumber(ARGV[6]) > 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[6])
end
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[7])
redis.call('XACK', KEYS[2], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[2], ARGV[2])
redis.call('PUBLISH', ARGV[8], ARGV[7])
return 1
