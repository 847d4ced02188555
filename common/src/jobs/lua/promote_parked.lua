-- Move parked jobs back to the stream for users now under the cap: the
-- leases of their running jobs ran out without the jobs ending, as when a
-- worker died. For each user REST holds the user id and the id at the head
-- of the user's parked list as the caller read it, and REST_KEYS the
-- user's running set, parked list and that job's record; a user whose
-- list's head has changed since is left to the next round.
for i = 1, #REST, 2 do
  local user_id, head = REST[i], REST[i + 1]
  local k = (i - 1) / 2 * 3
  local running, parked, next_record = REST_KEYS[k + 1], REST_KEYS[k + 2], REST_KEYS[k + 3]
  if (redis.call('LINDEX', parked, 0) or '') == head then
    if head == '' then
      redis.call('ZREM', K.parked_users, user_id)
    else
      release_slot(running, parked, next_record, user_id, '', head)
    end
  end
end
return {'done'}
