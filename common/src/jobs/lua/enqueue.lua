-- Accept a job: stamp it, record it, and add it to the stream, atomically;
-- or, when its idempotency key was seen before, return the earlier job.
-- KEYS[1] user hash, KEYS[2] job hash, KEYS[3] job stream, KEYS[4] the
-- idempotency key's record (any key name when ARGV[6] is empty)
-- ARGV[1] job id, ARGV[2] user id, ARGV[3] now (unix ms), ARGV[4] job json,
-- ARGV[5] now (unix us), kept to measure how long jobs wait,
-- ARGV[6] idempotency key or '', ARGV[7] its lifetime (s)
-- Returns {stamp, job id}: stamp 0 and the earlier job's id for a repeat.
-- The stamp is the acceptance time in unix ms, made strictly greater than the
-- user's previous stamp, so later acceptance always means a greater stamp.
if ARGV[6] ~= '' then
  local earlier = redis.call('GET', KEYS[4])
  if earlier then
    return {0, earlier}
  end
  redis.call('SET', KEYS[4], ARGV[1], 'EX', ARGV[7])
end
local stamp = tonumber(ARGV[3])
local last = tonumber(redis.call('HGET', KEYS[1], 'last') or '0')
if stamp <= last then
  stamp = last + 1
end
stamp = string.format('%d', stamp)
redis.call('HSET', KEYS[1], 'last', stamp)
redis.call('HSET', KEYS[2],
  'id', ARGV[1], 'user', ARGV[2], 'status', 'queued', 'stamp', stamp,
  'created', ARGV[3], 'updated', ARGV[3], 'accepted_us', ARGV[5], 'attempts', 0,
  'retry_from', ARGV[3], 'job', ARGV[4])
redis.call('XADD', KEYS[3], '*', 'job', ARGV[4], 'stamp', stamp)
return {tonumber(stamp), ARGV[1]}
