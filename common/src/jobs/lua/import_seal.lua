-- The import's body has been read whole: no item will be added, so the
-- import may end once its items have. Returns its total.
redis.call('HDEL', K.import, I.open)
import_settle()
return tonumber(redis.call('HGET', K.import, I.total) or '0')
