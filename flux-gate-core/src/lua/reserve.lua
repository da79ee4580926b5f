-- Flux-Gate reservation: the whole decision for one order attempt, atomically.
--
-- KEYS[1] stock   KEYS[2] idem   KEYS[3] user counter   KEYS[4] outbox   KEYS[5] sale hash
-- ARGV[1] user id   ARGV[2] order id   ARGV[3] idempotency TTL (s)   ARGV[4] order message JSON
--
-- Every read and check comes before the first write, so a refused attempt changes nothing.
-- Every reply starts with ARGV[2], the caller's order id, echoed so the caller can prove the
-- reply is its own (a connection whose requests were dropped by a proxy would otherwise hand
-- replies to the wrong callers). After the echo, one of:
--   {'replay', '<orderId>|<userId>'}  the key was seen before; the caller compares the user
--   {'unknown_product'}               no sale for this product
--   {'sold_out'}
--   {'user_limit'}
--   {'reserved', '<outbox entry id>'}

local prior = redis.call('GET', KEYS[2])
if prior then
  return {ARGV[2], 'replay', prior}
end

local stock = redis.call('GET', KEYS[1])
if not stock then
  return {ARGV[2], 'unknown_product'}
end
if tonumber(stock) <= 0 then
  return {ARGV[2], 'sold_out'}
end

local limit = tonumber(redis.call('HGET', KEYS[5], 'per_user_limit') or '0')
if limit > 0 then
  local held = tonumber(redis.call('GET', KEYS[3]) or '0')
  if held >= limit then
    return {ARGV[2], 'user_limit'}
  end
end

-- Checks passed: reserve.
redis.call('DECR', KEYS[1])
if limit > 0 then
  redis.call('INCR', KEYS[3])
end
redis.call('SET', KEYS[2], ARGV[2] .. '|' .. ARGV[1], 'EX', ARGV[3])
local entry = redis.call('XADD', KEYS[4], '*', 'order', ARGV[4])
return {ARGV[2], 'reserved', entry}
