//! One explore session: the stack started once, then trial after trial on it until the budget
//! is spent or Ctrl-C. A trial does not pay for a stack start: it runs on a [`KeptStack`] as a
//! fresh sale; only a trial that leaves the stack broken costs a restart, and its row says so.
//!
//! A failing trial keeps its stored run, with the `scenario.yaml` that replays it; a passing
//! one keeps only its scenario, under `scenarios/`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::novelty;
use super::search::{Search, Strategy, Trial};
use super::signature::Signature;
use super::space::Resolved;
use crate::record::Record;
use crate::run::{KeptStack, RunError, RunOptions, StackChoice};
use crate::verdict::{Judgement, Verdict};

/// When the search stops starting trials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    Trials(usize),
    /// No trial starts after this much time.
    Time(Duration),
}

impl Budget {
    fn spent(self, trials: usize, elapsed: Duration) -> bool {
        match self {
            Budget::Trials(n) => trials >= n,
            Budget::Time(t) => elapsed >= t,
        }
    }
}

/// How a session runs.
pub struct SessionOptions {
    pub seed: u64,
    pub budget: Budget,
    pub strategy: Strategy,
    /// End the session after the first failing trial (a CI gate, or a proof that only needs
    /// one).
    pub stop_on_failure: bool,
    /// `reports/explore-<ts>/`: the index, `scenarios/`, and the failing trials' runs.
    pub out: PathBuf,
    /// Each trial's run (its seed is set per trial; `report_dir` is `out/runs`).
    pub run: RunOptions,
}

/// What one trial did.
#[derive(Debug, Clone)]
pub struct Row {
    pub index: usize,
    pub parent: Option<usize>,
    /// The schedule on one line ([`super::index::schedule`]).
    pub schedule: String,
    /// `None` when the run gave no verdict (its error is in `error`).
    pub verdict: Option<Verdict>,
    pub seconds: f64,
    /// Features no earlier trial showed.
    pub new: Vec<String>,
    pub signature: Option<Signature>,
    /// The stored run, kept when the trial failed.
    pub run_dir: Option<PathBuf>,
    /// The judgement of a failed trial (its counterexamples go into the index).
    pub judgement: Option<Judgement>,
    pub error: Option<String>,
    /// The stack had to be restarted after this trial.
    pub restarted: bool,
}

/// The whole session.
#[derive(Debug, Default)]
pub struct Explored {
    pub rows: Vec<Row>,
    pub elapsed: Duration,
    pub interrupted: bool,
    /// Features seen in all.
    pub coverage: usize,
    /// Why the session ended before its budget, when the harness ended it.
    pub stopped_by: Option<String>,
}

impl Explored {
    /// The failures found: failing trials grouped by signature, each with its trials'
    /// indexes. (A checker's own result on a run is its *finding*; this is a level up.)
    pub fn failures(&self) -> BTreeMap<Signature, Vec<usize>> {
        let mut out: BTreeMap<Signature, Vec<usize>> = BTreeMap::new();
        for r in &self.rows {
            if let Some(s) = &r.signature {
                out.entry(s.clone()).or_default().push(r.index);
            }
        }
        out
    }

    /// Trials whose run gave no verdict, or a harness error.
    pub fn harness_errors(&self) -> usize {
        self.rows
            .iter()
            .filter(|r| matches!(r.verdict, None | Some(Verdict::HarnessError)))
            .count()
    }

    pub fn trials_per_minute(&self) -> f64 {
        let mins = self.elapsed.as_secs_f64() / 60.0;
        if mins > 0.0 {
            self.rows.len() as f64 / mins
        } else {
            0.0
        }
    }

    /// The median trial's seconds.
    pub fn median_seconds(&self) -> f64 {
        let mut s: Vec<f64> = self.rows.iter().map(|r| r.seconds).collect();
        s.sort_by(f64::total_cmp);
        s.get(s.len() / 2).copied().unwrap_or(0.0)
    }
}

