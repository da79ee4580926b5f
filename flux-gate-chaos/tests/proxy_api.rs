//! The embedded fault proxy, through its REST API, in front of a real Redis: Toxiproxy's
//! documented calls and status codes, and toxics that really change what a client sees.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fgchaos::toxiproxy::wire::{ProxyRequest, Toxic};
use fgchaos::toxiproxy::{Client, ClientError, ProxyServer};
use flux_gate_testbed::Redis;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

async fn server() -> (Client, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        ProxyServer::new()
            .serve(listener, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
    });
    (Client::new(format!("http://{addr}")), tx)
}

/// One PING round trip over a fresh connection; `None` on refusal, reset or `limit`.
async fn ping(addr: &str, limit: Duration) -> Option<Duration> {
    let t = Instant::now();
    let attempt = async {
        let mut s = TcpStream::connect(addr).await.ok()?;
        s.write_all(b"PING\r\n").await.ok()?;
        let mut buf = [0u8; 16];
        let n = s.read(&mut buf).await.ok()?;
        buf[..n].starts_with(b"+PONG").then_some(())
    };
    tokio::time::timeout(limit, attempt)
        .await
        .ok()
        .flatten()
        .map(|()| t.elapsed())
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn toxiproxy_api_over_real_redis() {
    let dir = tempfile::tempdir().unwrap();
    // POST /populate creates (201 with {"proxies": [...]}); a listen of :0 gets a real port.
    let (_redis, c, _stop, listen) = redis_behind_a_proxy(dir.path()).await;
    assert!(c.version().await.unwrap().starts_with("2."));
    assert!(!listen.ends_with(":0"), "{listen}");
    assert!(c.proxies().await.unwrap()["redis"].enabled);

    // No toxic: passes through.
    let base = median(
        futures::future::join_all((0..5).map(|_| ping(&listen, Duration::from_secs(2))))
            .await
            .into_iter()
            .map(Option::unwrap)
            .collect(),
    );

    // A connection open before a toxic change gets the new toxic without being closed
    // (docs/decisions.md §15), as with Toxiproxy.
    let mut open = TcpStream::connect(&listen).await.unwrap();
    open.write_all(b"PING\r\n").await.unwrap();
    let mut buf = [0u8; 16];
    assert!(open.read(&mut buf).await.unwrap() > 0);

    // Latency toxic (Toxiproxy's README example shape): a real round trip gets slower by it.
    let t = c
        .add_toxic(
            "redis",
            &Toxic::new(
                "latency",
                "downstream",
                json!({ "latency": 150, "jitter": 0 }),
            ),
        )
        .await
        .unwrap();
    assert_eq!(t.name, "latency_downstream");
    let started = Instant::now();
    let after_change = tokio::time::timeout(Duration::from_secs(2), async {
        open.write_all(b"PING\r\n").await?;
        open.read(&mut buf).await
    })
    .await
    .expect("the open connection must answer");
    assert!(
        matches!(after_change, Ok(n) if buf[..n].starts_with(b"+PONG")),
        "{after_change:?}"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "the open connection gets the new toxic: {:?}",
        started.elapsed()
    );
    let slow = median(
        futures::future::join_all((0..3).map(|_| ping(&listen, Duration::from_secs(3))))
            .await
            .into_iter()
            .map(Option::unwrap)
            .collect(),
    );
    assert!(
        slow >= Duration::from_millis(150),
        "latency toxic: {slow:?}"
    );
    assert!(
        slow < base + Duration::from_millis(400),
        "latency toxic: {slow:?} (base {base:?})"
    );
    // Same name again: 409.
    let dup = c.add_toxic("redis", &t).await.unwrap_err();
    assert!(matches!(dup, ClientError::Api { status: 409, .. }), "{dup}");
    assert_eq!(c.toxics("redis").await.unwrap().len(), 1);
    c.remove_toxic("redis", "latency_downstream").await.unwrap();
    assert!(c.toxics("redis").await.unwrap().is_empty());
    let after = ping(&listen, Duration::from_secs(2)).await.unwrap();
    assert!(after < Duration::from_millis(100), "healed: {after:?}");

    // Blackhole (timeout 0, both ways): connections open but nothing comes back.
    for s in ["upstream", "downstream"] {
        let mut b = Toxic::new("timeout", s, json!({ "timeout": 0 }));
        b.name = format!("blackhole-{s}");
        c.add_toxic("redis", &b).await.unwrap();
    }
    assert_eq!(
        ping(&listen, Duration::from_millis(500)).await,
        None,
        "blackholed"
    );
    c.reset().await.unwrap();
    assert!(
        ping(&listen, Duration::from_secs(2)).await.is_some(),
        "reset heals"
    );

    // Disabled: refused; enabled again: back. A disabled proxy keeps its toxics.
    c.add_toxic(
        "redis",
        &Toxic::new("latency", "downstream", json!({ "latency": 120 })),
    )
    .await
    .unwrap();
    let p = c.set_enabled("redis", false).await.unwrap();
    assert!(!p.enabled);
    assert!(
        TcpStream::connect(&listen).await.is_err(),
        "disabled proxy must refuse"
    );
    let p = c.set_enabled("redis", true).await.unwrap();
    assert!(p.enabled && p.toxics.len() == 1);
    let d = ping(&listen, Duration::from_secs(2)).await.unwrap();
    assert!(
        d >= Duration::from_millis(120),
        "toxic survives disable/enable: {d:?}"
    );

    // Errors carry Toxiproxy's status codes.
    let e = c.proxy("nope").await.unwrap_err();
    assert!(
        matches!(e, ClientError::Api { status: 404, ref message, .. } if message == "proxy not found"),
        "{e}"
    );
    let e = c
        .add_toxic("redis", &Toxic::new("reset_peer", "downstream", json!({})))
        .await
        .unwrap_err();
    assert!(
        matches!(e, ClientError::Api { status: 400, ref message, .. } if message.contains("invalid toxic")),
        "{e}"
    );
    let e = c.remove_toxic("redis", "nope").await.unwrap_err();
    assert!(matches!(e, ClientError::Api { status: 404, .. }), "{e}");
    c.delete("redis").await.unwrap();
    assert!(c.proxies().await.unwrap().is_empty());
    assert!(
        TcpStream::connect(&listen).await.is_err(),
        "deleted proxy must stop listening"
    );
}

#[tokio::test]
async fn raw_api_shapes_and_bad_bodies() {
    let (c, _stop) = server().await;
    let http = reqwest::Client::new();
    let base = c.base().to_owned();
    // POST /proxies → 201; again → 409; missing upstream → 400 with Toxiproxy's error body.
    let r = http
        .post(format!("{base}/proxies"))
        .json(&json!({"name": "a", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:9"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["name"], "a");
    assert_eq!(body["toxics"], json!([]));
    let r = http
        .post(format!("{base}/proxies"))
        .json(&json!({"name": "a", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:9"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let r = http
        .post(format!("{base}/proxies"))
        .json(&json!({"name": "b"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        body,
        json!({"error": "missing required field: upstream", "status": 400})
    );
    let r = http
        .post(format!("{base}/proxies"))
        .body("{not json")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // A toxic keeps Toxiproxy's field names.
    let r = http
        .post(format!("{base}/proxies/a/toxics"))
        .json(&json!({"type": "latency", "stream": "upstream", "toxicity": 0.5, "attributes": {"latency": 10}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let t: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        t,
        json!({"name": "latency_upstream", "type": "latency", "stream": "upstream", "toxicity": 0.5, "attributes": {"latency": 10}})
    );
    // Update keeps what the patch leaves out.
    let r = http
        .post(format!("{base}/proxies/a/toxics/latency_upstream"))
        .json(&json!({"attributes": {"latency": 20}}))
        .send()
        .await
        .unwrap();
    let t: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        (t["attributes"]["latency"].as_u64(), t["toxicity"].as_f64()),
        (Some(20), Some(0.5))
    );
    let r = http.get(format!("{base}/proxies")).send().await.unwrap();
    let all: serde_json::Value = r.json().await.unwrap();
    assert_eq!(all["a"]["toxics"][0]["attributes"]["latency"], 20);
    let r = http.post(format!("{base}/reset")).send().await.unwrap();
    assert_eq!(r.status(), 204);
}

/// The value the `n`th `ECHO` carries: unique, and of varying length so that chunks of all
/// sizes cross the proxy.
fn echo_value(n: u64) -> String {
    format!("{n}:{}", "x".repeat((n % 97) as usize * 3))
}

/// Writes `ECHO <echo_value(n)>` for n = 0, 1, … in bursts of up to 8, with at most `window`
/// requests awaiting their reply, until `stop` is set; returns how many it sent, and the write
/// half (dropping it would half-close the connection, and the proxy closes it then).
async fn echo_writer(
    mut wr: tokio::net::tcp::OwnedWriteHalf,
    window: Arc<Semaphore>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<(u64, tokio::net::tcp::OwnedWriteHalf)> {
    let mut sent = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let burst = 1 + sent % 8;
        let Ok(permits) = window.acquire_many(burst as u32).await else {
            return Err(std::io::Error::other("the reader gave up"));
        };
        permits.forget();
        let mut out = Vec::new();
        for n in sent..sent + burst {
            let v = echo_value(n);
            out.extend_from_slice(
                format!("*2\r\n$4\r\nECHO\r\n${}\r\n{v}\r\n", v.len()).as_bytes(),
            );
        }
        wr.write_all(&out).await?;
        sent += burst;
    }
    Ok((sent, wr))
}

/// Reads the replies to `echo_writer`'s requests, in order, until `total` says how many were
/// sent and that many have come back; every reply must be the one its request asked for.
/// `replies` counts them as they come.
async fn echo_reader(
    rd: tokio::net::tcp::OwnedReadHalf,
    window: Arc<Semaphore>,
    total: tokio::sync::watch::Receiver<Option<u64>>,
    replies: Arc<AtomicU64>,
) -> Result<u64, String> {
    let res = read_echoes(rd, &window, total, &replies).await;
    // No more replies: a writer waiting for room must not wait forever.
    window.close();
    res
}

async fn read_echoes(
    mut rd: tokio::net::tcp::OwnedReadHalf,
    window: &Semaphore,
    mut total: tokio::sync::watch::Receiver<Option<u64>>,
    replies: &AtomicU64,
) -> Result<u64, String> {
    let mut buf: Vec<u8> = Vec::new();
    let mut received = 0u64;
    loop {
        // Parse every complete `$<len>\r\n<value>\r\n` reply in the buffer.
        while let Some(eol) = buf.windows(2).position(|w| w == b"\r\n") {
            if buf[0] != b'$' {
                return Err(format!(
                    "reply {received}: not a bulk string: {:?}",
                    String::from_utf8_lossy(&buf[..eol])
                ));
            }
            let len: usize = std::str::from_utf8(&buf[1..eol])
                .ok()
                .and_then(|l| l.parse().ok())
                .ok_or_else(|| format!("reply {received}: bad length"))?;
            if buf.len() < eol + 2 + len + 2 {
                break;
            }
            let value = &buf[eol + 2..eol + 2 + len];
            let expected = echo_value(received);
            if value != expected.as_bytes() {
                return Err(format!(
                    "reply {received} is {:?}, its request was {expected:?}",
                    String::from_utf8_lossy(value)
                ));
            }
            buf.drain(..eol + 2 + len + 2);
            received += 1;
            replies.store(received, Ordering::Relaxed);
            window.add_permits(1);
        }
        if *total.borrow() == Some(received) {
            return Ok(received);
        }
        tokio::select! {
            n = rd.read_buf(&mut buf) => match n {
                Ok(0) => return Err(format!("connection closed after {received} replies")),
                Ok(_) => {}
                Err(e) => return Err(format!("read after {received} replies: {e}")),
            },
            _ = total.changed() => {}
        }
    }
}

/// Requests awaiting their reply at most, in `toxic_changes_keep_pipelined_connections_whole`.
const WINDOW: u64 = 64;

/// Waits until `WINDOW` more replies have come back than when it was called: traffic is
/// crossing the proxy as it is configured now (every request in flight at the call has been
/// answered, and requests sent since are answered too).
async fn traffic_through(
    replies: &AtomicU64,
    reader: &tokio::task::JoinHandle<Result<u64, String>>,
    setting: &str,
) {
    let from = replies.load(Ordering::Relaxed);
    common::wait_until_async(
        Duration::from_secs(20),
        &format!("{WINDOW} replies through the proxy with {setting}"),
        || async {
            let now = replies.load(Ordering::Relaxed);
            if now >= from + WINDOW {
                return Ok(());
            }
            let reader = if reader.is_finished() {
                "stopped"
            } else {
                "running"
            };
            Err(format!(
                "{} replies since (the reader {reader})",
                now - from
            ))
        },
    )
    .await;
}

async fn connections_received(con: &mut redis::aio::MultiplexedConnection) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("stats")
        .query_async(con)
        .await
        .unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("total_connections_received:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap()
}

/// A Redis, the fault proxy server, and one proxy `redis` in front of it with no toxic; the
/// proxy's listen address last. Keep the sender: dropping it stops the server.
async fn redis_behind_a_proxy(
    dir: &std::path::Path,
) -> (Redis, Client, tokio::sync::oneshot::Sender<()>, String) {
    let redis = Redis::start(dir).await.unwrap();
    let (c, stop) = server().await;
    let listen = proxy_to(&c, "redis", &redis.addr().to_string()).await;
    (redis, c, stop, listen)
}

/// Creates the toxic-free proxy `name` to `upstream` on a free loopback port; its listen address.
async fn proxy_to(c: &Client, name: &str, upstream: &str) -> String {
    let made = c
        .populate(&[ProxyRequest {
            name: Some(name.into()),
            listen: Some("127.0.0.1:0".into()),
            upstream: Some(upstream.into()),
            enabled: None,
        }])
        .await
        .unwrap();
    assert_eq!(made.len(), 1, "{made:?}");
    made[0].listen.clone()
}

/// Toxics added, updated and removed (and `/reset`) while one client pipelines requests through
/// the proxy: the connection stays the same one and no reply is lost, duplicated or reordered —
/// what Toxiproxy does, and what a multiplexed Redis connection needs (a lost reply matches
/// every later reply to the wrong request).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn toxic_changes_keep_pipelined_connections_whole() {
    let dir = tempfile::tempdir().unwrap();
    let (redis, c, _stop, listen) = redis_behind_a_proxy(dir.path()).await;
    let mut direct = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();

    let stream = TcpStream::connect(&listen).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (rd, wr) = stream.into_split();
    let window = Arc::new(Semaphore::new(WINDOW as usize));
    let stop = Arc::new(AtomicBool::new(false));
    let (total_tx, total_rx) = tokio::sync::watch::channel(None);
    let replies = Arc::new(AtomicU64::new(0));
    let writer = tokio::spawn(echo_writer(wr, window.clone(), stop.clone()));
    let reader = tokio::spawn(echo_reader(rd, window.clone(), total_rx, replies.clone()));
    // Replies have come back through the proxy, so its connection to Redis is open; none may
    // be opened from here on.
    traffic_through(&replies, &reader, "no toxic").await;
    let connections = connections_received(&mut direct).await;

    let http = reqwest::Client::new();
    let base = c.base().to_owned();
    let update = |toxic: &str, attributes: serde_json::Value| {
        let req = http
            .post(format!("{base}/proxies/redis/toxics/{toxic}"))
            .json(&json!({ "attributes": attributes }));
        async move {
            let r = req.send().await.unwrap();
            assert_eq!(r.status(), 200, "{:?}", r.text().await);
        }
    };
    // After each change, traffic crosses the proxy as changed before the next change.
    c.add_toxic(
        "redis",
        &Toxic::new("latency", "downstream", json!({ "latency": 50 })),
    )
    .await
    .unwrap();
    traffic_through(&replies, &reader, "latency 50 ms downstream").await;
    update("latency_downstream", json!({ "latency": 100 })).await;
    traffic_through(&replies, &reader, "latency 100 ms downstream").await;
    c.add_toxic(
        "redis",
        &Toxic::new(
            "slicer",
            "downstream",
            json!({ "average_size": 64, "size_variation": 16, "delay": 50 }),
        ),
    )
    .await
    .unwrap();
    traffic_through(&replies, &reader, "a slicer added").await;
    c.add_toxic(
        "redis",
        &Toxic::new("bandwidth", "upstream", json!({ "rate": 100 })),
    )
    .await
    .unwrap();
    traffic_through(&replies, &reader, "a bandwidth limit added").await;
    c.remove_toxic("redis", "slicer_downstream").await.unwrap();
    traffic_through(&replies, &reader, "the slicer removed").await;
    c.add_toxic(
        "redis",
        &Toxic::new(
            "latency",
            "upstream",
            json!({ "latency": 30, "jitter": 10 }),
        ),
    )
    .await
    .unwrap();
    traffic_through(&replies, &reader, "upstream latency added").await;
    c.remove_toxic("redis", "bandwidth_upstream").await.unwrap();
    traffic_through(&replies, &reader, "the bandwidth limit removed").await;
    c.remove_toxic("redis", "latency_downstream").await.unwrap();
    traffic_through(&replies, &reader, "the downstream latency removed").await;
    c.reset().await.unwrap();
    traffic_through(&replies, &reader, "no toxic after /reset").await;

    stop.store(true, Ordering::Relaxed);
    let written = writer.await.unwrap();
    if let Ok((sent, _)) = &written {
        let _ = total_tx.send(Some(*sent));
    }
    let received = tokio::time::timeout(Duration::from_secs(20), reader)
        .await
        .expect("every reply within 20 s")
        .unwrap();
    let (sent, _wr) =
        written.unwrap_or_else(|e| panic!("writing failed: {e}; reading: {received:?}"));
    assert_eq!(received, Ok(sent), "sent {sent}");
    assert!(sent >= 500, "only {sent} requests went through");
    assert_eq!(
        connections_received(&mut direct).await,
        connections,
        "no connection to Redis may be opened by a toxic change"
    );
}

/// A proxy with no toxic adds no stall of its own: the proxy sets TCP_NODELAY on both of its
/// sockets, as Toxiproxy does. Without it, Nagle's algorithm held back a write behind an
/// unacknowledged one until the peer's delayed ACK (40 ms on Linux): dozens of round trips in
/// 20,000 stalled 40-47 ms. Speed is not asserted, only the absence of such stalls (beyond a
/// handful a busy machine causes by itself).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn toxic_free_proxy_adds_no_stall() {
    let dir = tempfile::tempdir().unwrap();
    let (redis, _c, _stop, listen) = redis_behind_a_proxy(dir.path()).await;
    let connect = |url: String| async move {
        redis::Client::open(url)
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    };
    // Proxied and direct calls alternate, so machine noise (other tests beside this one,
    // two cores) falls on both paths alike; only the proxy's own stalls tell them apart.
    let mut cons = [
        connect(format!("redis://{listen}/")).await,
        connect(redis.url()).await,
    ];
    let script = redis::Script::new(
        "redis.call('INCR', KEYS[1]) return redis.call('XADD', KEYS[2], 'MAXLEN', '~', '1000', '*', 'f', ARGV[1])",
    );
    let field = "x".repeat(300);
    const N: usize = 20_000;
    let mut stalls = [Vec::new(), Vec::new()];
    for i in 0..N {
        for (path, con) in cons.iter_mut().enumerate() {
            let t = Instant::now();
            let _: String = script
                .key("nagle:n")
                .key("nagle:s")
                .arg(&field)
                .invoke_async(con)
                .await
                .unwrap();
            let d = t.elapsed();
            if d >= Duration::from_millis(20) {
                stalls[path].push((i, d));
            }
        }
    }
    let [proxied, direct] = &stalls;
    // Without TCP_NODELAY: 257 of 20,000 proxied calls stalled 40-48 ms, none direct.
    assert!(
        proxied.len() <= 2 * direct.len() + 10,
        "{} of {N} proxied round trips took >= 20 ms, {} direct: {:?}",
        proxied.len(),
        direct.len(),
        &proxied[..proxied.len().min(10)]
    );
}

/// SYNs this network namespace's listeners dropped so far (`TcpExt: ListenDrops`): a full
/// accept queue counts here.
fn listen_drops() -> u64 {
    let netstat = std::fs::read_to_string("/proc/net/netstat").unwrap();
    let mut tcp_ext = netstat.lines().filter(|l| l.starts_with("TcpExt:"));
    let (names, values) = (tcp_ext.next().unwrap(), tcp_ext.next().unwrap());
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == "ListenDrops")
        .map(|(_, v)| v.parse().unwrap())
        .unwrap()
}

/// Writes `msg` through the proxy at `listen` and reads it back from the echoing upstream.
async fn echo_once(listen: String, msg: &'static [u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(&listen).await.unwrap();
    s.write_all(msg).await.unwrap();
    let mut buf = vec![0u8; msg.len()];
    s.read_exact(&mut buf).await.unwrap();
    buf
}

/// One client whose upstream connection is slow to open must not hold up the next client of
/// the same proxy. noxious opened upstream connections inside its accept loop, so one slow name
/// lookup or connect stalled every later client of that link: on the docker target, lookups of
/// a just-stopped PostgreSQL container took seconds, and the worker's database link stayed dead
/// for up to 8 s after PostgreSQL was back (`db-long-outage` failed its backlog bound). Here the
/// first connect is slow because the upstream's accept queue is full: Linux drops its SYN and
/// the proxy's connect retries after the 1 s retransmission timeout. The order in which the
/// upstream accepts the two is the verdict, no clock: the second, sent once the kernel has
/// counted the first one's SYN dropped, must be accepted first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_upstream_connect_holds_up_only_its_own_client() {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let upstream = socket.listen(0).unwrap();
    let up_addr = upstream.local_addr().unwrap();
    // Fills the accept queue (one connection with a backlog of 0): the next SYN is dropped.
    let _filler = TcpStream::connect(up_addr).await.unwrap();
    let (c, _stop) = server().await;
    let listen = proxy_to(&c, "slow", &up_addr.to_string()).await;

    let drops = listen_drops();
    let first = tokio::spawn(echo_once(listen.clone(), b"first"));
    // Wait until the proxy's connect for `first` has sent its SYN, and lost it.
    let waited = Instant::now();
    while listen_drops() == drops {
        assert!(
            waited.elapsed() < Duration::from_secs(10),
            "the kernel never dropped the first client's SYN"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Make room before the second client connects: the filler is accepted first (it says
    // nothing). Accepted only inside the loop below, it raced the second client's SYN, which
    // was then dropped too and could come back after the first one's retransmission (seen
    // once: ["first", "second"]).
    let (_filler_side, _) = upstream.accept().await.unwrap();
    // From now on the upstream accepts and echoes, noting what each accepted connection says
    // first, with the order it was accepted in.
    let (said_tx, mut said) = tokio::sync::mpsc::unbounded_channel::<(usize, Vec<u8>)>();
    tokio::spawn(async move {
        for accepted in 0.. {
            let (mut s, _) = upstream.accept().await.unwrap();
            let said_tx = said_tx.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64];
                let Ok(n) = s.read(&mut buf).await else {
                    return;
                };
                let _ = said_tx.send((accepted, buf[..n].to_vec()));
                let _ = s.write_all(&buf[..n]).await;
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    let second = tokio::time::timeout(Duration::from_secs(10), echo_once(listen, b"second"))
        .await
        .expect("the second client waited for the first one's upstream connect");
    assert_eq!(second, b"second");
    let first = tokio::time::timeout(Duration::from_secs(10), first)
        .await
        .expect("the first client never got its upstream connection")
        .unwrap();
    assert_eq!(first, b"first");
    // The filler says nothing; the two clients in the order the upstream accepted them.
    let mut heard = Vec::new();
    for _ in 0..2 {
        let (accepted, msg) = said.recv().await.unwrap();
        heard.push((accepted, String::from_utf8_lossy(&msg).into_owned()));
    }
    heard.sort();
    let heard: Vec<String> = heard.into_iter().map(|(_, m)| m).collect();
    assert_eq!(
        heard,
        ["second", "first"],
        "the second client was linked only after the first one's slow connect"
    );
}
