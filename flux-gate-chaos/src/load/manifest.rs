//! What a segment's history carries beside it so that it can be merged with the others: which
//! load it is a slice of, and where on the coordinator's timeline it ran.
//!
//! It is a file of its own (`h.jsonl` → `h.jsonl.manifest.json`), not a first line of the
//! history: a history stays a plain list of operations that every reader of one already
//! understands.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::clock::{self, Reading};
use super::segment::Segment;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The load's id, shared by every segment of it: the prefix of its idempotency keys.
    pub run: String,
    pub seed: u64,
    /// The load as every segment was given it (JSON): segments of one load agree on all of it.
    pub load: String,
    pub segment: Segment,
    /// The start every segment waited for, on the coordinator's clock (µs since the epoch).
    pub start_at_unix_us: u64,
    /// When this segment's generator actually started, on the coordinator's clock.
    pub started_unix_us: u64,
    /// Whose clock: `local`, or the coordinator's clock URL.
    pub clock: String,
    pub clock_at_start: Reading,
    pub clock_at_end: Reading,
    /// Operations in the history.
    pub ops: u64,
    /// Its tickets still queued when the load's time was up (the system could not keep up).
    #[serde(default)]
    pub not_sent: u64,
    /// How long its load ran, in ms.
    #[serde(default)]
    pub elapsed_ms: u64,
}

/// What a run's journal keeps of each of its generators: enough to see that their histories
/// stood on one timeline (the rest of the manifest is the run's own load, seed and id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeneratorRecord {
    pub segment: Segment,
    pub ops: u64,
    /// How much later than agreed it started (µs): what its times were moved by.
    pub late_us: i64,
    /// How far its place on the coordinator's timeline may be wrong (µs).
    pub skew_us: u64,
    pub clock: String,
    /// The swarm node it ran on, when the run placed it there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{}: no manifest beside it ({}): only a history written by `fgchaos load --segment` (or a run with `generators:`) can be merged", history.display(), manifest.display())]
    Missing { history: PathBuf, manifest: PathBuf },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not a segment manifest: {source}", path.display())]
    Malformed {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

impl Manifest {
    /// Where the manifest of `history` is: its whole name and `.manifest.json` (replacing an
    /// extension would give `seg.1` and `seg.2` one manifest).
    pub fn beside(history: &Path) -> PathBuf {
        let mut name = history.as_os_str().to_owned();
        name.push(".manifest.json");
        PathBuf::from(name)
    }

    /// What a run's journal keeps of it.
    pub fn record(&self) -> GeneratorRecord {
        GeneratorRecord {
            segment: self.segment,
            ops: self.ops,
            late_us: self.late_us(),
            skew_us: self.skew_us(),
            clock: self.clock.clone(),
            node: None,
        }
    }

    /// How far this generator's place on the coordinator's timeline may be wrong.
    pub fn skew_us(&self) -> u64 {
        clock::skew_us(self.clock_at_start, self.clock_at_end)
    }

    /// How much later than agreed this generator started: what its operations' times (from
    /// its own start) are moved by to stand on the coordinator's timeline.
    pub fn late_us(&self) -> i64 {
        let late = i128::from(self.started_unix_us) - i128::from(self.start_at_unix_us);
        late.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
    }

    pub fn write(&self, history: &Path) -> Result<(), ManifestError> {
        let path = Manifest::beside(history);
        let text =
            serde_json::to_string_pretty(self).map_err(|source| ManifestError::Malformed {
                path: path.clone(),
                source,
            })?;
        std::fs::write(&path, text).map_err(|source| ManifestError::Io { path, source })
    }

    /// The manifest of `history`.
    pub fn of(history: &Path) -> Result<Manifest, ManifestError> {
        let path = Manifest::beside(history);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ManifestError::Missing {
                    history: history.to_owned(),
                    manifest: path,
                })
            }
            Err(source) => return Err(ManifestError::Io { path, source }),
        };
        serde_json::from_str(&text).map_err(|source| ManifestError::Malformed { path, source })
    }
}
