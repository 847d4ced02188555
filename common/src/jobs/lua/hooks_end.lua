-- A webhook delivery has ended: delivered, or given up. Forget it.
redis.call('HDEL', K.hook_deliveries, A.id)
redis.call('ZREM', K.hook_due, A.id)
redis.call('ZREM', K.hook_pending, A.id)
return {'ended'}
