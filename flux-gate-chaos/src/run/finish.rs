//! Step 5 of a run: stop sampling and watching the backlog, tear the stack down, keep the service logs, read back the
//! history and write the journal — leaving the [`Record`] that judging and reporting read.

use std::path::PathBuf;

use super::{Run, RunError};
use crate::load::history;
use crate::model::Sample;
use crate::record;
use crate::record::{LogTails, Record};

impl Run {
    /// Tears down (keeping the run directory when asked or when the harness failed) and
    /// returns the stored record of the run.
    pub async fn finish(&mut self, keep: bool) -> Result<Record, RunError> {
        let samples = self.stop_sampling().await;
        if let Some(watch) = self.backlog.take() {
            self.journal.backlog = watch.stop().await;
        }
        let keep = keep || self.journal.harness_error.is_some();
        if let Err(e) = self.target.teardown(keep).await {
            tracing::warn!(error = %e, "teardown");
        }
        // Keep the service logs with the journal.
        let logs_to = self.out_dir.join("logs");
        if let Some(logs) = self.target.logs() {
            if std::fs::rename(&logs, &logs_to).is_ok() {
                self.journal.logs = Some(PathBuf::from("logs"));
            }
        }
        if !keep {
            let _ = std::fs::remove_dir_all(&self.run_dir);
        }
        // An unreadable history cannot be judged: a harness error, not "every row unsent".
        let history_path = self.out_dir.join(&self.journal.history);
        let ops = history::read(&history_path).unwrap_or_else(|e| {
            self.journal.harness_error.get_or_insert_with(|| {
                format!("reading the history {}: {e}", history_path.display())
            });
            Vec::new()
        });
        let journal_path = self.out_dir.join("journal.json");
        self.journal
            .write(&journal_path)
            .map_err(RunError::io("writing", &journal_path))?;
        let logs = self
            .journal
            .logs
            .as_ref()
            .map(|rel| LogTails::read_dir(&self.out_dir.join(rel)))
            .unwrap_or_default();
        Ok(Record {
            journal: self.journal.clone(),
            ops,
            samples,
            logs,
        })
    }

    /// Sampling spans the start of the load to the end of settle; the samples go to
    /// `samples.jsonl` beside the journal.
    async fn stop_sampling(&mut self) -> Vec<Sample> {
        let Some(sampler) = self.sampler.take() else {
            return Vec::new();
        };
        let (taken, sampling) = sampler.stop().await;
        let file = PathBuf::from("samples.jsonl");
        match record::write_samples(&self.out_dir.join(&file), &taken) {
            Ok(()) => {
                self.journal.samples = Some(file);
                self.journal.sampling = Some(sampling);
            }
            Err(e) => tracing::warn!(error = %e, "stock samples not written"),
        }
        taken
    }
}
