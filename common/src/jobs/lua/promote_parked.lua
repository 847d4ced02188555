-- Move parked jobs back to the stream for users now under the cap: the
-- leases of their running jobs ran out without the jobs ending, as when a
-- worker died.
local users = redis.call('ZRANGE', K.parked_users, 0, tonumber(A.limit) - 1)
for _, user_id in ipairs(users) do
  release_slot(A.running_prefix .. user_id, A.parked_prefix .. user_id, K.parked_users,
    user_id, '', A.cap, A.now_ms, K.stream, A.record_prefix)
end
