//! The run journal: everything a run did, in one JSON file next to its history, its stock
//! samples and its logs. Together they are the run's [`crate::record::Record`]: the checkers and
//! the report read nothing else, so `fgchaos check` can judge a stored run again.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::load::LoadSummary;
use crate::nemesis::{Injection, TimelineEvent};
use crate::scenario::Scenario;
use crate::target::Endpoints;
use crate::target_kind::TargetKind;

/// Journal format version; bump on change. 2 added the stock samples (`samples`, `sampling`)
/// and the settle trace (`settled.progress`); 3 the backlog read once a second (`backlog`).
/// Older journals still read, without them.
pub const FORMAT: u32 = 3;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Journal {
    pub format: u32,
    pub run_id: String,
    pub fgchaos_version: String,
    pub scenario_file: String,
    /// Fingerprint of the scenario text (FNV-1a 64, hex; not a security hash): same text, same value.
    pub scenario_hash: String,
    pub scenario: Scenario,
    pub seed: u64,
    pub target: TargetKind,
    /// The sale as started: the product id includes the run suffix.
    pub product: String,
    pub stock: u32,
    pub per_user_limit: Option<u32>,
    /// UTC, RFC 3339.
    pub started_at: String,
    /// Unix ms of the load's time zero (every `*_ms`/`*_us` offset counts from it).
    pub load_zero_unix_ms: u64,
    pub endpoints: Endpoints,
    /// Engine, images and containers (docker target).
    #[serde(default)]
    pub environment: crate::target::Environment,
    pub faults: Vec<Injection>,
    pub timeline: Vec<TimelineEvent>,
    /// Relative to the journal's directory.
    pub history: PathBuf,
    /// Redis stock and outbox sampled through the run (JSON lines, relative to the journal's
    /// directory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub samples: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampling: Option<crate::model::Sampling>,
    /// Consumer lag and backlog age, read once a second from the start of the load to the
    /// end of settle.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backlog: Vec<crate::model::BacklogPoint>,
    pub load: Option<LoadSummary>,
    /// Directory with one log file per service, if kept.
    pub logs: Option<PathBuf>,
    /// Set when the harness itself failed (a fault did not land, the stack would not start).
    pub harness_error: Option<String>,
    /// Set when the run was interrupted (Ctrl-C).
    pub interrupted: bool,
    /// The warm-up before the first fault, held against the steady-state hypothesis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm_up: Option<crate::model::Warmup>,
    /// Set when a stop condition held or `fgchaos halt` asked: the verdict is `aborted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aborted: Option<crate::model::Abort>,
    /// The settle phase and the final state it read.
    #[serde(default)]
    pub settled: Option<crate::model::Settled>,
}

impl Journal {
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let text = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(path, text)
    }

    pub fn read(path: &Path) -> std::io::Result<Self> {
        let text = std::fs::read(path)?;
        serde_json::from_slice(&text).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        })
    }
}

/// FNV-1a, 64 bit: a stable fingerprint (not a security hash) of the scenario text.
pub fn fingerprint(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}
