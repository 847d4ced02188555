-- The bookkeeping of an import's items, on the keys of the job's import
-- (K.import, K.import_failures, K.import_urls and K.import_after, the
-- items waiting for the first item of the job's URL) and, for the items
-- those name, WAITING: the ids and record keys the caller read from
-- K.import_after, which `waiting_fresh` checks before they are used.

-- The job's place in its import, from its record's `job_fields`:
-- `{index, user, url}`, or nil for a job that is no import item.
local function import_item(job)
  if A.import_id == '' then
    return nil
  end
  return {index = job.index, user = job.user, url = job.url}
end

-- Whether the job is the first item of `url` in its import, the one the
-- items of K.import_after wait for.
local function import_first(url)
  return redis.call('HGET', K.import_urls, url) == A.job_id
end

-- Moves one item of the import from count `from` to count `to`.
local function import_move(from, to)
  redis.call('HINCRBY', K.import, from, -1)
  redis.call('HINCRBY', K.import, to, 1)
  redis.call('HSET', K.import, I.updated, A.now_ms)
end

-- Lists a failed item of the import.
local function import_failure(index, user_id, url, code, message)
  local entry = cjson.encode({index = tonumber(index), userId = user_id, avatarUrl = url,
    error = {code = code, message = message}})
  redis.call('ZADD', K.import_failures, index, entry)
end

-- Ends the import once its body is read and none of its items is queued
-- or processing: it is completed unless it was cancelled, its keys expire
-- like ended records, and `import.completed` is recorded for the
-- operator's URL and the import's callback.
local function import_settle()
  local f = redis.call('HMGET', K.import, I.status, I.queued, I.processing, I.open, I.finished,
    I.id, I.callback)
  if not f[1] or f[4] or f[5] or tonumber(f[2]) > 0 or tonumber(f[3]) > 0 then
    return
  end
  if f[1] == IS.running then
    redis.call('HSET', K.import, I.status, IS.completed)
  end
  redis.call('HSET', K.import, I.finished, A.now_ms, I.updated, A.now_ms)
  hook_event(f[7], ET.import_completed, {importId = f[6]})
  for _, key in ipairs({K.import, K.import_failures, K.import_urls}) do
    expire(key)
  end
end

-- Sends the items waiting for the job to K.stream, rebuilt from their
-- records: the first of their URL has stored its avatar.
local function import_release_after()
  for _, item in ipairs(WAITING) do
    add_entry_of(item.record, K.stream)
  end
  redis.call('DEL', K.import_after)
end

-- Ends the items waiting for the job as `status`: failed, with `code`
-- and `message`, recorded for the operator's URL as `avatar.failed`; or
-- cancelled. A failed one moves from the queued count; a cancelled one
-- was counted by the cancel.
local function import_end_after(url, status, code, message)
  for _, item in ipairs(WAITING) do
    local f = redis.call('HMGET', item.record, F.index, F.user)
    redis.call('HSET', item.record, F.status, status, F.updated, A.now_ms)
    if status == S.failed then
      redis.call('HSET', item.record, F.error_code, code, F.error_message, message)
      import_failure(f[1], f[2], url, code, message)
      import_move(I.queued, I.failed)
      hook_add(A.hook_url, 'operator', ET.avatar_failed,
        {userId = f[2], jobId = item.id, error = {code = code, message = message}})
    end
    expire(item.record)
  end
  redis.call('DEL', K.import_after)
end

-- The first item of `url` (the job) will not store an avatar: the next
-- item waiting for it takes its place and goes to K.stream, or the URL is
-- forgotten.
local function import_pass_on(url)
  local next_item = WAITING[1]
  if not next_item then
    redis.call('HDEL', K.import_urls, url)
    return
  end
  redis.call('LPOP', K.import_after)
  redis.call('HSET', K.import_urls, url, next_item.id)
  add_entry_of(next_item.record, K.stream)
end
