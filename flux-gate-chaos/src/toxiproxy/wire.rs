//! Toxiproxy's JSON, field for field (`stream`, `toxicity`, `attributes`), shared by the
//! embedded server and the client so both speak exactly what real Toxiproxy speaks.

use serde::{Deserialize, Serialize};

/// A proxy as `GET /proxies/{name}` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Proxy {
    pub name: String,
    pub listen: String,
    pub upstream: String,
    pub enabled: bool,
    #[serde(default)]
    pub toxics: Vec<Toxic>,
}

/// `POST /proxies` and `POST /populate` entries; `POST /proxies/{name}` (all fields optional).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ProxyRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// A toxic: `{"name", "type", "stream", "toxicity", "attributes"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Toxic {
    #[serde(default)]
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default = "downstream")]
    pub stream: String,
    #[serde(default = "one")]
    pub toxicity: f32,
    #[serde(default)]
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

fn downstream() -> String {
    "downstream".into()
}
fn one() -> f32 {
    1.0
}

impl Toxic {
    /// A toxic with Toxiproxy's default name `{type}_{stream}`.
    pub fn new(kind: &str, stream: &str, attributes: serde_json::Value) -> Self {
        let attributes = match attributes {
            serde_json::Value::Object(m) => m,
            _ => serde_json::Map::new(),
        };
        Toxic {
            name: format!("{kind}_{stream}"),
            kind: kind.into(),
            stream: stream.into(),
            toxicity: 1.0,
            attributes,
        }
    }
}

/// `POST /populate` answers `{"proxies": [...]}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Populated {
    pub proxies: Vec<Proxy>,
}

/// Toxiproxy's error body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiError {
    pub error: String,
    pub status: u16,
}

/// `GET /version`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Version {
    pub version: String,
}
