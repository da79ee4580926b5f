//! The embedded fault proxy: Toxiproxy's REST API served over the `noxious` proxy engine.
//!
//! noxious (a Rust port of Toxiproxy) provides the proxies and every toxic; this module is only
//! the registry of named proxies and the HTTP API in front of it, with Toxiproxy's paths, field
//! names and status codes, so the client and the scenarios work unchanged against real
//! Toxiproxy. The registry is the source of truth for toxics: a disabled proxy keeps them and
//! gets them back when it is enabled again, as in Toxiproxy. As in Toxiproxy, a toxic change
//! applies to the open connections too, without closing them or losing a byte (see
//! [`Entry::relink`] and docs/decisions.md §15).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::Path as FilePath;
use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use noxious::proxy::{ProxyConfig, ProxyRunner, Runner, Toxics};
use noxious::signal::{Close, Stop, Stopper};
use noxious::toxic::{StreamDirection, ToxicEvent, ToxicEventKind, ToxicEventResult};
use tokio::sync::Mutex;

use super::wire::{self, ApiError, Populated, ProxyRequest};

/// The version `GET /version` reports: the Toxiproxy API level this server implements.
pub const API_VERSION: &str = "2.9.0-fgchaos";

/// A handle on the registry; clone it freely.
#[derive(Clone, Default)]
pub struct ProxyServer {
    registry: Arc<Mutex<Registry>>,
}

#[derive(Default)]
struct Registry {
    proxies: BTreeMap<String, Entry>,
}

struct Entry {
    listen: String,
    upstream: String,
    toxics: Vec<wire::Toxic>,
    running: Option<Running>,
}

struct Running {
    stopper: Stopper,
    closed: Close,
    /// noxious's toxic-event channel: how a toxic change reaches the open connections.
    events: bmrng::RequestSender<ToxicEvent, ToxicEventResult>,
}

/// An API error: status and Toxiproxy's `{"error", "status"}` body.
#[derive(Debug)]
pub struct Failure(StatusCode, String);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let body = ApiError {
            error: self.1,
            status: self.0.as_u16(),
        };
        (self.0, Json(body)).into_response()
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.1)
    }
}

impl std::error::Error for Failure {}

fn not_found(what: &str) -> Failure {
    Failure(StatusCode::NOT_FOUND, format!("{what} not found"))
}

fn bad(msg: impl Into<String>) -> Failure {
    Failure(StatusCode::BAD_REQUEST, msg.into())
}

type ApiResult<T> = Result<T, Failure>;

impl Registry {
    fn proxy(&self, name: &str) -> ApiResult<&Entry> {
        self.proxies.get(name).ok_or_else(|| not_found("proxy"))
    }

    fn proxy_mut(&mut self, name: &str) -> ApiResult<&mut Entry> {
        self.proxies.get_mut(name).ok_or_else(|| not_found("proxy"))
    }
}

impl Entry {
    fn view(&self, name: &str) -> wire::Proxy {
        wire::Proxy {
            name: name.to_owned(),
            listen: self.listen.clone(),
            upstream: self.upstream.clone(),
            enabled: self.running.is_some(),
            toxics: self.toxics.clone(),
        }
    }

