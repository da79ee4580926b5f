//! The waiting room: where the API sends buyers it sheds.
//!
//! The page says the sale is busy, counts down, polls the stock and sends the buyer back to try
//! again, or says "sold out" and stops. It is rendered on the server with the current stock,
//! so it works with JavaScript off too: a `<noscript>` meta refresh sends the buyer back (or
//! reloads the page while nothing is left to decide).

use std::time::Duration;

use anyhow::Context;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use crate::config::WaitingRoomArgs;
use crate::contract::ProductId;
use crate::http;
use crate::redis_link::RedisLink;
use crate::sale;
use crate::shutdown::Shutdown;

const PAGE: &str = include_str!("page.html");
const REDIS_TIMEOUT: Duration = Duration::from_millis(500);

#[derive(Clone)]
struct Room {
    redis: RedisLink,
    retry_after_secs: u64,
    shop_path: String,
}

#[derive(Debug, Deserialize)]
struct PageQuery {
    product: Option<String>,
    #[serde(rename = "return")]
    return_to: Option<String>,
}

pub async fn run(args: WaitingRoomArgs) -> anyhow::Result<()> {
    let shutdown = Shutdown::listen().context("listening for SIGINT and SIGTERM")?;
    let metrics = http::install_metrics().context("installing the metrics recorder")?;
    let redis = args.redis.link()?;
    if !is_local_path(&args.shop_path) {
        anyhow::bail!(
            "FG_SHOP_PATH {:?} must be a path on this site, starting with a single '/'",
            args.shop_path
        );
    }
    let room = Room {
        redis,
        retry_after_secs: args.retry_after_secs,
        shop_path: args.shop_path.clone(),
    };
    http::serve(args.listen, router(room, metrics), shutdown)
        .await
        .with_context(|| format!("serving on {}", args.listen))
}

fn router(room: Room, metrics: metrics_exporter_prometheus::PrometheusHandle) -> Router {
    let routes = Router::new()
        .route("/", get(page))
        .route("/stock/{product}", get(stock))
        .with_state(room);
    http::with_common_routes(routes, metrics)
}

async fn page(State(room): State<Room>, Query(q): Query<PageQuery>) -> Response {
    let product = q.product.as_deref().and_then(|p| ProductId::parse(p).ok());
    // Only same-site paths: a waiting room must not be an open redirect.
    let return_to = q
        .return_to
        .filter(|r| is_local_path(r))
        .unwrap_or_else(|| room.shop_path.clone());
    let stock = match &product {
        Some(p) => room
            .redis
            .call(REDIS_TIMEOUT, |mut con| async move {
                sale::stock(&mut con, p).await
            })
            .await
            .ok()
            .flatten(),
        None => None,
    };
    metrics::counter!("fg_waiting_room_views_total").increment(1);
    let mut r = Html(render(
        product.as_ref(),
        stock,
        &return_to,
        room.retry_after_secs,
    ))
    .into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

async fn stock(State(room): State<Room>, Path(product): Path<String>) -> Response {
    crate::stock_endpoint::stock_response(&room.redis, REDIS_TIMEOUT, &product).await
}

/// Renders the page. `stock` is `None` when unknown (no product, or Redis did not answer).
fn render(
    product: Option<&ProductId>,
    stock: Option<i64>,
    return_to: &str,
    seconds: u64,
) -> String {
    let sold_out = stock.is_some_and(|s| s <= 0);
    let name = product.map_or("this product", |p| p.as_str());
    let (headline, explain, state) = if sold_out {
        (
            "Sold out".to_owned(),
            format!("Every unit of {name} has been sold. Thank you for waiting."),
            "soldout",
        )
    } else {
        (
            "The sale is busy".to_owned(),
            format!("Lots of buyers are trying for {name} right now. You keep your place: we send you back in a few seconds."),
            "waiting",
        )
    };
    let stock_line = match stock {
        Some(s) if s > 0 => format!("{s} left"),
        Some(_) => "0 left".to_owned(),
        None => String::new(),
    };
    // Without JavaScript: go back when the countdown ends, or re-check slowly once sold out.
    let self_url = format!("?product={}&return={}", name, escape_url(return_to));
    let refresh = if sold_out {
        format!("60;url={self_url}")
    } else {
        format!("{seconds};url={return_to}")
    };
    let json = |s: &str| {
        serde_json::to_string(s)
            .unwrap_or_else(|_| "\"\"".into())
            .replace('<', "\\u003c")
    };
    PAGE.replace("{{title}}", &escape_html(&headline))
        .replace("{{headline}}", &escape_html(&headline))
        .replace("{{explain}}", &escape_html(&explain))
        .replace("{{state}}", state)
        .replace("{{refresh}}", &escape_html(&refresh))
        .replace("{{seconds}}", &seconds.to_string())
        .replace("{{stock_line}}", &escape_html(&stock_line))
        .replace(
            "{{product}}",
            &escape_html(product.map_or("", |p| p.as_str())),
        )
        .replace(
            "{{product_json}}",
            &json(product.map_or("", |p| p.as_str())),
        )
        .replace("{{return_json}}", &json(return_to))
        .replace("{{return_to}}", &escape_html(return_to))
        .replace("{{sold_out}}", if sold_out { "true" } else { "false" })
}

/// A path on this site: starts with one `/` (not `//`, which would be another host), and has
/// no backslash or control character.
fn is_local_path(p: &str) -> bool {
    p.starts_with('/') && !p.starts_with("//") && !p.chars().any(|c| c == '\\' || c.is_control())
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn escape_url(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_waiting_and_sold_out() {
        let p = ProductId::parse("iphone-15").unwrap();
        let waiting = render(Some(&p), Some(7), "/shop", 5);
        assert!(waiting.contains("The sale is busy"));
        assert!(waiting.contains("7 left"));
        assert!(waiting
            .contains(r#"<noscript><meta http-equiv="refresh" content="5;url=/shop"></noscript>"#));
        let sold = render(Some(&p), Some(0), "/shop", 5);
        assert!(sold.contains("<h1 id=\"headline\">Sold out</h1>"));
        assert!(sold.contains("content=\"60;url=?product=iphone-15&amp;return=/shop\""));
        assert!(!render(None, None, "/", 5).contains("{{"));
    }

    #[test]
    fn refuses_open_redirects() {
        for bad in [
            "//evil.example",
            "https://evil.example",
            "evil",
            "/\\evil",
            "/a\nb",
        ] {
            assert!(!is_local_path(bad), "{bad}");
        }
        assert!(is_local_path("/shop?x=1"));
    }

    #[test]
    fn escapes_everything_it_echoes() {
        let html = render(None, None, "/\"><script>", 5);
        assert!(!html.contains("\"><script>"));
    }
}
