-- A webhook delivery has ended: delivered, or given up. Forget it.
redis.call('DEL', A.hook_prefix .. A.id)
redis.call('ZREM', K.due, A.id)
redis.call('ZREM', K.pending, A.id)
return 1
