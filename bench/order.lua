-- wrk script: every request is a new buyer with a new idempotency key (a flash-sale herd).
local thread_counter = 0
setup = function(thread)
  thread:set("tid", thread_counter)
  thread_counter = thread_counter + 1
end
local n = 0
request = function()
  n = n + 1
  local key = tid .. "-" .. n
  return wrk.format("POST", "/order",
    { ["Content-Type"] = "application/json", ["x-idempotency-key"] = "b" .. key },
    '{"productId":"bench","userId":"u' .. key .. '"}')
end
