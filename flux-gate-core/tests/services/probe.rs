//! `flux-gate probe`, the containers' healthcheck: exit codes and the one-line reason, against
//! a tiny HTTP server (no stack needed).

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use flux_gate_core::probe::probe;

async fn server() -> SocketAddr {
    let app = Router::new()
        .route("/ok", get(|| async { "fine" }))
        .route("/created", get(|| async { (StatusCode::CREATED, "made") }))
        .route(
            "/down",
            get(|| async {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "{\"status\":\"unavailable\",\n\"message\":\"redis down · kafka up\"}",
                )
            }),
        )
        .route(
            "/slow",
            get(|| async {
                // Not a wait: the stall under test, far beyond the probe's 200 ms limit.
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// A loopback port nothing listens on.
fn closed_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

#[tokio::test]
async fn probe_accepts_2xx_and_explains_the_rest() {
    let addr = server().await;
    let t = Duration::from_secs(2);
    assert_eq!(probe(&format!("http://{addr}/ok"), t).await, Ok(200));
    assert_eq!(probe(&format!("http://{addr}/created"), t).await, Ok(201));

    let down = probe(&format!("http://{addr}/down"), t).await.unwrap_err();
    assert!(down.contains("503"), "{down}");
    assert!(down.contains("redis down · kafka up"), "{down}");
    assert!(!down.contains('\n'), "{down:?}");

    let missing = probe(&format!("http://{addr}/nowhere"), t)
        .await
        .unwrap_err();
    assert!(missing.contains("404"), "{missing}");

    let refused = probe(&format!("http://{}/ok", closed_port()), t)
        .await
        .unwrap_err();
    assert!(refused.to_lowercase().contains("refused"), "{refused}");

    let slow = probe(&format!("http://{addr}/slow"), Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(slow.contains("no answer within 200ms"), "{slow}");

    let bad = probe("not a url", t).await.unwrap_err();
    assert!(bad.contains("not a url"), "{bad}");
}

#[tokio::test]
async fn probe_command_exit_codes() {
    let addr = server().await;
    let run = |args: Vec<String>| async move {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_flux-gate"))
            .arg("probe")
            .args(args)
            .env("FG_LOG", "warn")
            .output()
            .await
            .expect("run flux-gate probe");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    let (code, stderr) = run(vec![format!("http://{addr}/ok")]).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.is_empty(), "{stderr:?}");

    let (code, stderr) = run(vec![format!("http://{addr}/down")]).await;
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr:?}");
    assert!(stderr.starts_with("flux-gate probe: GET "), "{stderr:?}");
    assert!(stderr.contains("503"), "{stderr:?}");

    let (code, stderr) = run(vec![
        format!("http://{addr}/slow"),
        "--timeout".into(),
        "300ms".into(),
    ])
    .await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("no answer within 300ms"), "{stderr:?}");

    let (code, stderr) = run(vec![format!("http://{}/ok", closed_port())]).await;
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr:?}");
}
