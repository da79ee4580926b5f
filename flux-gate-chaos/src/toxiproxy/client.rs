//! One async client for Toxiproxy's REST API: real Toxiproxy (docker target) and the embedded
//! server (local target) alike. Every call returns whether the change landed — a harness must
//! know that a fault is really on (see docs/decisions.md for why not `toxiproxy_rust`).

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::wire::{ApiError, Populated, Proxy, ProxyRequest, Toxic, Version};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("the fault proxy API at {url} does not answer ({source}); is Toxiproxy (or `fgchaos proxy`) running there?")]
    Unreachable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("fault proxy: {what} failed: {status} {message}")]
    Api {
        what: String,
        status: u16,
        message: String,
    },
    #[error("fault proxy: {what}: unexpected answer: {detail}")]
    Decode { what: String, detail: String },
}

/// A Toxiproxy API client bound to one base URL (`http://127.0.0.1:8474`).
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    http: reqwest::Client,
}

impl Client {
    pub fn new(base: impl Into<String>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .no_proxy()
            .build()
            .unwrap_or_default();
        Client {
            base: base.into().trim_end_matches('/').to_owned(),
            http,
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    fn unreachable(&self) -> impl FnOnce(reqwest::Error) -> ClientError + '_ {
        move |source| ClientError::Unreachable {
            url: self.base.clone(),
            source,
        }
    }

    /// One request; the status and the whole body.
    async fn raw<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<(StatusCode, bytes::Bytes), ClientError> {
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(self.unreachable())?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(self.unreachable())?;
        Ok((status, bytes))
    }

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        what: impl Into<String>,
    ) -> Result<Option<T>, ClientError> {
        let what = what.into();
        let (status, bytes) = self.raw(method, path, body).await?;
        if !status.is_success() {
            let message = serde_json::from_slice::<ApiError>(&bytes)
                .map(|e| e.error)
                .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).trim().to_owned());
            return Err(ClientError::Api {
                what,
                status: status.as_u16(),
                message,
            });
        }
        if status == StatusCode::NO_CONTENT || bytes.is_empty() {
            return Ok(None);
        }
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| ClientError::Decode {
                what,
                detail: e.to_string(),
            })
    }

    async fn expect<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        what: String,
    ) -> Result<T, ClientError> {
        self.call(method, path, body, what.clone())
            .await?
            .ok_or(ClientError::Decode {
                what,
                detail: "empty body".into(),
            })
    }

    pub async fn version(&self) -> Result<String, ClientError> {
        // Toxiproxy before 2.6 answers plain text; later versions JSON.
        let (_, bytes) = self.raw::<()>(Method::GET, "/version", None).await?;
        let text = String::from_utf8_lossy(&bytes);
        Ok(serde_json::from_str::<Version>(&text)
            .map(|v| v.version)
            .unwrap_or_else(|_| text.trim().to_owned()))
    }

    /// Creates or replaces these proxies (Toxiproxy's `POST /populate`).
    pub async fn populate(&self, proxies: &[ProxyRequest]) -> Result<Vec<Proxy>, ClientError> {
        let p: Populated = self
            .expect(
                Method::POST,
                "/populate",
                Some(&proxies),
                "populate proxies".into(),
            )
            .await?;
        Ok(p.proxies)
    }

    pub async fn proxies(&self) -> Result<BTreeMap<String, Proxy>, ClientError> {
        self.expect::<(), _>(Method::GET, "/proxies", None, "list proxies".into())
            .await
    }

    pub async fn proxy(&self, name: &str) -> Result<Proxy, ClientError> {
        self.expect::<(), _>(
            Method::GET,
            &format!("/proxies/{name}"),
            None,
            format!("read proxy {name}"),
        )
        .await
    }

    /// Enables or disables a proxy (disabled: connections refused, open ones closed).
    pub async fn set_enabled(&self, name: &str, enabled: bool) -> Result<Proxy, ClientError> {
        let req = ProxyRequest {
            enabled: Some(enabled),
            ..ProxyRequest::default()
        };
        let what = format!(
            "{} proxy {name}",
            if enabled { "enable" } else { "disable" }
        );
        self.expect(Method::POST, &format!("/proxies/{name}"), Some(&req), what)
            .await
    }

    pub async fn add_toxic(&self, proxy: &str, toxic: &Toxic) -> Result<Toxic, ClientError> {
        let what = format!("add toxic {} to {proxy}", toxic.name);
        self.expect(
            Method::POST,
            &format!("/proxies/{proxy}/toxics"),
            Some(toxic),
            what,
        )
        .await
    }

    pub async fn toxics(&self, proxy: &str) -> Result<Vec<Toxic>, ClientError> {
        self.expect::<(), _>(
            Method::GET,
            &format!("/proxies/{proxy}/toxics"),
            None,
            format!("list toxics of {proxy}"),
        )
        .await
    }

    pub async fn remove_toxic(&self, proxy: &str, toxic: &str) -> Result<(), ClientError> {
        let what = format!("remove toxic {toxic} from {proxy}");
        self.call::<(), serde_json::Value>(
            Method::DELETE,
            &format!("/proxies/{proxy}/toxics/{toxic}"),
            None,
            what,
        )
        .await
        .map(drop)
    }

    pub async fn delete(&self, proxy: &str) -> Result<(), ClientError> {
        self.call::<(), serde_json::Value>(
            Method::DELETE,
            &format!("/proxies/{proxy}"),
            None,
            format!("delete proxy {proxy}"),
        )
        .await
        .map(drop)
    }

    /// Enables every proxy and removes every toxic.
    pub async fn reset(&self) -> Result<(), ClientError> {
        self.call::<(), serde_json::Value>(Method::POST, "/reset", None, "reset".to_owned())
            .await
            .map(drop)
    }

    /// Removes every toxic fgchaos added (named [`TOXIC_PREFIX`]…) and re-enables every proxy:
    /// what a crashed run left. Other toxics stay. Returns how many toxics were removed.
    pub async fn remove_fgchaos_toxics(&self) -> Result<usize, ClientError> {
        let mut removed = 0;
        for (name, p) in self.proxies().await? {
            for t in p.toxics.iter().filter(|t| t.name.starts_with(TOXIC_PREFIX)) {
                self.remove_toxic(&name, &t.name).await?;
                removed += 1;
            }
            if !p.enabled {
                self.set_enabled(&name, true).await?;
            }
        }
        Ok(removed)
    }
}

/// Name prefix of every toxic fgchaos adds: cleanup removes exactly these.
pub const TOXIC_PREFIX: &str = "fgchaos-";