    async fn enable(&mut self, name: &str) -> ApiResult<()> {
        if self.running.is_some() {
            return Ok(());
        }
        let config = ProxyConfig {
            name: name.to_owned(),
            listen: self.listen.clone(),
            upstream: self.upstream.clone(),
            enabled: true,
            rand_seed: None,
        };
        let toxics = self.noxious_toxics()?;
        // Re-enabling rebinds the port the proxy just released; the release can lag a moment
        // behind the proxy task's exit, so an address-in-use is retried for up to 2 s.
        let mut tries = 0;
        let (listener, info) = loop {
            match ProxyRunner::initialize_proxy::<noxious::socket::TcpListener>(
                config.clone(),
                toxics.clone(),
            )
            .await
            {
                Ok(ok) => break ok,
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && tries < 40 => {
                    tries += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                Err(e) => {
                    return Err(Failure(
                        StatusCode::CONFLICT,
                        format!("listen {}: {e}", self.listen),
                    ));
                }
            }
        };
        let (stop, stopper) = Stop::new();
        let (closed, closer) = Close::new();
        let (events, receiver) = bmrng::channel(16);
        let proxy = name.to_owned();
        tokio::spawn(async move {
            if let Err(e) = ProxyRunner::run_proxy(listener, info, receiver, stop, closer).await {
                tracing::warn!(%proxy, error = %e, "proxy stopped with an error");
            }
        });
        self.running = Some(Running {
            stopper,
            closed,
            events,
        });
        Ok(())
    }

    /// The registry's toxics as noxious's two lists, in order.
    fn noxious_toxics(&self) -> ApiResult<Toxics> {
        let mut toxics = Toxics::empty();
        for t in &self.toxics {
            let t = to_noxious(t)?;
            match t.direction {
                StreamDirection::Upstream => toxics.upstream.push(t),
                StreamDirection::Downstream => toxics.downstream.push(t),
            }
        }
        Ok(toxics)
    }

    /// Index of the toxic called `name`.
    fn toxic(&self, name: &str) -> ApiResult<usize> {
        self.toxics
            .iter()
            .position(|t| t.name == name)
            .ok_or_else(|| not_found("toxic"))
    }

    /// Stops accepting and closes every open connection; returns once the port is free.
    async fn disable(&mut self) {
        if let Some(r) = self.running.take() {
            r.stopper.stop();
            let _ = r.closed.recv().await;
        }
    }

    /// Puts a changed toxic list into effect, as Toxiproxy does: the whole list goes to the
    /// running proxy, which re-forms the toxic chain of every open connection in place — no
    /// connection is closed, no byte lost or reordered (what a toxic holds is flushed first;
    /// the vendored noxious, third_party/noxious/PATCHED.md) — and new connections get it too.
    /// Returns once every open connection runs with the new list (noxious waits at most 5 s
    /// for a connection whose peer does not read; it switches when drained). Should the
    /// proxy's event loop be gone, the proxy is restarted with the list instead. See
    /// docs/decisions.md §15.
    async fn relink(&mut self, name: &str) -> ApiResult<()> {
        let Some(running) = &self.running else {
            return Ok(());
        };
        let event = ToxicEvent::new(
            name.to_owned(),
            ToxicEventKind::ReplaceAllToxics(self.noxious_toxics()?),
        );
        match running.events.send_receive(event).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Failure(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("proxy `{name}` refused the toxic change: {e}"),
            )),
            Err(e) => {
                tracing::warn!(proxy = %name, error = %e, "toxic events not delivered; restarting the proxy");
                self.disable().await;
                self.enable(name).await
            }
        }
    }
}

/// Converts Toxiproxy's toxic JSON into noxious's toxic (same attribute names and units).
fn to_noxious(t: &wire::Toxic) -> ApiResult<noxious::toxic::Toxic> {
    if t.stream != "upstream" && t.stream != "downstream" {
        return Err(bad(format!(
            "stream must be `upstream` or `downstream`, not `{}`",
            t.stream
        )));
    }
    if !(0.0..=1.0).contains(&t.toxicity) {
        return Err(bad("toxicity must be between 0 and 1"));
    }
    let json = serde_json::json!({
        "type": t.kind,
        "attributes": t.attributes,
        "name": t.name,
        "toxicity": t.toxicity,
        "stream": t.stream,
    });
    serde_json::from_value(json).map_err(|e| {
        bad(format!(
            "invalid toxic `{}`: {e} (types: latency, bandwidth, timeout, slow_close, slicer, limit_data, noop)",
            t.kind
        ))
    })
}

