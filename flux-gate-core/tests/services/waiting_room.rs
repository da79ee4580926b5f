//! The waiting-room page in a real browser (headless Chromium), and as served to browsers
//! without JavaScript.

use std::time::Duration;

use redis::AsyncCommands;

use crate::stack::{service, Service, Stack};
use crate::wait;

/// Loads `url` in headless Chromium and returns the DOM after `budget` of virtual time.
async fn browse(url: &str, budget: Duration) -> String {
    let mut cmd = tokio::process::Command::new("chromium");
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
    ])
    .arg(format!("--virtual-time-budget={}", budget.as_millis()));
    let out = cmd
        .arg("--dump-dom")
        .arg(url)
        .output()
        .await
        .expect("chromium runs (scripts/bootstrap installs it)");
    assert!(
        out.status.success(),
        "chromium: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn room(s: &Stack, retry_secs: u64) -> Service {
    let env = vec![
        ("FG_REDIS_URL".to_owned(), s.redis.url()),
        ("FG_RETRY_AFTER_SECS".to_owned(), retry_secs.to_string()),
    ];
    service(s.path(), "waiting-room", &env).await
}

#[tokio::test(flavor = "multi_thread")]
async fn page_counts_down_polls_stock_and_shows_sold_out() {
    let s = Stack::start().await;
    s.init("wr", 5, None).await;
    let wr = room(&s, 30).await;
    let page = wr.url("/?product=wr&return=/shop");

    // JavaScript on: the live stock is polled and shown, the countdown runs.
    let dom = browse(&page, Duration::from_millis(2500)).await;
    assert!(
        dom.contains(r#"<h1 id="headline">The sale is busy</h1>"#),
        "{dom}"
    );
    assert!(
        dom.contains(r#"<p class="stock" id="stock" data-product="wr">5 left</p>"#),
        "{dom}"
    );
    let count: u64 = dom
        .split(r#"id="countdown" aria-live="polite">"#)
        .nth(1)
        .and_then(|t| t.split('<').next())
        .and_then(|n| n.trim().parse().ok())
        .expect("countdown number");
    assert!((27..30).contains(&count), "countdown ran: {count}");

    // Sold out: the page says so and offers no retry.
    let mut redis = s.redis().await;
    let _: () = redis.set("fg:{wr}:stock", 0).await.unwrap();
    let dom = browse(&page, Duration::from_millis(1500)).await;
    assert!(dom.contains(r#"<h1 id="headline">Sold out</h1>"#), "{dom}");
    assert!(
        dom.contains(r#"id="retry" href="/shop" style="display: none;""#),
        "{dom}"
    );

    // The server-rendered page carries a meta refresh for browsers without JavaScript.
    let _: () = redis.set("fg:{wr}:stock", 3).await.unwrap();
    let html = s.get_text(&page).await;
    assert!(
        html.contains(r#"<noscript><meta http-equiv="refresh" content="30;url=/shop"></noscript>"#),
        "{html}"
    );
    assert!(html.contains("3 left"), "{html}");
    // An open redirect is refused: the page falls back to the shop path.
    let html = s
        .get_text(&wr.url("/?product=wr&return=//evil.example/"))
        .await;
    assert!(
        html.contains(r#"href="/""#) && !html.contains("evil.example"),
        "{html}"
    );
}

/// Page views the room has served, from its metrics.
async fn views(s: &Stack, wr: &Service) -> u64 {
    let m = s.get_text(&wr.url("/metrics")).await;
    m.lines()
        .find_map(|l| l.strip_prefix("fg_waiting_room_views_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Opens `url` in headless Chromium and leaves it running: the caller judges what it did from
/// the server's side, then drops the child, which kills it (after a navigation headless
/// Chromium does not exit by itself). The screenshot file lives as long as the child.
fn open(url: &str) -> (tokio::process::Child, tempfile::NamedTempFile) {
    let shot = tempfile::Builder::new().suffix(".png").tempfile().unwrap();
    let mut cmd = tokio::process::Command::new("chromium");
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--virtual-time-budget=4000",
    ])
    .arg(format!("--screenshot={}", shot.path().display()))
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null())
    .kill_on_drop(true);
    let child = cmd
        .arg(url)
        .spawn()
        .expect("chromium runs (scripts/bootstrap installs it)");
    (child, shot)
}

#[tokio::test(flavor = "multi_thread")]
async fn page_sends_the_buyer_back_when_the_countdown_ends() {
    let s = Stack::start().await;
    s.init("back", 4, None).await;
    let wr = room(&s, 1).await;
    // The return path is the room itself, so a completed round trip is a second page view.
    // (Headless Chromium cannot run with scripting disabled, so the JavaScript-off path is
    // covered by the server-rendered `<noscript>` refresh asserted above.)
    let url = wr.url("/?product=back&return=%2F%3Fproduct%3Dback");
    let before = views(&s, &wr).await;
    let (mut browser, _shot) = open(&url);
    let (s, wr) = (&s, &wr);
    wait::until(
        Duration::from_secs(20),
        "the browser to be sent back to the room (a second page view)",
        || {
            let chromium = match browser.try_wait() {
                Ok(None) => "still running",
                _ => "exited",
            };
            async move {
                let after = views(s, wr).await;
                if after >= before + 2 {
                    return Ok(());
                }
                Err(format!(
                    "{before} → {after} page views: the browser was not sent back (chromium {chromium})"
                ))
            }
        },
    )
    .await;
}
