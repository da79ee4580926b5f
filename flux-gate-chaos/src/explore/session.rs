//! One explore session: the stack started once, then trial after trial on it until the budget
//! is spent or Ctrl-C. A trial does not pay for a stack start: it runs on a [`KeptStack`] as a
//! fresh sale; only a trial that leaves the stack broken costs a restart, and its row says so.
//!
//! A failing trial keeps its stored run, with the `scenario.yaml` that replays it; a passing
//! one keeps only its scenario, under `scenarios/`. A failing trial is also rerun, by
//! [`REPRODUCE`], until one trial of its signature fails again: that trial is the one to
//! shrink, and `--stop-on-failure` stops on it — not on a failure too rare to show twice, which
//! is kept, reported, and searched past.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::novelty;
use super::reproduce::{Tally, REPRODUCE};
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
            Budget::Time(_) => self.time_spent(elapsed),
        }
    }

    /// Whether a time budget is spent: what stops a failing trial's reruns, which are not
    /// trials and so never spend a budget of trials.
    fn time_spent(self, elapsed: Duration) -> bool {
        matches!(self, Budget::Time(t) if elapsed >= t)
    }
}

/// How a session runs.
pub struct SessionOptions {
    pub seed: u64,
    pub budget: Budget,
    pub strategy: Strategy,
    /// End the session at the first failing trial that fails again when rerun (a CI gate, or
    /// a proof that only needs one to shrink).
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
    /// The stack had to be restarted after this trial (or one of its reruns).
    pub restarted: bool,
    /// How its reruns went, when it failed and no earlier trial of its signature had failed
    /// again (`None` also when the session ended before a rerun could start).
    pub reruns: Option<Tally>,
}

impl Row {
    /// A trial's row before it has run: nothing seen yet.
    pub fn new(index: usize, parent: Option<usize>, schedule: String) -> Row {
        Row {
            index,
            parent,
            schedule,
            verdict: None,
            seconds: 0.0,
            new: Vec::new(),
            signature: None,
            run_dir: None,
            judgement: None,
            error: None,
            restarted: false,
            reruns: None,
        }
    }

    /// Whether it failed and then failed the same way again when rerun.
    pub fn reproduced(&self) -> bool {
        self.reruns.is_some_and(|t| REPRODUCE.held_by(t))
    }
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

