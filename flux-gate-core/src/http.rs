//! HTTP plumbing shared by the three servers: JSON answers, `/health`, `/metrics`, a JSON 404,
//! and serving until shutdown is requested.

use std::net::SocketAddr;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::contract::{Answer, Status};
use crate::shutdown::Shutdown;

/// A JSON answer with the HTTP code of its status word.
pub fn answer(a: Answer) -> Response {
    let code =
        StatusCode::from_u16(a.status.http_code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (code, Json(a)).into_response()
}

/// 503 with `Retry-After`, for a dependency that did not answer in time.
pub fn unavailable(message: impl Into<String>) -> Response {
    let mut r = answer(Answer::error(Status::Unavailable, message));
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    r
}

/// Installs the Prometheus recorder for this process. Latency histograms get buckets fit for
/// a flash sale (sub-millisecond to seconds).
pub fn install_metrics() -> Result<PrometheusHandle, metrics_exporter_prometheus::BuildError> {
    PrometheusBuilder::new()
        .set_buckets(&[
            0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
        ])?
        .install_recorder()
}

/// Adds what every server has to `routes`: `/health` (liveness), `/metrics`, and JSON answers
/// for unknown routes (404) and methods (405). Applied last, so the fallbacks cover every route.
pub fn with_common_routes(routes: Router, metrics: PrometheusHandle) -> Router {
    routes
        .route(
            "/health",
            get(|| async { answer(Answer::bare(Status::Ok)) }),
        )
        .route(
            "/metrics",
            get(move || std::future::ready(metrics.render())),
        )
        .fallback(|| async { answer(Answer::error(Status::NotFound, "no such route")) })
        .method_not_allowed_fallback(|| async {
            answer(Answer::error(
                Status::MethodNotAllowed,
                "method not allowed on this route",
            ))
        })
}

/// Binds `addr` and serves `app` until `shutdown` is requested, then drains in-flight requests.
pub async fn serve(addr: SocketAddr, app: Router, shutdown: Shutdown) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(addr = %listener.local_addr()?, "listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.requested())
        .await
}
