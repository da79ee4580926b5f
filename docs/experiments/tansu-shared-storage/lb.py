"""TCP balancer on 127.0.0.1:19100 over the three brokers: round robin per connection, next
backend when a connect is refused (what an L4 load balancer or DNS round robin would do)."""
import asyncio, itertools
backends = itertools.cycle([19101, 19102, 19103])
async def pipe(r, w):
    try:
        while data := await r.read(65536):
            w.write(data); await w.drain()
    except Exception: pass
    finally:
        try: w.close()
        except Exception: pass
async def handle(cr, cw):
    for _ in range(3):
        port = next(backends)
        try: br, bw = await asyncio.open_connection("127.0.0.1", port); break
        except OSError: continue
    else:
        cw.close(); return
    await asyncio.gather(pipe(cr, bw), pipe(br, cw))
async def main():
    s = await asyncio.start_server(handle, "127.0.0.1", 19100)
    async with s: await s.serve_forever()
asyncio.run(main())
