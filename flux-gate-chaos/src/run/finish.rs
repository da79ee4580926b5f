//! Step 5 of a run: stop sampling and watching the backlog, tear the stack down, keep the
//! service logs, read the history back and write the journal — leaving the [`Record`] that
//! judging and reporting read.

use std::path::PathBuf;

use super::assemble;
use super::drive::Driven;
use super::settle::Settling;
use super::{Run, RunError};
use crate::load::history;
use crate::model::{BacklogPoint, Sample, Sampling};
use crate::record;
use crate::record::{LogTails, Record};

/// What step 5 returned, besides the record it writes.
#[derive(Debug, Default)]
pub struct Finished {
    /// `samples.jsonl` beside the journal, and how the sampling went.
    pub samples: Option<(PathBuf, Sampling)>,
    pub backlog: Vec<BacklogPoint>,
    /// The service logs, moved beside the journal (relative to its directory).
    pub logs: Option<PathBuf>,
    /// An unreadable history cannot be judged: a harness error, not "every row unsent".
    pub history_error: Option<String>,
}

impl Run {
    /// Tears down (keeping the run directory when asked or when the harness failed), builds
    /// the journal from every step's value, writes it and returns the stored record.
    pub async fn finish(
        mut self,
        keep: bool,
        driven: Driven,
        settling: Settling,
    ) -> Result<Record, RunError> {
        let (samples, samples_file) = self.stop_sampling().await;
        let backlog = match self.backlog.take() {
            Some(watch) => watch.stop().await,
            None => Vec::new(),
        };
        let keep = keep || assemble::failed_before_finish(&driven, &settling).is_some();
        let logs = self.tear_down(keep).await;
        let history_path = self.out_dir.join(&self.opened.history);
        let (ops, history_error) = match history::read(&history_path) {
            Ok(ops) => (ops, None),
            Err(e) => (
                Vec::new(),
                Some(format!(
                    "reading the history {}: {e}",
                    history_path.display()
                )),
            ),
        };
        let finished = Finished {
            samples: samples_file,
            backlog,
            logs,
            history_error,
        };
        let journal = assemble::journal(self.opened, driven, settling, finished);
        let journal_path = self.out_dir.join("journal.json");
        journal
            .write(&journal_path)
            .map_err(RunError::io("writing", &journal_path))?;
        let logs = journal
            .logs
            .as_ref()
            .map(|rel| LogTails::read_dir(&self.out_dir.join(rel)))
            .unwrap_or_default();
        Ok(Record {
            journal,
            ops,
            samples,
            logs,
        })
    }

    /// Tears the stack down and moves its service logs beside the journal; the run directory
    /// goes unless kept.
    async fn tear_down(&mut self, keep: bool) -> Option<PathBuf> {
        if let Err(e) = self.target.teardown(keep).await {
            tracing::warn!(error = %e, "teardown");
        }
        let moved = self
            .target
            .logs()
            .filter(|logs| std::fs::rename(logs, self.out_dir.join("logs")).is_ok())
            .map(|_| PathBuf::from("logs"));
        if !keep {
            let _ = std::fs::remove_dir_all(&self.run_dir);
        }
        moved
    }

    /// Sampling spans the start of the load to the end of settle; the samples go to
    /// `samples.jsonl` beside the journal.
    async fn stop_sampling(&mut self) -> (Vec<Sample>, Option<(PathBuf, Sampling)>) {
        let Some(sampler) = self.sampler.take() else {
            return (Vec::new(), None);
        };
        let (taken, sampling) = sampler.stop().await;
        let file = PathBuf::from("samples.jsonl");
        match record::write_samples(&self.out_dir.join(&file), &taken) {
            Ok(()) => (taken, Some((file, sampling))),
            Err(e) => {
                tracing::warn!(error = %e, "stock samples not written");
                (taken, None)
            }
        }
    }
}
