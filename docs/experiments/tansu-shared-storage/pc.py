"""Produce keyed messages at a fixed rate with the API's producer settings while a consumer
group (the worker's settings) reads them; print per-second counts and errors; at the end
check every acknowledged message was consumed. Usage: pc.py BOOTSTRAP SECONDS RATE"""
import sys, time, threading, collections
from confluent_kafka import Producer, Consumer, KafkaError
boot, secs, rate = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
run = "r%d" % int(time.time())
kill_at = float(sys.argv[4]) if len(sys.argv) > 4 else None
kill_pid = sys.argv[5] if len(sys.argv) > 5 else None
base = {"bootstrap.servers": boot, "socket.keepalive.enable": True, "reconnect.backoff.ms": 50,
        "reconnect.backoff.max.ms": 250, "topic.metadata.refresh.interval.ms": 10000}
errs = collections.Counter(); acked = set(); lock = threading.Lock(); log = []
def on_err(e): 
    with lock: errs["client:" + e.name()] += 1; log.append((round(time.time()-t0,2), "client", str(e)))
p = Producer({**base, "enable.idempotence": True, "acks": "all", "linger.ms": 1,
              "message.timeout.ms": 10000, "request.timeout.ms": 5000, "error_cb": on_err})
seen = collections.Counter(); stop = threading.Event()
from confluent_kafka.admin import AdminClient, NewTopic
topic = "o" + run
adm = AdminClient({"bootstrap.servers": boot})
for f in adm.create_topics([NewTopic(topic, 3, 1)]).values(): f.result()
print("topic", topic, flush=True)
def consume():
    c = Consumer({**base, "group.id": "kx-" + run, "enable.auto.commit": False, "auto.offset.reset": "earliest",
                  "session.timeout.ms": 6000, "heartbeat.interval.ms": 1000, "fetch.wait.max.ms": 50, "error_cb": on_err, **({"debug": "metadata,broker,cgrp"} if __import__("os").environ.get("KDEBUG") else {})})
    c.subscribe([topic])
    idle = 0; last = [0.0]
    while not (stop.is_set() and idle > 40):
        m = c.poll(0.1)
        if m is None: idle += 1; continue
        if m.error():
            with lock: errs["consume:" + m.error().name()] += 1; log.append((round(time.time()-t0,2), "consume", str(m.error())))
            continue
        idle = 0
        v = m.value().decode()
        if v.startswith(run + "-"): seen[v] += 1
        if time.time() - last[0] < 0.25: continue
        last[0] = time.time()
        try: c.commit(asynchronous=True)
        except Exception as e:
            with lock: errs["commit:" + str(e)[:60]] += 1
    c.close()
t0 = time.time()
th = threading.Thread(target=consume); th.start()
def dr(err, msg):
    with lock:
        if err: errs["deliver:" + err.name()] += 1; log.append((round(time.time()-t0,2), "deliver", str(err)))
        else: acked.add(msg.value().decode())
n = 0; sec = 0
while time.time() - t0 < secs:
    target = int((time.time() - t0) * rate)
    while n < target:
        try: p.produce(topic, key=f"product-{n % 3}", value=f"{run}-{n}", on_delivery=dr); n += 1
        except BufferError: break
    p.poll(0.005)
    if kill_at is not None and time.time() - t0 >= kill_at:
        import os, signal, subprocess, re
        if kill_pid == "busiest":
            ss = subprocess.run(["ss", "-tnp"], capture_output=True, text=True).stdout
            ports = collections.Counter(m for l in ss.splitlines() if ("pid=%s," % os.environ.get("LBPID", os.getpid())) in l for m in re.findall(r"127\.0\.0\.1:(1910[1-3])\s", l))
            print("connections per broker port:", dict(ports), flush=True)
            victim = f"b{int(ports.most_common(1)[0][0]) - 19100}.pid"
        else:
            victim = kill_pid
        os.kill(int(open(victim).read()), signal.SIGKILL); print(f"t={time.time()-t0:.2f}s KILLED broker {victim}", flush=True); kill_at = None
    if int(time.time() - t0) > sec:
        sec = int(time.time() - t0)
        with lock: print(f"t={sec:3d}s sent={n} acked={len(acked)} consumed={sum(seen.values())} errors={dict(errs)}", flush=True)
left = p.flush(30)
stop.set(); th.join(60)
dups = sum(v - 1 for v in seen.values() if v > 1)
lost = len(acked - set(seen))
print(f"END sent={n} acked={len(acked)} unflushed={left} consumed_unique={len(seen)} duplicates_consumed={dups} acked_not_consumed={lost} errors={dict(errs)}")
for l in log[:15]: print("  ", l)
