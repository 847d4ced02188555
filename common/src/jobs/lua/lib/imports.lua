-- The bookkeeping of an import's items, on the keys of the job's import
-- (K.import, K.import_failures, K.import_urls and K.import_after, the
-- items waiting for the first item of the job's URL) and, for the items
-- those name, WAITING: the ids and record keys the caller read from
-- K.import_after, which `waiting_fresh` checks before they are used.

-- The job's place in its import, from the context: `{index, user, url}`,
-- or nil for a job that is no import item.
local function import_item()
  if A.import_id == '' then
    return nil
  end
  return {index = A.import_index, user = A.user_id, url = A.import_url}
end

-- Whether the job is the first item of `url` in its import, the one the
-- items of K.import_after wait for.
local function import_first(url)
  return redis.call('HGET', K.import_urls, url) == A.job_id
end

-- Moves `n` items (one when not given) of the import from count `from`
-- to count `to`.
local function import_move(from, to, n)
  n = n or 1
  redis.call('HINCRBY', K.import, from, -n)
  redis.call('HINCRBY', K.import, to, n)
  redis.call('HSET', K.import, I.updated, A.now_ms)
end

-- `text` cut to at most FAILURE_TEXT_BYTES at a UTF-8 character
-- boundary, marked with '...' (as `clip_failure_text` in Rust).
local function clip(text)
  if type(text) ~= 'string' or #text <= FAILURE_TEXT_BYTES then
    return text
  end
  local cut = FAILURE_TEXT_BYTES
  while cut > 0 do
    local next_byte = string.byte(text, cut + 1)
    if next_byte < 128 or next_byte >= 192 then
      break
    end
    cut = cut - 1
  end
  return string.sub(text, 1, cut) .. '...'
end

-- The entry of a failed item in the import's failures.
local function import_failure_entry(index, user_id, url, code, message)
  return cjson.encode({index = tonumber(index), userId = clip(user_id), avatarUrl = clip(url),
    error = {code = code, message = clip(message)}})
end

-- Adds the failure entries `scored` (score, entry, score, entry ...) to
-- `key`, as many as fit under FAILURES_KEPT; past it, only the import's
-- count of failed items grows.
local function import_failures_add(key, scored)
  local room = FAILURES_KEPT - redis.call('ZCARD', key)
  if room <= 0 or #scored == 0 then
    return
  end
  if #scored > room * 2 then
    scored = {unpack(scored, 1, room * 2)}
  end
  redis.call('ZADD', key, unpack(scored))
end

-- Lists a failed item of the import.
local function import_failure(index, user_id, url, code, message)
  import_failures_add(K.import_failures, {index,
    import_failure_entry(index, user_id, url, code, message)})
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

-- The items waiting behind a URL are handled BATCH at a time: a
-- transition of the URL's first item ends or releases those of WAITING
-- (the list's head), and lists the rest in K.drain, where the workers'
-- drain (import_drain.lua) takes them a batch at a time.

-- Sends the WAITING items to K.stream, rebuilt from their records: the
-- first of their URL has stored its avatar.
local function import_release_waiting()
  for _, item in ipairs(WAITING) do
    add_entry_of(item.record, K.stream)
  end
end

-- Ends the WAITING items as `status`: failed, with `code` and `message`,
-- recorded for the operator's URL as `avatar.failed`; or cancelled. The
-- failed ones move from the queued count; cancelled ones were counted by
-- the cancel. Each command that can take them all is called once.
local function import_end_waiting(url, status, code, message)
  local failures, events = {}, {}
  for _, item in ipairs(WAITING) do
    if status == S.failed then
      local f = redis.call('HMGET', item.record, F.index, F.user)
      redis.call('HSET', item.record, F.status, status, F.updated, A.now_ms,
        F.error_code, code, F.error_message, message)
      failures[#failures + 1] = f[1]
      failures[#failures + 1] = import_failure_entry(f[1], f[2], url, code, message)
      events[#events + 1] = {userId = f[2], jobId = item.id,
        error = {code = code, message = message}}
    else
      redis.call('HSET', item.record, F.status, status, F.updated, A.now_ms)
    end
    expire(item.record)
  end
  if #events > 0 then
    import_failures_add(K.import_failures, failures)
    import_move(I.queued, I.failed, #events)
    hook_add_all(A.hook_url, 'operator', ET.avatar_failed, events)
  end
end

-- The members of K.drain (read back by `DrainWork` in queue/keys.rs): the
-- items of import `import_id` waiting behind `url`, and a cancelled
-- import's stream entries.
local function drain_after_member(import_id, url)
  return 'after\n' .. import_id .. '\n' .. url
end

local function drain_cancel_member(import_id)
  return 'cancel\n' .. import_id
end

-- Takes the WAITING items, handled, off the head of the list behind
-- `url`; when items are left there, lists them in K.drain. Returns whether
-- any are left.
local function import_after_done(url)
  if #WAITING > 0 then
    redis.call('LTRIM', K.import_after, #WAITING, -1)
  end
  if redis.call('EXISTS', K.import_after) == 0 then
    return false
  end
  redis.call('ZADD', K.drain, 'NX', A.now_ms, drain_after_member(A.import_id, url))
  return true
end

-- The first item of `url` stored its avatar (`avatar`: its key, sides and
-- placeholder, separated by `|`): the items of the
-- import that name `url` from now on copy it, and those waiting for it
-- go to K.stream.
local function import_release_after(url, avatar)
  redis.call('HSET', K.import_urls, url, '=' .. avatar)
  import_release_waiting()
  import_after_done(url)
end

-- The first item of `url` failed for good, with `code` and `message`, or
-- was cancelled (`status`): the items waiting for it end so. While some
-- are left for the drain, the URL's entry in K.import_urls holds the
-- failure (`!` and its JSON), so that items naming the URL meanwhile wait
-- and end with them; then the URL is forgotten.
local function import_end_after(url, status, code, message)
  import_end_waiting(url, status, code, message)
  if import_after_done(url) then
    redis.call('HSET', K.import_urls, url, '!' .. cjson.encode({code = code, message = message}))
  else
    redis.call('HDEL', K.import_urls, url)
  end
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
