-- Webhook deliveries, recorded by the scripts that make their events.

-- Records a delivery to `url` for `target` of one event of type `kind`
-- for each table of `datas` (stored as JSON), due at once, with one call
-- of each command for them all; nothing for no URL.
local function hook_add_all(url, target, kind, datas)
  if not url or url == '' or #datas == 0 then
    return
  end
  local last = redis.call('INCRBY', K.hook_seq, #datas)
  local records, due = {}, {}
  for i, data in ipairs(datas) do
    local id = tostring(last - #datas + i)
    local delivery = {}
    delivery[W.id] = id
    delivery[W.url] = url
    delivery[W.target] = target
    delivery[W.type] = kind
    delivery[W.data] = cjson.encode(data)
    delivery[W.created] = A.now_ms
    delivery[W.attempts] = '0'
    records[#records + 1] = id
    records[#records + 1] = cjson.encode(delivery)
    due[#due + 1] = A.now_ms
    due[#due + 1] = id
  end
  redis.call('HSET', K.hook_deliveries, unpack(records))
  redis.call('ZADD', K.hook_due, unpack(due))
  redis.call('ZADD', K.hook_pending, unpack(due))
  redis.call('PUBLISH', A.hook_channel, tostring(last))
end

-- Records a delivery of an event of type `kind` with `data` (a table,
-- stored as JSON) to `url` for `target`, due at once; nothing for no URL.
local function hook_add(url, target, kind, data)
  hook_add_all(url, target, kind, {data})
end

-- Records an event for the operator's URL (A.hook_url) and, when given, a
-- client's.
local function hook_event(callback_url, kind, data)
  hook_add(A.hook_url, 'operator', kind, data)
  hook_add(callback_url, 'callback', kind, data)
end