    /// The trial of a failure found to hand to shrink: the first of `trials` that failed again
    /// when rerun, or else the first (whose reruns then say how rare it is).
    pub fn to_shrink(&self, trials: &[usize]) -> Option<&Row> {
        let rows = || {
            trials
                .iter()
                .filter_map(|t| self.rows.iter().find(|r| r.index == *t))
        };
        rows().find(|r| r.reproduced()).or_else(|| rows().next())
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
    // Signatures with a trial that failed again: later trials of them are not rerun.
    let mut reproduced = BTreeSet::new();
    while !opts.budget.spent(explored.rows.len(), started.elapsed()) && !*interrupt.borrow() {
        let trial = search.next_trial();
        let ended = run_trial(&mut kept, &trial, &scenarios, interrupt.clone()).await;
        let (mut row, features) = match ended {
            Ok(done) => done,
            Err(e) => {
                // The stack could not be restarted: the session ends here, and says why.
                failure = Some(e);
                break;
            }
        };
        row.new = search.learn(&trial, &features);
        if let Some(sig) = to_rerun(&row, &reproduced) {
            let left = || !opts.budget.time_spent(started.elapsed()) && !*interrupt.borrow();
            let rerun = Rerun {
                trial: &trial,
                signature: &sig,
                path: &scenarios.join(format!("{}.yaml", Trial::name(trial.index))),
            };
            let reran = rerun.tally(&mut kept, &left, interrupt.clone()).await;
            row.reruns = Some(reran.tally);
            row.restarted |= reran.restarted;
            failure = reran.failure;
            if row.reproduced() {
                reproduced.insert(sig);
            }
        }
        let stop = stops_on(&row, opts.stop_on_failure);
        explored.rows.push(row);
        explored.elapsed = started.elapsed();
        explored.coverage = search.coverage();
        if let Some(last) = explored.rows.last() {
            shown(last, &explored);
        }
        if stop || failure.is_some() {
            break;
        }
    }
    explored.interrupted = *interrupt.borrow();
    kept.down().await;
    explored.elapsed = started.elapsed();
    explored.stopped_by = failure.map(|e| e.to_string());
    Ok(explored)
}

/// The signature of `row` when its trial is to be rerun: it failed, and no trial of its
/// signature has failed again yet (`reproduced`).
fn to_rerun(row: &Row, reproduced: &BTreeSet<Signature>) -> Option<Signature> {
    row.signature.clone().filter(|s| !reproduced.contains(s))
}

/// Whether the session ends at `row`: under `--stop-on-failure`, at a trial that failed again.
fn stops_on(row: &Row, stop_on_failure: bool) -> bool {
    stop_on_failure && row.reproduced()
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
    let schedule = super::index::schedule(&trial.scenario);
    let mut row = Row::new(trial.index, trial.parent, schedule);
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

/// A failing trial to run again, from its seed on, as shrink will.
struct Rerun<'a> {
    trial: &'a Trial,
    signature: &'a Signature,
    /// Its scenario file, as the trial wrote it.
    path: &'a Path,
}

/// How a failing trial's reruns went.
struct Reran {
    tally: Tally,
    /// The stack was restarted on the way.
    restarted: bool,
    /// The stack could not be restarted: the reruns stopped there, and the session ends.
    failure: Option<RunError>,
}

impl Rerun<'_> {
    /// Reruns by [`REPRODUCE`] while `left` says the budget and Ctrl-C allow. The reruns' own
    /// runs are not kept (the trial's is), and a rerun cut by Ctrl-C is not counted: it says
    /// nothing of the failure.
    async fn tally(
        &self,
        kept: &mut KeptStack,
        left: &dyn Fn() -> bool,
        interrupt: watch::Receiver<bool>,
    ) -> Reran {
        let (mut restarted, mut failure) = (false, None);
        let text = match std::fs::read_to_string(self.path) {
            Ok(text) => text,
            Err(source) => {
                let path = self.path.to_owned();
                let cut = Tally {
                    cut_short: true,
                    ..Tally::default()
                };
                let failure = Some(RunError::Io {
                    what: "reading",
                    path,
                    source,
                });
                return Reran {
                    tally: cut,
                    restarted,
                    failure,
                };
            }
        };
        let tally = REPRODUCE
            .tally(async |i| {
                if !left() {
                    return None;
                }
                let seed = self.trial.seed.wrapping_add(u64::from(i));
                let scenario = (self.path, &self.trial.scenario, text.as_str());
                let ran = match kept.run(scenario, seed, interrupt.clone()).await {
                    Ok(ran) => ran,
                    Err(e) => {
                        failure = Some(e);
                        return None;
                    }
                };
                restarted |= ran.restarted;
                // A rerun that gave no verdict did not fail the same way (as for shrink).
                let Ok(outcome) = ran.outcome else {
                    return Some(false);
                };
                if let Some(dir) = outcome.journal_path.parent() {
                    crate::run::discard(dir);
                }
                if *interrupt.borrow() {
                    return None;
                }
                Some(self.signature.matches(&outcome.judgement))
            })
            .await;
        Reran {
            tally,
            restarted,
            failure,
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn failing(index: usize, reruns: Option<Tally>) -> Row {
        Row {
            verdict: Some(Verdict::Fail),
            reruns,
            ..Row::new(index, None, String::new())
        }
    }

    const NEVER_AGAIN: Tally = Tally {
        failed: 0,
        runs: 5,
        cut_short: false,
    };
    const AGAIN: Tally = Tally {
        failed: 1,
        runs: 2,
        cut_short: false,
    };

    #[test]
    fn shrink_gets_the_first_trial_that_failed_again() {
        let e = Explored {
            rows: vec![
                failing(3, Some(NEVER_AGAIN)),
                failing(7, Some(AGAIN)),
                failing(9, None),
            ],
            ..Explored::default()
        };
        assert_eq!(e.to_shrink(&[3, 7, 9]).map(|r| r.index), Some(7));
        assert!(!e.rows[0].reproduced() && e.rows[1].reproduced() && !e.rows[2].reproduced());
    }

    fn signed(mut row: Row, checker: &str) -> Row {
        row.signature = Some(Signature {
            checkers: vec![checker.into()],
            actions: Vec::new(),
        });
        row
    }

    #[test]
    fn a_failing_trial_is_rerun_until_its_signature_has_failed_again() {
        let first = signed(failing(1, None), "no_lost_acks");
        let none = BTreeSet::new();
        let sig = to_rerun(&first, &none).expect("a first failure is rerun");
        let done: BTreeSet<Signature> = [sig].into_iter().collect();
        assert_eq!(
            to_rerun(&signed(failing(2, None), "no_lost_acks"), &done),
            None
        );
        // Another signature is rerun still; a passing trial never is.
        assert!(to_rerun(&signed(failing(3, None), "no_oversell"), &done).is_some());
        let mut passing = failing(4, None);
        passing.verdict = Some(Verdict::Pass);
        assert_eq!(to_rerun(&passing, &none), None);
    }

    #[test]
    fn the_session_stops_only_on_a_trial_that_failed_again() {
        let again = signed(failing(1, Some(AGAIN)), "no_lost_acks");
        let never = signed(failing(2, Some(NEVER_AGAIN)), "no_lost_acks");
        let cut = Tally {
            failed: 0,
            runs: 1,
            cut_short: true,
        };
        let cut_short = signed(failing(3, Some(cut)), "no_lost_acks");
        assert!(stops_on(&again, true));
        assert!(!stops_on(&again, false));
        assert!(!stops_on(&never, true));
        assert!(!stops_on(&cut_short, true));
    }

    #[test]
    fn a_failure_that_never_failed_again_hands_over_its_first_trial() {
        let e = Explored {
            rows: vec![failing(4, Some(NEVER_AGAIN)), failing(6, Some(NEVER_AGAIN))],
            ..Explored::default()
        };
        assert_eq!(e.to_shrink(&[4, 6]).map(|r| r.index), Some(4));
        assert_eq!(e.to_shrink(&[]).map(|r| r.index), None);
    }
}
