-- Stored avatars that stop being, or never become, current.

-- Schedules the deletion of the avatar under `key` (every side of it, the
-- worker's garbage collection deletes its folder) at `after` (unix ms),
-- and lists it among its user's avatars not current (K.retained), so that
-- a DELETE of the user's avatar finds it and deletes it at once.
local function discard(key, after)
  redis.call('ZADD', K.garbage, after, key)
  redis.call('ZADD', K.retained, after, key)
end
