-- Record a finished avatar, make it current unless a later one already is,
-- acknowledge the stream entry, schedule the deletion of whichever avatar is
-- no longer current, and announce the job, atomically.
-- KEYS[1] job hash, KEYS[2] user hash, KEYS[3] job stream, KEYS[4] the
-- garbage set (object keys scored by when they may be deleted)
-- ARGV[1] group, ARGV[2] entry id, ARGV[3] stamp, ARGV[4] object key,
-- ARGV[5] now (unix ms), ARGV[6] record ttl (s), ARGV[7] job id,
-- ARGV[8] channel, ARGV[9] when a superseded avatar may be deleted (unix ms)
-- Returns 1 when this avatar became current.
redis.call('HSET', KEYS[1], 'status', 'completed', 'key', ARGV[4], 'updated', ARGV[5])
redis.call('HDEL', KEYS[1], 'error_code', 'error_message')
if tonumber(ARGV[6]) > 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[6])
end
local promoted = 0
local stamp = tonumber(ARGV[3])
local current = tonumber(redis.call('HGET', KEYS[2], 'stamp') or '0')
if stamp > current then
  local replaced = redis.call('HGET', KEYS[2], 'key')
  if replaced then
    redis.call('ZADD', KEYS[4], ARGV[9], replaced)
  end
  redis.call('HSET', KEYS[2], 'stamp', ARGV[3], 'key', ARGV[4])
  promoted = 1
elseif stamp < current then
  -- A later update is already current: this avatar never will be.
  redis.call('ZADD', KEYS[4], ARGV[9], ARGV[4])
end
redis.call('XACK', KEYS[3], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[3], ARGV[2])
redis.call('PUBLISH', ARGV[8], ARGV[7])
return promoted
