//! Every row of the ingestion API's HTTP contract, against a real stack.

use std::time::Duration;

use flux_gate_core::contract::{Answer, Status, StockAnswer, IDEMPOTENCY_HEADER, REPLAY_HEADER};
use reqwest::StatusCode;
use serde_json::json;

use crate::stack::{ApiEnv, Stack, ADMIN_TOKEN};
use crate::wait;

async fn raw_order(
    s: &Stack,
    key: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> (StatusCode, Answer) {
    let mut req = s
        .http
        .post(s.api.url("/order"))
        .header("content-type", "application/json")
        .body(body);
    if let Some(k) = key {
        req = req.header(IDEMPOTENCY_HEADER, k);
    }
    let r = req.send().await.expect("request");
    let code = r.status();
    let text = r.text().await.expect("body");
    (
        code,
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{code} {text:?}: {e}")),
    )
}

/// Sends `head` and as much of `body` as the server reads; returns the answer's status line
/// code and JSON body.
async fn raw_http(addr: std::net::SocketAddr, head: &[u8], body: &[u8]) -> (u16, Answer) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(head).await.expect("write head");
    let _ = stream.write_all(body).await;
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buf)).await;
    let text = String::from_utf8_lossy(&buf);
    let code = text
        .get(9..12)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {text:?}"));
    let json = text.split("\r\n\r\n").nth(1).unwrap_or_default();
    (
        code,
        serde_json::from_str(json).unwrap_or_else(|e| panic!("{text:?}: {e}")),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn order_contract() {
    let s = Stack::start().await;
    s.init("contract", 2, Some(1)).await;

    // 200 success, then 200 replay with the same orderId and a replay header.
    let (code, first) = s.order("contract", "alice", "key-1").await;
    assert_eq!((code, first.status), (StatusCode::OK, Status::Success));
    let id = first.order_id.expect("orderId");
    let r = s
        .http
        .post(s.api.url("/order"))
        .header(IDEMPOTENCY_HEADER, "key-1")
        .json(&json!({"productId": "contract", "userId": "alice"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers().get(REPLAY_HEADER).map(|v| v.to_str().unwrap()),
        Some("true")
    );
    assert_eq!(
        r.json::<Answer>().await.unwrap(),
        Answer::order(Status::Success, id)
    );

    // 422: same key, different body.
    let (code, a) = s.order("contract", "mallory", "key-1").await;
    assert_eq!(
        (code, a.status),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Status::IdempotencyConflict
        )
    );

    // 429: alice already holds the per-user limit of 1.
    let (code, a) = s.order("contract", "alice", "key-2").await;
    assert_eq!(
        (code, a.status),
        (StatusCode::TOO_MANY_REQUESTS, Status::UserLimit)
    );

    // Last unit to bob, then 409 sold out for carol; stock reads 0.
    assert_eq!(
        s.order("contract", "bob", "key-3").await.1.status,
        Status::Success
    );
    let (code, a) = s.order("contract", "carol", "key-4").await;
    assert_eq!(
        (code, a),
        (StatusCode::CONFLICT, Answer::bare(Status::SoldOut))
    );
    let stock: StockAnswer = s
        .http
        .get(s.api.url("/stock/contract"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stock.stock, 0);

    // 404 unknown product, on /order and /stock.
    let (code, a) = s.order("no-such-sale", "alice", "key-5").await;
    assert_eq!(
        (code, a.status),
        (StatusCode::NOT_FOUND, Status::UnknownProduct)
    );
    let r = s
        .http
        .get(s.api.url("/stock/no-such-sale"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Exactly two orders reached the database; the refusals changed nothing.
    let rows = s
        .wait_for_orders("contract", 2, Duration::from_secs(20))
        .await;
    assert_eq!(rows.len(), 2);
    assert!(rows
        .iter()
        .any(|r| r.order_id == id && r.user_id == "alice" && r.idempotency_key == "key-1"));
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_gets_a_json_error_and_changes_nothing() {
    let s = Stack::start().await;
    s.init("bad", 5, None).await;
    let good = r#"{"productId":"bad","userId":"u"}"#;
    let long_key = "k".repeat(129);
    let cases: Vec<(Option<&str>, Vec<u8>, StatusCode, &str)> = vec![
        (None, good.into(), StatusCode::BAD_REQUEST, "missing header"),
        (
            Some("has space"),
            good.into(),
            StatusCode::BAD_REQUEST,
            IDEMPOTENCY_HEADER,
        ),
        (
            Some(&long_key),
            good.into(),
            StatusCode::BAD_REQUEST,
            IDEMPOTENCY_HEADER,
        ),
        (
            Some("k1"),
            b"{not json".to_vec(),
            StatusCode::BAD_REQUEST,
            "not valid",
        ),
        (
            Some("k2"),
            vec![0xff, 0xfe, 0x00, 0x7b],
            StatusCode::BAD_REQUEST,
            "not UTF-8",
        ),
        (
            Some("k3"),
            br#"{"productId":"bad","userId":"u","coupon":"x"}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "unknown field",
        ),
        (
            Some("k4"),
            br#"{"productId":"bad"}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "userId",
        ),
        (
            Some("k5"),
            br#"{"productId":"fg:{x}*","userId":"u"}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "productId",
        ),
        (
            Some("k6"),
            br#"{"productId":"bad\r\nFLUSHALL","userId":"u"}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "productId",
        ),
    ];
    for (key, body, want, needle) in cases {
        let (code, a) = raw_order(&s, key, body).await;
        assert_eq!(code, want, "{needle}: {a:?}");
        assert_eq!(a.status.http_code(), want.as_u16());
        let msg = a.message.unwrap_or_default();
        assert!(msg.contains(needle), "expected {needle:?} in {msg:?}");
    }
    // A 10 MB body is refused from its Content-Length, before it is read. (The server answers
    // and closes without reading the rest, so this speaks raw HTTP: a client library would
    // report the unread upload as a broken pipe.)
    let head = format!(
        "POST /order HTTP/1.1\r\nHost: x\r\n{IDEMPOTENCY_HEADER}: k7\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        10 * 1024 * 1024
    );
    let (code, a) = raw_http(s.api.addr(), head.as_bytes(), &[b' '; 64 * 1024]).await;
    assert_eq!((code, a.status), (413, Status::PayloadTooLarge));
    // A chunked body (no Content-Length) over the limit is refused too.
    let head = format!(
        "POST /order HTTP/1.1\r\nHost: x\r\n{IDEMPOTENCY_HEADER}: k8\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    let chunk = format!("400\r\n{}\r\n", " ".repeat(1024)).repeat(64);
    let (code, a) = raw_http(s.api.addr(), head.as_bytes(), chunk.as_bytes()).await;
    assert_eq!((code, a.status), (413, Status::PayloadTooLarge));

    // Nothing was reserved by any of it.
    let stock: StockAnswer = s
        .http
        .get(s.api.url("/stock/bad"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stock.stock, 5);
    let r = s.http.get(s.api.url("/stock/a%20b")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // Unknown routes and methods answer JSON too.
    let r = s.http.get(s.api.url("/nope")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(r.json::<Answer>().await.unwrap().status, Status::NotFound);
    let r = s.http.get(s.api.url("/order")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        r.json::<Answer>().await.unwrap().status,
        Status::MethodNotAllowed
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn init_requires_the_admin_token_and_valid_numbers() {
    let s = Stack::start().await;
    let body = json!({"productId": "adm", "quantity": 10});
    let r = s
        .http
        .post(s.api.url("/init"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.json::<Answer>().await.unwrap().status,
        Status::Unauthorized
    );
    let r = s
        .http
        .post(s.api.url("/init"))
        .bearer_auth("wrong")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    for bad in [
        json!({"productId": "adm", "quantity": -1}),
        json!({"productId": "adm", "quantity": 1u64 << 40}),
        json!({"productId": "adm", "quantity": 5, "perUserLimit": 0}),
        json!({"productId": "a{b}", "quantity": 5}),
    ] {
        let r = s
            .http
            .post(s.api.url("/init"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    // Nothing above started a sale.
    assert_eq!(
        s.http
            .get(s.api.url("/stock/adm"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );

    // A good init sets Redis and the database; a second init restarts the sale from scratch.
    s.init("adm", 10, None).await;
    assert_eq!(s.order("adm", "u1", "a1").await.1.status, Status::Success);
    wait::orders(&s, "adm", 1, Duration::from_secs(20)).await;
    s.init("adm", 3, None).await;
    let stock: StockAnswer = s
        .http
        .get(s.api.url("/stock/adm"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stock.stock, 3);
    let row: (i32, i32) =
        sqlx::query_as("SELECT initial_stock, stock FROM products WHERE id = 'adm'")
            .fetch_one(&s.db)
            .await
            .unwrap();
    assert_eq!(row, (3, 3));
    assert!(flux_gate_core::db::orders_of(&s.db, "adm")
        .await
        .unwrap()
        .is_empty());
    // The old key belongs to the old sale: it reserves anew.
    let (_, again) = s.order("adm", "u1", "a1").await;
    assert_eq!(again.status, Status::Success);
}

#[tokio::test(flavor = "multi_thread")]
async fn sheds_to_the_waiting_room_and_reports_health() {
    let env = ApiEnv(vec![
        ("FG_RATE_LIMIT_RPS", "5".into()),
        ("FG_WAITING_ROOM_URL", "http://127.0.0.1:9/wait".into()),
    ]);
    let s = Stack::start_with(env).await;
    s.init("shed", 1000, None).await;
    let mut codes = Vec::new();
    for i in 0..50 {
        let r = s
            .http
            .post(s.api.url("/order"))
            .header(IDEMPOTENCY_HEADER, format!("s{i}"))
            .json(&json!({"productId": "shed", "userId": format!("u{i}")}))
            .send()
            .await
            .unwrap();
        let code = r.status();
        if code == StatusCode::FOUND {
            assert_eq!(
                r.headers()["location"],
                "http://127.0.0.1:9/wait?product=shed"
            );
            assert_eq!(
                r.json::<Answer>().await.unwrap().status,
                Status::WaitingRoom
            );
        }
        codes.push(code);
    }
    let admitted = codes
        .iter()
        .filter(|c| **c == StatusCode::OK || **c == StatusCode::ACCEPTED)
        .count();
    let shed = codes.iter().filter(|c| **c == StatusCode::FOUND).count();
    // The bucket holds 5 tokens and refills at 5/s; 50 quick requests admit only a few.
    assert!((5..=15).contains(&admitted), "admitted {admitted}");
    assert_eq!(admitted + shed, 50, "{codes:?}");

    assert_eq!(
        s.http
            .get(s.api.url("/health"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        s.http
            .get(s.api.url("/ready"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let metrics = s.get_text(&s.api.url("/metrics")).await;
    assert!(
        metrics.contains(r#"fg_api_orders_total{status="waiting_room"}"#),
        "{metrics}"
    );
    assert!(metrics.contains("fg_api_order_seconds_bucket"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread")]
async fn answers_503_fast_when_redis_does_not_answer() {
    let env = ApiEnv(vec![("FG_REDIS_TIMEOUT_MS", "200".into())]);
    let s = Stack::start_with(env).await;
    s.init("slow", 10, None).await;
    s.redis.process.pause().unwrap();
    let started = std::time::Instant::now();
    let r = s
        .http
        .post(s.api.url("/order"))
        .header(IDEMPOTENCY_HEADER, "p1")
        .json(&json!({"productId": "slow", "userId": "u"}))
        .send()
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.headers()["retry-after"], "1");
    assert_eq!(
        r.json::<Answer>().await.unwrap().status,
        Status::Unavailable
    );
    assert!(took < Duration::from_secs(2), "503 took {took:?}");
    assert_eq!(
        s.http
            .get(s.api.url("/ready"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    s.redis.process.resume().unwrap();
    // After Redis answers again the API recovers on a fresh connection, and the retried key
    // reserves exactly once.
    let answer = wait::until(
        Duration::from_secs(10),
        "an answer other than 503 to the retried key after Redis woke",
        || async {
            match s.order("slow", "u", "p1").await {
                (StatusCode::SERVICE_UNAVAILABLE, a) => Err(format!("503 {a:?}")),
                (_, a) => Ok(a),
            }
        },
    )
    .await;
    assert_eq!(answer.status, Status::Success);
    // The timed-out attempt had been reserved when Redis woke; the relay delivers it, and the
    // replay answered with its order id: one order, the one the buyer was told about.
    let rows = s.wait_for_orders("slow", 1, Duration::from_secs(20)).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(Some(rows[0].order_id), answer.order_id);
}
