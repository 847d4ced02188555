-- The transition context's lists. A transition touches the records of
-- jobs named in two lists, the head of the user's parked list and the
-- items waiting behind the job's URL; every key a script touches must be
-- among its KEYS, so the caller reads those lists first and passes the
-- records (K.parked_next_record, WAITING). Before using them a script checks that
-- the lists are still as read; when not, it changes nothing and answers
-- `stale`, with the lists as they are now, and the caller runs it again.

-- Whether the head of the user's parked list is A.parked_next ('' for an
-- empty list).
local function parked_fresh()
  return (redis.call('LINDEX', K.parked, 0) or '') == A.parked_next
end

-- Whether the first BATCH items waiting behind the job's URL are those of
-- WAITING.
local function waiting_fresh()
  local ids = redis.call('LRANGE', K.import_after, 0, BATCH - 1)
  if #ids ~= #WAITING then
    return false
  end
  for i, id in ipairs(ids) do
    if WAITING[i].id ~= id then
      return false
    end
  end
  return true
end

-- The answer of a script whose lists changed: `stale`, the head of the
-- parked list ('' for none) and the first BATCH ids waiting behind the
-- job's URL.
local function stale()
  local answer = {'stale', redis.call('LINDEX', K.parked, 0) or ''}
  if A.import_id ~= '' then
    for _, id in ipairs(redis.call('LRANGE', K.import_after, 0, BATCH - 1)) do
      answer[#answer + 1] = id
    end
  end
  return answer
end

-- The end of a running job: its slot is given back, which may move the
-- user's oldest parked job (K.parked_next_record) back to its stream.
local function release_own_slot()
  release_slot(K.running, K.parked, K.parked_next_record, A.user_id, A.job_id, A.parked_next)
end

-- The opening of a script that ends an attempt with an outcome (complete,
-- fail): the recorded-once guard, then the check of the lists the
-- outcome uses. Returns the answer to give at once, if any; else nil, the
-- job's import item (or nil), whether it is the first of its URL, and
-- the record's `job_fields`.
local function ending_attempt()
  local job = job_fields()
  if recorded_before(job) then
    return {'recorded_before'}
  end
  local item = import_item()
  local first = item and import_first(item.url)
  if not parked_fresh() or (first and not waiting_fresh()) then
    return stale()
  end
  return nil, item, first, job
end
