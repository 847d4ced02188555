-- One batch of the items waiting behind an import's URL that a transition
-- of the URL's first item left to the drain (import_after_done): REST
-- holds the ids of the first BATCH of them as the caller read them, and
-- REST_KEYS their records. They are cancelled when the import was, sent
-- to K.stream when the URL's avatar is stored, and failed when its first
-- item failed for good. Answers `stale` when the list's head is not as
-- read, `more` when items are left, `done` when none are (then the drain
-- forgets A.member).
for i, id in ipairs(REST) do
  WAITING[i] = {id = id, record = REST_KEYS[i]}
end
local ids = redis.call('LRANGE', K.import_after, 0, BATCH - 1)
if #ids ~= #WAITING then
  return {'stale'}
end
for i, id in ipairs(ids) do
  if WAITING[i].id ~= id then
    return {'stale'}
  end
end
local state = redis.call('HGET', K.import_urls, A.url)
local failed = state and string.sub(state, 1, 1) == '!'
if redis.call('HGET', K.import, I.status) ~= IS.running then
  import_end_waiting(A.url, S.cancelled, '', '')
elseif failed then
  local failure = cjson.decode(string.sub(state, 2))
  import_end_waiting(A.url, S.failed, failure.code, failure.message)
else
  import_release_waiting()
end
if #WAITING > 0 then
  redis.call('LTRIM', K.import_after, #WAITING, -1)
end
if redis.call('EXISTS', K.import_after) == 1 then
  return {'more'}
end
redis.call('ZREM', K.drain, A.member)
if failed then
  redis.call('HDEL', K.import_urls, A.url)
end
import_settle()
return {'done'}
