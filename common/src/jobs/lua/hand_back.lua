-- Put entries a worker holds but will not process back at the end of the
-- stream, so another worker takes them at once.
-- KEYS[1] job stream; ARGV[1] group; ARGV[2..] entry ids
local moved = 0
for i = 2, #ARGV do
  local entries = redis.call('XRANGE', KEYS[1], ARGV[i], ARGV[i])
  if #entries == 1 then
    redis.call('XADD', KEYS[1], '*', unpack(entries[1][2]))
    moved = moved + 1
  end
  redis.call('XACK', KEYS[1], ARGV[1], ARGV[i])
  redis.call('XDEL', KEYS[1], ARGV[i])
end
return moved
