//! Where a generator's history goes: a file, with a segment's manifest in a file beside it; or
//! the run's coordinator, as one upload whose lines are the operations and whose last line is
//! the manifest ([`super::coordinator`] takes it, [`super::remote`] sends it). Either way the
//! operations are the same JSON lines, written by the same [`Recorder`].

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::history::Recorder;
use super::manifest::{Manifest, ManifestError};
use super::remote::Lines;

/// Where a generator's history goes.
pub enum Out {
    File(PathBuf),
    Upload(Lines),
}

impl Out {
    /// The recorder of the operations.
    pub fn recorder(&self) -> std::io::Result<Recorder> {
        match self {
            Out::File(path) => Recorder::create(path),
            Out::Upload(lines) => Ok(Recorder::writing(Box::new(lines.clone()))),
        }
    }

    /// Writes a segment's manifest: beside the file, or as the upload's last line.
    pub fn manifest(&self, manifest: &Manifest) -> Result<(), ManifestError> {
        match self {
            Out::File(path) => manifest.write(path),
            Out::Upload(lines) => lines.manifest(manifest),
        }
    }

    /// For messages: the file, or the coordinator.
    pub fn describe(&self) -> String {
        match self {
            Out::File(path) => path.display().to_string(),
            Out::Upload(lines) => lines.describe(),
        }
    }
}

/// The last line of an upload: `{"manifest": …}`. No op line starts so (an op's first field
/// is `seq`).
#[derive(Serialize, Deserialize)]
pub struct ManifestLine {
    pub manifest: Manifest,
}

/// How an upload's manifest line begins.
pub const MANIFEST_LINE: &[u8] = b"{\"manifest\":";
