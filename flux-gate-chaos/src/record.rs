//! A stored run: everything the checkers judge, as it lies in the run's directory — the
//! journal (scenario, faults, timeline, settle trace and final state), the history of every
//! operation, the stock samples and the service logs. `fgchaos run` judges the record it has
//! just written; `fgchaos check RUN_DIR` reads it back and judges it again with the current
//! checkers, so a verdict is reproducible and old runs can be re-checked.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::journal::Journal;
use crate::load::{history, Op};
use crate::model::Sample;

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path}: journal format {found}; this fgchaos reads formats 1 to {}",
        crate::journal::FORMAT
    )]
    Format { path: PathBuf, found: u32 },
}

/// One run as the checkers see it.
#[derive(Debug, Clone)]
pub struct Record {
    pub journal: Journal,
    pub ops: Vec<Op>,
    /// Redis stock and outbox sampled through the run (empty for runs recorded before
    /// sampling existed, or when Redis never answered).
    pub samples: Vec<Sample>,
    pub logs: LogTails,
}

impl Record {
    /// Reads `dir/journal.json` and the files it names.
    pub fn read(dir: &Path) -> Result<Record, RecordError> {
        let path = dir.join("journal.json");
        let journal = Journal::read(&path).map_err(|source| RecordError::Read {
            path: path.clone(),
            source,
        })?;
        if journal.format == 0 || journal.format > crate::journal::FORMAT {
            return Err(RecordError::Format {
                path,
                found: journal.format,
            });
        }
        let read = |p: PathBuf, e: std::io::Error| RecordError::Read { path: p, source: e };
        let history_path = dir.join(&journal.history);
        let ops = history::read(&history_path).map_err(|e| read(history_path.clone(), e))?;
        let samples = match &journal.samples {
            Some(rel) => {
                let p = dir.join(rel);
                read_samples(&p).map_err(|e| read(p.clone(), e))?
            }
            None => Vec::new(),
        };
        let logs = journal
            .logs
            .as_ref()
            .map(|rel| LogTails::read_dir(&dir.join(rel)))
            .unwrap_or_default();
        Ok(Record {
            journal,
            ops,
            samples,
            logs,
        })
    }
}

/// Warning and error lines kept per log file.
const KEPT: usize = 50;

/// The last warning and error lines of each service's log, by file name without `.log`
/// (`inventory-worker-1`): what a diagnosis quotes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogTails {
    files: BTreeMap<String, Vec<String>>,
}

impl LogTails {
    /// Reads every `*.log` of `dir`; a missing or unreadable directory gives no lines.
    pub fn read_dir(dir: &Path) -> LogTails {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return LogTails::default();
        };
        let mut texts = Vec::new();
        for e in entries.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "log") {
                if let (Some(stem), Ok(bytes)) = (p.file_stem(), std::fs::read(&p)) {
                    texts.push((
                        stem.to_string_lossy().into_owned(),
                        String::from_utf8_lossy(&bytes).into_owned(),
                    ));
                }
            }
        }
        LogTails::from_texts(texts)
    }

    pub fn from_texts<N: Into<String>, T: AsRef<str>>(
        texts: impl IntoIterator<Item = (N, T)>,
    ) -> LogTails {
        let mut files = BTreeMap::new();
        for (name, text) in texts {
            let mut lines: Vec<String> = text
                .as_ref()
                .lines()
                .filter(|l| is_trouble(l))
                .map(|l| strip_ansi(l).trim_end().to_owned())
                .collect();
            let cut = lines.len().saturating_sub(KEPT);
            lines.drain(..cut);
            files.insert(name.into(), lines);
        }
        LogTails { files }
    }

    /// The last `n` lines of each file whose name contains one of `names`, as `file: line`.
    pub fn matching(&self, names: &[&str], n: usize) -> Vec<String> {
        self.files
            .iter()
            .filter(|(f, _)| names.iter().any(|n| f.contains(n)))
            .flat_map(|(f, lines)| {
                lines[lines.len().saturating_sub(n)..]
                    .iter()
                    .map(move |l| format!("{f}: {l}"))
            })
            .collect()
    }
}

/// A warning, an error or a panic, in tracing's text or JSON format or a Rust panic message.
fn is_trouble(line: &str) -> bool {
    [" WARN ", " ERROR ", "\"WARN\"", "\"ERROR\"", "panicked at"]
        .iter()
        .any(|m| line.contains(m))
}

/// Drops terminal colour sequences (`ESC [ ... m`), which some services write even to files.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Reads `samples.jsonl`.
pub fn read_samples(path: &Path) -> std::io::Result<Vec<Sample>> {
    crate::jsonl::read(path)
}

/// Writes `samples.jsonl`.
pub fn write_samples(path: &Path, samples: &[Sample]) -> std::io::Result<()> {
    crate::jsonl::write(path, samples)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_warnings_and_errors_of_the_named_files() {
        let mut worker = String::new();
        for i in 0..60 {
            worker.push_str(&format!(
                "t INFO step {i}\nt \u{1b}[33m WARN \u{1b}[0m retry {i}\n"
            ));
        }
        let logs = LogTails::from_texts([
            ("inventory-worker-1", worker.as_str()),
            ("redis", "1:M * Ready to accept connections\n"),
            ("ingestion-api-2", "{\"level\":\"ERROR\",\"msg\":\"x\"}\n"),
        ]);
        assert_eq!(
            logs.matching(&["worker"], 2),
            vec![
                "inventory-worker-1: t  WARN  retry 58",
                "inventory-worker-1: t  WARN  retry 59"
            ]
        );
        assert_eq!(
            logs.matching(&["api"], 5),
            vec!["ingestion-api-2: {\"level\":\"ERROR\",\"msg\":\"x\"}"]
        );
        assert!(logs.matching(&["redis"], 5).is_empty());
        assert!(LogTails::read_dir(Path::new("/nonexistent"))
            .matching(&[""], 5)
            .is_empty());
    }
}
