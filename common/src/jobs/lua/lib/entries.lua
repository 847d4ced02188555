-- Stream entries: a job's entry, rebuilt from its record or not, and its
-- acknowledgement.

-- Adds the entry of a job (its JSON and its stamp) to `stream`.
local function add_entry(stream, job_json, stamp)
  redis.call('XADD', stream, '*', E.job, job_json, E.stamp, stamp)
end

-- Adds to `stream` the entry of the job whose record is `record`, rebuilt
-- from it; nothing when the record has gone.
local function add_entry_of(record, stream)
  local f = redis.call('HMGET', record, F.job, F.stamp)
  if f[1] and f[2] then
    add_entry(stream, f[1], f[2])
  end
end

-- The lane stream a record's `stream` field names, which must be one of
-- the script's keys `K.interactive` and `K.bulk`; the interactive one for
-- a record that names neither.
local function stream_named(name)
  if name == K.bulk then
    return K.bulk
  end
  return K.interactive
end

-- Acknowledges `entry` of `stream` for the consumer group and deletes it:
-- no worker reads it again.
local function ack(stream, entry)
  redis.call('XACK', stream, A.group, entry)
  redis.call('XDEL', stream, entry)
end
