-- Take a job off the stream to run again later: acknowledge its entry and
-- schedule it in the retry set. A live record is needed to rebuild it.
-- KEYS[1] job hash, KEYS[2] job stream, KEYS[3] retry set
-- ARGV[1] group, ARGV[2] entry id, ARGV[3] due (unix ms), ARGV[4] job id,
-- ARGV[5] now (unix ms), ARGV[6] reason
redis.call('HSET', KEYS[1], 'status', 'queued', 'updated', ARGV[5], 'last_error', ARGV[6])
redis.call('HINCRBY', KEYS[1], 'retries', 1)
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[4])
redis.call('XACK', KEYS[2], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[2], ARGV[2])
return 1