/// A free loopback port for `listen` addresses that end in `:0` (noxious cannot report the
/// port the kernel picked, so one is picked here and handed to it).
fn concrete_listen(listen: &str) -> ApiResult<String> {
    let addr: SocketAddr = listen
        .parse()
        .map_err(|_| bad(format!("listen `{listen}` is not an ip:port address")))?;
    if addr.port() != 0 {
        return Ok(listen.to_owned());
    }
    let l = std::net::TcpListener::bind(addr)
        .map_err(|e| Failure(StatusCode::CONFLICT, format!("listen {listen}: {e}")))?;
    let port = l
        .local_addr()
        .map_err(|e| Failure(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .port();
    Ok(SocketAddr::new(addr.ip(), port).to_string())
}

fn body<T>(r: Result<Json<T>, JsonRejection>) -> ApiResult<T> {
    r.map(|Json(v)| v)
        .map_err(|e| bad(format!("bad request body: {}", e.body_text())))
}

impl ProxyServer {
    pub fn new() -> Self {
        Self::default()
    }

    /// The API as an axum router.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/version", get(version))
            .route("/reset", post(reset))
            .route("/populate", post(populate))
            .route("/proxies", get(list).post(create))
            .route("/proxies/{proxy}", get(show).post(update).delete(remove))
            .route("/proxies/{proxy}/toxics", get(toxics).post(add_toxic))
            .route(
                "/proxies/{proxy}/toxics/{toxic}",
                get(show_toxic).post(update_toxic).delete(remove_toxic),
            )
            .with_state(self.clone())
    }

    /// Serves the API on `listener` until `shutdown` resolves, then stops every proxy.
    pub async fn serve(
        &self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown)
            .await?;
        self.stop_all().await;
        Ok(())
    }

    /// Disables every proxy (connections closed, ports freed).
    pub async fn stop_all(&self) {
        let mut reg = self.registry.lock().await;
        for e in reg.proxies.values_mut() {
            e.disable().await;
        }
    }

    /// Creates or replaces every proxy in `reqs`, in order (`POST /populate`, Toxiproxy's
    /// `-config`). Stops at the first that fails; its error names the proxy.
    pub async fn populate(&self, reqs: Vec<ProxyRequest>) -> Result<Vec<wire::Proxy>, Failure> {
        let mut proxies = Vec::with_capacity(reqs.len());
        for r in reqs {
            let name = r.name.clone().unwrap_or_default();
            let made = self
                .create_one(r, true)
                .await
                .map_err(|Failure(code, msg)| {
                    if name.is_empty() {
                        Failure(code, msg)
                    } else {
                        Failure(code, format!("proxy `{name}`: {msg}"))
                    }
                })?;
            proxies.push(made);
        }
        Ok(proxies)
    }

    async fn create_one(&self, req: ProxyRequest, replace: bool) -> ApiResult<wire::Proxy> {
        let name = req
            .name
            .filter(|n| !n.is_empty())
            .ok_or_else(|| bad("missing required field: name"))?;
        let upstream = req
            .upstream
            .filter(|u| !u.is_empty())
            .ok_or_else(|| bad("missing required field: upstream"))?;
        let listen = concrete_listen(req.listen.as_deref().unwrap_or("127.0.0.1:0"))?;
        let mut reg = self.registry.lock().await;
        if let Some(existing) = reg.proxies.get_mut(&name) {
            if !replace {
                return Err(Failure(StatusCode::CONFLICT, "proxy already exists".into()));
            }
            if existing.listen == listen && existing.upstream == upstream {
                if req.enabled.unwrap_or(true) {
                    existing.enable(&name).await?;
                } else {
                    existing.disable().await;
                }
                return Ok(existing.view(&name));
            }
            existing.disable().await;
            reg.proxies.remove(&name);
        }
        let mut entry = Entry {
            listen,
            upstream,
            toxics: Vec::new(),
            running: None,
        };
        if req.enabled.unwrap_or(true) {
            entry.enable(&name).await?;
        }
        let view = entry.view(&name);
        reg.proxies.insert(name, entry);
        Ok(view)
    }
}

async fn version() -> Json<wire::Version> {
    Json(wire::Version {
        version: API_VERSION.into(),
    })
}

