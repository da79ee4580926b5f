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
use crate::target::Target;

/// How much of each service log a run on a kept stack copies beside its journal.
const TAIL_BYTES: usize = 256 * 1024;

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

/// What step 5 does with the stack.
enum Release {
    /// Tear it down; `keep` leaves its directory on disk.
    TearDown { keep: bool },
    /// Leave it running for the next run, and copy the tails of its logs beside the journal.
    HandBack,
}

impl Run {
    /// Tears down (keeping the run directory when asked or when the harness failed), builds
    /// the journal from every step's value, writes it and returns the stored record. (The
    /// torn-down target is dropped.)
    pub async fn finish(
        self,
        keep: bool,
        driven: Driven,
        settling: Settling,
    ) -> Result<Record, RunError> {
        let keep = keep || assemble::failed_before_finish(&driven, &settling).is_some();
        self.finish_with(Release::TearDown { keep }, driven, settling)
            .await
            .0
    }

    /// Step 5 of a run on a stack that outlives it ([`Run::on`]): the same record, and the
    /// stack handed back running.
    pub async fn finish_kept(
        self,
        driven: Driven,
        settling: Settling,
    ) -> (Result<Record, RunError>, Box<dyn Target>) {
        self.finish_with(Release::HandBack, driven, settling).await
    }

    async fn finish_with(
        mut self,
        release: Release,
        driven: Driven,
        settling: Settling,
    ) -> (Result<Record, RunError>, Box<dyn Target>) {
        let (samples, samples_file) = self.stop_sampling().await;
        let backlog = match self.backlog.take() {
            Some(watch) => watch.stop().await,
            None => Vec::new(),
        };
        let logs = match release {
            Release::TearDown { keep } => self.tear_down(keep).await,
            Release::HandBack => self.copy_log_tails(),
        };
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
        if let Err(e) = journal.write(&journal_path) {
            return (Err(RunError::io("writing", &journal_path)(e)), self.target);
        }
        let logs = journal
            .logs
            .as_ref()
            .map(|rel| LogTails::read_dir(&self.out_dir.join(rel)))
            .unwrap_or_default();
        let record = Record {
            journal,
            ops,
            samples,
            logs,
        };
        (Ok(record), self.target)
    }

    /// Tears the stack down and moves its service logs beside the journal; the run directory
    /// goes unless kept, then the guardian goes. A teardown that failed leaves the directory,
    /// and the guardian, dropped, heals what is left in it.
    async fn tear_down(&mut self, keep: bool) -> Option<PathBuf> {
        let guardian = self.guardian.take();
        let torn_down = self.target.teardown(keep).await;
        if let Err(e) = &torn_down {
            tracing::warn!(error = %e, "teardown (the guardian heals what is left)");
        }
        let moved = self
            .target
            .logs()
            .filter(|logs| std::fs::rename(logs, self.out_dir.join("logs")).is_ok())
            .map(|_| PathBuf::from("logs"));
        if torn_down.is_ok() {
            if !keep {
                let _ = std::fs::remove_dir_all(&self.run_dir);
            }
            if let Some(g) = guardian {
                g.disarm().await;
            }
        }
        moved
    }

    /// The last [`TAIL_BYTES`] of each service log of a stack that goes on running, copied
    /// beside the journal: what this run's diagnosis may quote (the logs hold every earlier
    /// run's lines too, which is why only the tail is taken).
    fn copy_log_tails(&self) -> Option<PathBuf> {
        let from = self.target.logs()?;
        let to = self.out_dir.join("logs");
        std::fs::create_dir_all(&to).ok()?;
        for entry in std::fs::read_dir(from).ok()?.flatten() {
            let path = entry.path();
            if let (Some(name), Ok(bytes)) = (path.file_name(), std::fs::read(&path)) {
                let tail = &bytes[bytes.len().saturating_sub(TAIL_BYTES)..];
                let _ = std::fs::write(to.join(name), tail);
            }
        }
        Some(PathBuf::from("logs"))
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
