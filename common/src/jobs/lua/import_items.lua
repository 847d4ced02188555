-- Accept a batch of an import's items, in index order, each as if it were a
-- PUT accepted now: a valid item is stamped (strictly after its user's last
-- update), recorded as a queued job, and either added to the stream or,
-- when an earlier item of the import names the same URL and has not stored
-- its avatar yet, put in the list of the items waiting for it. An invalid
-- item is listed among the failures.
--
-- REST holds, first, two values per invalid item (index, failure JSON),
-- A.invalid of them; then five per valid item (index, job id, user id, job
-- JSON, URL), whose keys REST_KEYS holds, three per item: the user's hash,
-- the job's record and the list of the items waiting behind its URL.
local invalid = tonumber(A.invalid)
if invalid > 0 then
  import_failures_add(K.failures, {unpack(REST, 1, invalid * 2)})
end
local jobs = 0
for i = invalid * 2 + 1, #REST, 5 do
  local index, job_id, user_id, job_json, url = REST[i], REST[i + 1], REST[i + 2], REST[i + 3],
    REST[i + 4]
  local k = jobs * 3
  local user, record, after = REST_KEYS[k + 1], REST_KEYS[k + 2], REST_KEYS[k + 3]
  local stamp = next_stamp(user)
  record_queued(record, job_id, user_id, stamp, job_json, K.stream,
    {F.import, A.import_id, F.index, index, F.url, url})
  local first = redis.call('HGET', K.urls, url)
  if not first then
    redis.call('HSET', K.urls, url, job_id)
    add_entry(K.stream, job_json, stamp)
  elseif string.sub(first, 1, 1) == '=' then
    -- Stored already: this item's worker copies that avatar.
    add_entry(K.stream, job_json, stamp)
  else
    redis.call('RPUSH', after, job_id)
  end
  jobs = jobs + 1
end
redis.call('HINCRBY', K.import, I.total, jobs + invalid)
redis.call('HINCRBY', K.import, I.queued, jobs)
redis.call('HINCRBY', K.import, I.failed, invalid)
redis.call('HSET', K.import, I.updated, A.now_ms)
return jobs
