//! The embedded fault proxy, through its REST API, in front of a real Redis: Toxiproxy's
//! documented calls and status codes, and toxics that really change what a client sees.

use std::time::{Duration, Instant};

use fgchaos::toxiproxy::wire::{ProxyRequest, Toxic};
use fgchaos::toxiproxy::{Client, ClientError, ProxyServer};
use flux_gate_testbed::Redis;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

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
    let redis = Redis::start(dir.path()).await.unwrap();
    let (c, _stop) = server().await;

    assert!(c.version().await.unwrap().starts_with("2."));
    // POST /populate creates (201 with {"proxies": [...]}); a listen of :0 gets a real port.
    let made = c
        .populate(&[ProxyRequest {
            name: Some("redis".into()),
            listen: Some("127.0.0.1:0".into()),
            upstream: Some(redis.addr().to_string()),
            enabled: None,
        }])
        .await
        .unwrap();
    assert_eq!(made.len(), 1);
    let listen = made[0].listen.clone();
    assert!(!listen.ends_with(":0"), "{listen}");
    assert!(made[0].enabled);

    // No toxic: passes through.
    let base = median(
        futures::future::join_all((0..5).map(|_| ping(&listen, Duration::from_secs(2))))
            .await
            .into_iter()
            .map(Option::unwrap)
            .collect(),
    );

    // A toxic change closes open connections (docs/decisions.md §15): a client sees a reset,
    // never a silently lost reply.
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
    let after_change = tokio::time::timeout(Duration::from_secs(2), async {
        let _ = open.write_all(b"PING\r\n").await;
        open.read(&mut buf).await
    })
    .await
    .expect("the old connection must be closed, not left hanging");
    assert!(matches!(after_change, Ok(0) | Err(_)), "{after_change:?}");
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
