import sys, time
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
boot, n = sys.argv[1], int(sys.argv[2]); topic = "tp%d" % int(time.time())
a = AdminClient({"bootstrap.servers": boot}); [f.result() for f in a.create_topics([NewTopic(topic, 3, 1)]).values()]
p = Producer({"bootstrap.servers": boot, "enable.idempotence": True, "acks": "all", "linger.ms": 1, "batch.num.messages": 10000, "queue.buffering.max.messages": 1000000})
ok = [0]; v = b'{"orderId":"0b6c3b8e-8a1e-4a57-9c59-2f1f5b1c7d11","idempotencyKey":"k-000000","productId":"console","userId":"u-000000","reservedAt":"2026-11-28T17:00:00Z"}'
def dr(e, m): ok[0] += e is None
t0 = time.time()
for i in range(n):
    while True:
        try: p.produce(topic, key="console", value=v, on_delivery=dr); break
        except BufferError: p.poll(0.01)
    if i % 1000 == 0: p.poll(0)
p.flush(120); dt = time.time() - t0
print(f"{boot}: {ok[0]}/{n} acked in {dt:.2f} s = {ok[0]/dt:,.0f} msgs/s (one key, one partition)")
