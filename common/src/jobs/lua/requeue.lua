-- Put jobs back on the stream: due retries (ARGV[1] = 'retry') or failed
-- jobs an operator queues again (ARGV[1] = 'failed'). Each job is rebuilt
-- from its record with its original stamp, so an old job queued again can
-- never replace a later avatar. Removing the id from its set first makes
-- two workers promoting the same retry at once move it only once.
-- KEYS[1] job stream, KEYS[2] the set the ids come from
-- ARGV[1] kind, ARGV[2] job-record key prefix (ending in ':'), ARGV[3] now
-- (unix ms), ARGV[4..] job ids
local moved = 0
for i = 4, #ARGV do
  if redis.call('ZREM', KEYS[2], ARGV[i]) == 1 then
    local record = ARGV[2] .. ARGV[i]
    local fields = redis.call('HMGET', record, 'job', 'stamp', 'status')
    if fields[1] and fields[2] and (ARGV[1] == 'retry' or fields[3] == 'failed') then
      redis.call('HSET', record, 'status', 'queued', 'updated', ARGV[3])
      if ARGV[1] == 'failed' then
        redis.call('HDEL', record, 'error_code', 'error_message')
        redis.call('HSET', record, 'attempts', 0, 'retries', 0, 'retry_from', ARGV[3])
        redis.call('PERSIST', record)
      end
      redis.call('XADD', KEYS[1], '*', 'job', fields[1], 'stamp', fields[2])
      moved = moved + 1
    end
  end
end
return moved