/// Runs trials on `stack` until the budget is spent or `interrupt` turns true; `shown` hears of
/// each trial as it ends (the progress bar).
pub async fn explore(
    space: &Resolved,
    stack: StackChoice,
    opts: &SessionOptions,
    interrupt: watch::Receiver<bool>,
    shown: &mut dyn FnMut(&Row, &Explored),
) -> Result<Explored, RunError> {
    let scenarios = opts.out.join("scenarios");
    std::fs::create_dir_all(&scenarios).map_err(|source| RunError::Io {
        what: "creating",
        path: scenarios.clone(),
        source,
    })?;
    let started = Instant::now();
    let mut kept = KeptStack::up(stack, &opts.run).await?;
    let mut search = Search::new(space, opts.seed, opts.strategy);
    let mut explored = Explored::default();
    let mut failure = None;
    while !opts.budget.spent(explored.rows.len(), started.elapsed()) && !*interrupt.borrow() {
        let trial = search.next_trial();
        let (mut row, features) =
            match run_trial(&mut kept, &trial, &scenarios, interrupt.clone()).await {
                Ok(done) => done,
                Err(e) => {
                    // The stack could not be restarted: the session ends here, and says why.
                    failure = Some(e);
                    break;
                }
            };
        row.new = search.learn(&trial, &features);
        let failed = row.signature.is_some();
        explored.rows.push(row);
        explored.elapsed = started.elapsed();
        explored.coverage = search.coverage();
        if let Some(last) = explored.rows.last() {
            shown(last, &explored);
        }
        if failed && opts.stop_on_failure {
            break;
        }
    }
    explored.interrupted = *interrupt.borrow();
    kept.down().await;
    explored.elapsed = started.elapsed();
    explored.stopped_by = failure.map(|e| e.to_string());
    Ok(explored)
}

/// One trial on the kept stack: its scenario written, run, judged; what it showed.
async fn run_trial(
    kept: &mut KeptStack,
    trial: &Trial,
    scenarios: &Path,
    interrupt: watch::Receiver<bool>,
) -> Result<(Row, BTreeSet<String>), RunError> {
    let began = Instant::now();
    let path = scenarios.join(format!("{}.yaml", Trial::name(trial.index)));
    let mut row = Row {
        index: trial.index,
        parent: trial.parent,
        schedule: super::index::schedule(&trial.scenario),
        verdict: None,
        seconds: 0.0,
        new: Vec::new(),
        signature: None,
        run_dir: None,
        judgement: None,
        error: None,
        restarted: false,
    };
    let text = match written(&trial.scenario, &path) {
        Ok(text) => text,
        Err(e) => {
            row.error = Some(e);
            return Ok((row, BTreeSet::new()));
        }
    };
    let ran = kept
        .run((&path, &trial.scenario, &text), trial.seed, interrupt)
        .await?;
    row.seconds = began.elapsed().as_secs_f64();
    row.restarted = ran.restarted;
    let mut features = BTreeSet::new();
    match ran.outcome {
        Ok(o) => {
            row.verdict = Some(o.judgement.verdict);
            row.signature = Signature::of(&trial.scenario, &o.judgement);
            if let Some(dir) = o.journal_path.parent() {
                if let Ok(record) = Record::read(dir) {
                    features = novelty::features(&record, &o.judgement);
                }
                if row.signature.is_some() || o.judgement.verdict == Verdict::HarnessError {
                    let _ = std::fs::write(dir.join("scenario.yaml"), &text);
                    row.run_dir = Some(dir.to_path_buf());
                } else {
                    // A passing trial keeps only its scenario: its run and report go.
                    crate::run::discard(dir);
                }
            }
            if row.signature.is_some() {
                row.judgement = Some(o.judgement);
            }
        }
        Err(e) => row.error = Some(e.to_string()),
    }
    Ok((row, features))
}

/// The scenario as YAML, written to `path`; the text is what the journal fingerprints.
fn written(s: &crate::scenario::Scenario, path: &Path) -> Result<String, String> {
    let yaml = serde_yaml::to_string(s).map_err(|e| format!("writing the trial: {e}"))?;
    let text = format!(
        "# Drawn by fgchaos explore; `fgchaos run --seed SEED` replays it (SEED: its journal's).\n{yaml}"
    );
    std::fs::write(path, &text).map_err(|e| format!("writing {}: {e}", path.display()))?;
    Ok(text)
}
