-- Put entries a worker holds but will not process back at the end of the
-- stream, so another worker takes them at once.
local moved = 0
for _, entry in ipairs(REST) do
  local entries = redis.call('XRANGE', K.stream, entry, entry)
  if #entries == 1 then
    redis.call('XADD', K.stream, '*', unpack(entries[1][2]))
    moved = moved + 1
  end
  ack(K.stream, entry)
end
return moved
