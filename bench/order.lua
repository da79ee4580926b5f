-- wrk script: every request is a new buyer with a new idempotency key (a flash-sale herd).
-- PRODUCT (default `bench`) picks the sale. done() prints the tail wrk's --latency omits.
local thread_counter = 0
setup = function(thread)
  thread:set("tid", thread_counter)
  thread_counter = thread_counter + 1
end
local n = 0
product = os.getenv("PRODUCT") or "bench"
request = function()
  n = n + 1
  local key = tid .. "-" .. n
  return wrk.format("POST", "/order",
    { ["Content-Type"] = "application/json", ["x-idempotency-key"] = "b" .. key },
    '{"productId":"' .. product .. '","userId":"u' .. key .. '"}')
end
done = function(summary, latency, requests)
  io.write(string.format("TAIL p99.9 %d us max %d us\n", latency:percentile(99.9), latency.max))
end
