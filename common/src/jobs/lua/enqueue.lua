-- Accept a job: stamp it, record it and add it to the stream, atomically;
-- or, when its idempotency key was seen before, answer the earlier job.
if A.idempotency_key ~= '' then
  local earlier = redis.call('GET', K.idempotency)
  if earlier then
    return {'repeated', earlier}
  end
  redis.call('SET', K.idempotency, A.job_id, 'EX', A.idempotency_ttl_secs)
end
local stamp = next_stamp(K.user)
local extra = nil
if A.callback_url ~= '' then
  extra = {F.callback, A.callback_url}
end
record_queued(K.job, A.job_id, A.user_id, stamp, K.stream, A.now_ms, A.now_us, A.now_ms, extra)
add_entry(K.stream, A.job_json, stamp)
return {'accepted', stamp}
