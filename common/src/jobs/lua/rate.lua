-- One request against a rate limit, by the generic cell rate algorithm:
-- the bucket holds the theoretical arrival time of the next request (unix
-- µs); a request is let in while that time is at most `burst - 1`
-- intervals ahead of now (A.now_us, the caller's clock: API hosts kept in
-- time by NTP agree to far less than one interval), and moves it one
-- interval on. Answers `allowed`, or `limited` and the µs until a request
-- would be let in.
local now = tonumber(A.now_us)
local interval = tonumber(A.interval_us)
local tat = tonumber(redis.call('GET', K.bucket) or now)
if tat < now then
  tat = now
end
local allowed_from = tat - interval * (tonumber(A.burst) - 1)
if now < allowed_from then
  return {'limited', string.format('%d', allowed_from - now)}
end
local next_tat = tat + interval
redis.call('SET', K.bucket, string.format('%d', next_tat),
  'PX', string.format('%d', math.ceil((next_tat - now) / 1000)))
return {'allowed'}
