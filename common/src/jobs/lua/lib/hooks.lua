-- Webhook deliveries, recorded by the scripts that make their events.

-- Records a delivery of an event of type `kind` with `data` (a table,
-- stored as JSON) to `url` for `target`, due at once; nothing for no URL.
local function hook_add(url, target, kind, data)
  if not url or url == '' then
    return
  end
  local id = redis.call('INCR', K.hook_seq)
  local delivery = {}
  delivery[W.id] = tostring(id)
  delivery[W.url] = url
  delivery[W.target] = target
  delivery[W.type] = kind
  delivery[W.data] = cjson.encode(data)
  delivery[W.created] = A.now_ms
  delivery[W.attempts] = '0'
  redis.call('HSET', K.hook_deliveries, id, cjson.encode(delivery))
  redis.call('ZADD', K.hook_due, A.now_ms, id)
  redis.call('ZADD', K.hook_pending, A.now_ms, id)
  redis.call('PUBLISH', A.hook_channel, id)
end

-- Records an event for the operator's URL (A.hook_url) and, when given, a
-- client's.
local function hook_event(callback_url, kind, data)
  hook_add(A.hook_url, 'operator', kind, data)
  hook_add(callback_url, 'callback', kind, data)
end
