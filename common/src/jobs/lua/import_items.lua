-- Accept a batch of an import's items, in index order, each as if it were a
-- PUT accepted now: a valid item is stamped (strictly after its user's last
-- update) and either added to the stream or, when an earlier item of the
-- import names the same URL and has not stored its avatar yet, recorded as
-- a queued job (with its JSON, which has no entry yet) in the list of the
-- items waiting for it. An item added to the stream has no record until a
-- worker takes it (start.lua): its entry holds all there is of it, so an
-- item costs Redis its entry, its URL in the import's index and its stamp.
-- An invalid item is listed among the failures.
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
  local first = redis.call('HGET', K.urls, url)
  if first and string.sub(first, 1, 1) ~= '=' then
    record_queued(record, job_id, user_id, stamp, K.stream, A.now_ms, A.now_us, A.now_ms,
      {F.job, job_json, F.import, A.import_id, F.index, index})
    redis.call('RPUSH', after, job_id)
  else
    -- The first of its URL, or (stored already) one that copies its avatar.
    if not first then
      redis.call('HSET', K.urls, url, job_id)
    end
    add_entry(K.stream, job_json, stamp)
  end
  jobs = jobs + 1
end
redis.call('HINCRBY', K.import, I.total, jobs + invalid)
redis.call('HINCRBY', K.import, I.queued, jobs)
redis.call('HINCRBY', K.import, I.failed, invalid)
redis.call('HSET', K.import, I.updated, A.now_ms)
return jobs
