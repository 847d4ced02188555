-- Webhook deliveries, recorded by the scripts that make their events.

-- The host and port of a callback URL, lowercased, as its URL writes
-- them: what its back-off and its pools' bound per host are kept under
-- (the API lets in no URL with credentials).
local function hook_host(url)
  local authority = string.match(url, '^%a[%w+.-]*://([^/?#]+)')
  return authority and string.lower(authority) or ''
end

-- Records a delivery to `url` for `target` of one event of type `kind`
-- for each table of `datas` (stored as JSON), due at once, with one call
-- of each command for them all; nothing for no URL. A client's callback
-- goes in a lane of its own, and counts against its user's pending
-- callbacks.
local function hook_add_all(url, target, kind, datas)
  if not url or url == '' or #datas == 0 then
    return
  end
  local last = redis.call('INCRBY', K.hook_seq, #datas)
  local callback = target == 'callback'
  local host = callback and hook_host(url) or ''
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
    if callback then
      delivery[W.host] = host
      if type(data.userId) == 'string' then
        delivery[W.user] = data.userId
        redis.call('HINCRBY', K.hook_callback_users, data.userId, 1)
      end
    end
    records[#records + 1] = id
    records[#records + 1] = cjson.encode(delivery)
    due[#due + 1] = A.now_ms
    due[#due + 1] = id
  end
  redis.call('HSET', K.hook_deliveries, unpack(records))
  redis.call('ZADD', callback and K.hook_due_callbacks or K.hook_due, unpack(due))
  redis.call('ZADD', K.hook_pending, unpack(due))
  -- The lane and the last number, so that pools claim from that lane.
  redis.call('PUBLISH', A.hook_channel, target .. ':' .. tostring(last))
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