async fn reset(State(s): State<ProxyServer>) -> ApiResult<StatusCode> {
    let mut reg = s.registry.lock().await;
    for (name, e) in reg.proxies.iter_mut() {
        if !e.toxics.is_empty() {
            e.toxics.clear();
            e.relink(name).await?;
        }
        e.enable(name).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn populate(
    State(s): State<ProxyServer>,
    req: Result<Json<Vec<ProxyRequest>>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<Populated>)> {
    let proxies = s.populate(body(req)?).await?;
    Ok((StatusCode::CREATED, Json(Populated { proxies })))
}

async fn list(State(s): State<ProxyServer>) -> Json<BTreeMap<String, wire::Proxy>> {
    let reg = s.registry.lock().await;
    Json(
        reg.proxies
            .iter()
            .map(|(n, e)| (n.clone(), e.view(n)))
            .collect(),
    )
}

async fn create(
    State(s): State<ProxyServer>,
    req: Result<Json<ProxyRequest>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<wire::Proxy>)> {
    let p = s.create_one(body(req)?, false).await?;
    Ok((StatusCode::CREATED, Json(p)))
}

async fn show(
    State(s): State<ProxyServer>,
    Path(name): Path<String>,
) -> ApiResult<Json<wire::Proxy>> {
    let reg = s.registry.lock().await;
    let e = reg.proxy(&name)?;
    Ok(Json(e.view(&name)))
}

async fn update(
    State(s): State<ProxyServer>,
    Path(name): Path<String>,
    req: Result<Json<ProxyRequest>, JsonRejection>,
) -> ApiResult<Json<wire::Proxy>> {
    let req = body(req)?;
    let mut reg = s.registry.lock().await;
    let e = reg.proxy_mut(&name)?;
    let listen = match req.listen {
        Some(l) => concrete_listen(&l)?,
        None => e.listen.clone(),
    };
    let upstream = req.upstream.unwrap_or_else(|| e.upstream.clone());
    let was_enabled = e.running.is_some();
    if listen != e.listen || upstream != e.upstream {
        e.disable().await;
        e.listen = listen;
        e.upstream = upstream;
    }
    if req.enabled.unwrap_or(was_enabled) {
        e.enable(&name).await?;
    } else {
        e.disable().await;
    }
    Ok(Json(e.view(&name)))
}

async fn remove(State(s): State<ProxyServer>, Path(name): Path<String>) -> ApiResult<StatusCode> {
    let mut reg = s.registry.lock().await;
    let mut e = reg
        .proxies
        .remove(&name)
        .ok_or_else(|| not_found("proxy"))?;
    e.disable().await;
    Ok(StatusCode::NO_CONTENT)
}

async fn toxics(
    State(s): State<ProxyServer>,
    Path(name): Path<String>,
) -> ApiResult<Json<Vec<wire::Toxic>>> {
    let reg = s.registry.lock().await;
    let e = reg.proxy(&name)?;
    Ok(Json(e.toxics.clone()))
}

async fn add_toxic(
    State(s): State<ProxyServer>,
    Path(name): Path<String>,
    req: Result<Json<wire::Toxic>, JsonRejection>,
) -> ApiResult<Json<wire::Toxic>> {
    let mut toxic = body(req)?;
    if toxic.name.is_empty() {
        toxic.name = format!("{}_{}", toxic.kind, toxic.stream);
    }
    // Validated now, so a bad toxic is a 400 and never reaches the proxy.
    to_noxious(&toxic)?;
    let mut reg = s.registry.lock().await;
    let e = reg.proxy_mut(&name)?;
    if e.toxics.iter().any(|t| t.name == toxic.name) {
        return Err(Failure(StatusCode::CONFLICT, "toxic already exists".into()));
    }
    e.toxics.push(toxic.clone());
    e.relink(&name).await?;
    Ok(Json(toxic))
}

async fn show_toxic(
    State(s): State<ProxyServer>,
    Path((name, toxic)): Path<(String, String)>,
) -> ApiResult<Json<wire::Toxic>> {
    let reg = s.registry.lock().await;
    let e = reg.proxy(&name)?;
    Ok(Json(e.toxics[e.toxic(&toxic)?].clone()))
}

/// Toxiproxy semantics: the body may change `toxicity` and any `attributes`; the rest stays.
async fn update_toxic(
    State(s): State<ProxyServer>,
    Path((name, toxic)): Path<(String, String)>,
    req: Result<Json<serde_json::Value>, JsonRejection>,
) -> ApiResult<Json<wire::Toxic>> {
    let patch = body(req)?;
    let mut reg = s.registry.lock().await;
    let e = reg.proxy_mut(&name)?;
    let i = e.toxic(&toxic)?;
    let mut updated = e.toxics[i].clone();
    if let Some(t) = patch.get("toxicity").and_then(serde_json::Value::as_f64) {
        updated.toxicity = t as f32;
    }
    if let Some(serde_json::Value::Object(attrs)) = patch.get("attributes") {
        for (k, v) in attrs {
            updated.attributes.insert(k.clone(), v.clone());
        }
    }
    to_noxious(&updated)?;
    e.toxics[i] = updated.clone();
    e.relink(&name).await?;
    Ok(Json(updated))
}

async fn remove_toxic(
    State(s): State<ProxyServer>,
    Path((name, toxic)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let mut reg = s.registry.lock().await;
    let e = reg.proxy_mut(&name)?;
    let i = e.toxic(&toxic)?;
    e.toxics.remove(i);
    e.relink(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Why a Toxiproxy `-config` file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the proxy config {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("proxy config {path}: {detail}")]
    Invalid { path: String, detail: String },
}

/// Reads a Toxiproxy `-config` file: a JSON array of `{"name", "listen", "upstream",
/// "enabled"?}`. Every entry is checked here, so a bad file is refused before any proxy starts.
pub fn read_config(path: &FilePath) -> Result<Vec<ProxyRequest>, ConfigError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: shown.clone(),
        source,
    })?;
    parse_config(&text).map_err(|detail| ConfigError::Invalid {
        path: shown,
        detail,
    })
}

/// Parses and checks a `-config` file's text; the error says which entry and what is wrong.
pub fn parse_config(text: &str) -> Result<Vec<ProxyRequest>, String> {
    const SHAPE: &str = "a JSON array of {\"name\", \"listen\", \"upstream\", \"enabled\"?}";
    let de = &mut serde_json::Deserializer::from_str(text);
    let reqs: Vec<ProxyRequest> = serde_path_to_error::deserialize(de).map_err(|e| {
        let at = e.path().to_string();
        if at == "." {
            format!("expected {SHAPE}: {}", e.inner())
        } else {
            format!("entry {at}: {}", e.inner())
        }
    })?;
    let mut names = BTreeSet::new();
    for (i, r) in reqs.iter().enumerate() {
        let name = r.name.as_deref().unwrap_or_default();
        if name.is_empty() {
            return Err(format!("entry [{i}] has no \"name\" ({SHAPE})"));
        }
        if !names.insert(name) {
            return Err(format!("proxy `{name}` appears twice"));
        }
        if r.upstream.as_deref().unwrap_or_default().is_empty() {
            return Err(format!("proxy `{name}` has no \"upstream\" (host:port)"));
        }
        if let Some(listen) = &r.listen {
            if listen.parse::<SocketAddr>().is_err() {
                return Err(format!(
                    "proxy `{name}`: listen `{listen}` is not an ip:port address (e.g. 0.0.0.0:16379)"
                ));
            }
        }
    }
    Ok(reqs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_files_in_toxiproxy_format() {
        let reqs = parse_config(
            r#"[
              {"name": "api-redis", "listen": "0.0.0.0:16379", "upstream": "redis:6379", "enabled": true},
              {"name": "kafka", "listen": "127.0.0.1:9092", "upstream": "kafka:9092"}
            ]"#,
        )
        .unwrap();
        assert_eq!(reqs.len(), 2);
        assert_eq!(reqs[0].name.as_deref(), Some("api-redis"));
        assert_eq!(reqs[0].upstream.as_deref(), Some("redis:6379"));
        assert_eq!(reqs[1].enabled, None);
        assert!(parse_config("[]").unwrap().is_empty());
    }

    #[test]
    fn bad_config_files_say_what_is_wrong() {
        let err = |text: &str| parse_config(text).unwrap_err();
        let e = err(r#"{"name": "x"}"#);
        assert!(e.starts_with("expected a JSON array"), "{e}");
        let e = err(r#"[{"name": "x", "upstream": "a:1", "enabled": "yes"}]"#);
        assert!(e.contains("[0].enabled") && e.contains("line 1"), "{e}");
        let e = err(r#"[{"listen": "0.0.0.0:1", "upstream": "a:1"}]"#);
        assert!(e.contains("entry [0] has no \"name\""), "{e}");
        let e = err(r#"[{"name": "x", "listen": "0.0.0.0:1"}]"#);
        assert!(e.contains("`x` has no \"upstream\""), "{e}");
        let e = err(r#"[{"name": "x", "listen": "localhost:1", "upstream": "a:1"}]"#);
        assert!(e.contains("not an ip:port"), "{e}");
        let e = err(r#"[{"name": "x", "upstream": "a:1"}, {"name": "x", "upstream": "b:1"}]"#);
        assert!(e.contains("`x` appears twice"), "{e}");
        let e = err("[{\"name\": ");
        assert!(e.contains("EOF"), "{e}");
    }

    #[test]
    fn unreadable_config_names_the_file() {
        let e = read_config(FilePath::new("/nonexistent/toxiproxy.json")).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("/nonexistent/toxiproxy.json"), "{text}");
    }
}
