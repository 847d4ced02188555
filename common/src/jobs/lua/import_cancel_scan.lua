-- One batch of a cancelled import's stream entries, deleted so that no
-- worker reads them: the caller read up to BATCH entries of K.stream past
-- both the import's cursor and the consumer group's last delivered entry
-- (those before it are a worker's, and end when it starts them), and
-- passes the import's among them, three values in REST per item (entry,
-- job id, URL) and its record in REST_KEYS. An item still queued is
-- deleted from the stream and ends cancelled (the cancel counted it
-- already): with no record, as one no worker took (see import_items.lua),
-- or with its record marked so, as one queued again for a retry. When it
-- was the first of its URL, the items waiting behind it are listed for
-- the drain. A.cursor is the last entry read; A.done is '1'
-- when the read reached the stream's end, and then the drain forgets
-- A.member.
for i = 1, #REST, 3 do
  local entry, job_id, url = REST[i], REST[i + 1], REST[i + 2]
  local record = REST_KEYS[(i + 2) / 3]
  local status = redis.call('HGET', record, F.status)
  if not status or status == S.queued then
    redis.call('XDEL', K.stream, entry)
    if status then
      redis.call('HSET', record, F.status, S.cancelled, F.updated, A.now_ms)
      expire(record)
    end
    if redis.call('HGET', K.import_urls, url) == job_id then
      redis.call('ZADD', K.drain, 'NX', A.now_ms, drain_after_member(A.import_id, url))
    end
  end
end
if A.done == '1' then
  redis.call('ZREM', K.drain, A.member)
  return {'done'}
end
redis.call('HSET', K.import, I.cancel_cursor, A.cursor)
return {'more'}
