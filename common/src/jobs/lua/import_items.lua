-- Accept a batch of an import's items, in index order, each as if it were a
-- PUT accepted now: a valid item is stamped (strictly after its user's last
-- update), recorded as a queued job, and either added to the stream or,
-- when an earlier item of the import names the same URL and has not stored
-- its avatar yet, put in that item's list to wait for it. An invalid item
-- is listed among the failures. REST holds six values per item: 'job',
-- index, job id, user id, job JSON, URL; or 'bad', index, failure JSON and
-- three empty values.
local jobs, bad = 0, 0
for i = 1, #REST, 6 do
  local kind, index = REST[i], REST[i + 1]
  if kind == 'bad' then
    redis.call('ZADD', K.failures, index, REST[i + 2])
    bad = bad + 1
  else
    local job_id, user_id, job_json, url = REST[i + 2], REST[i + 3], REST[i + 4], REST[i + 5]
    local user = A.user_prefix .. user_id
    local stamp = tonumber(A.now_ms)
    local last = tonumber(redis.call('HGET', user, U.last) or '0')
    if stamp <= last then
      stamp = last + 1
    end
    stamp = string.format('%d', stamp)
    redis.call('HSET', user, U.last, stamp)
    redis.call('HSET', A.record_prefix .. job_id,
      F.id, job_id, F.user, user_id, F.status, S.queued, F.stamp, stamp,
      F.created, A.now_ms, F.updated, A.now_ms, F.accepted_us, A.now_us,
      F.attempts, 0, F.retry_from, A.now_ms, F.job, job_json, F.stream, K.stream,
      F.import, A.import_id, F.index, index, F.url, url)
    local first = redis.call('HGET', K.urls, url)
    if not first then
      redis.call('HSET', K.urls, url, job_id)
      redis.call('XADD', K.stream, '*', E.job, job_json, E.stamp, stamp)
    elseif string.sub(first, 1, 1) == '=' then
      -- Stored already: this item's worker copies that avatar.
      redis.call('XADD', K.stream, '*', E.job, job_json, E.stamp, stamp)
    else
      redis.call('RPUSH', import_after(K.import, first), job_id)
    end
    jobs = jobs + 1
  end
end
redis.call('HINCRBY', K.import, I.total, jobs + bad)
redis.call('HINCRBY', K.import, I.queued, jobs)
redis.call('HINCRBY', K.import, I.failed, bad)
redis.call('HSET', K.import, I.updated, A.now_ms)
return jobs
