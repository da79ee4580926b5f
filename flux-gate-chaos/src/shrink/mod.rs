//! `fgchaos shrink`: a failing run reduced to the smallest scenario that still fails the same
//! way — the same checkers failing, no more and no fewer. Hypothesis's discipline: every
//! reduction is kept only once a run confirms it, and the result is confirmed again at the
//! end, three times, with the rate said when it is not three of three. A result that fails in
//! none of the three is not kept: its last pass is undone and the scenario before it confirmed
//! instead, back to the original at worst.
//!
//! | file | what it holds |
//! |---|---|
//! | `ddmin.rs` | delta debugging over a list: which faults are needed |
//! | `candidates.rs` | the test of a candidate: runs on the kept stack, k of m, cached |
//! | `reduce.rs` | the passes: faults, then each fault's values, then the load, then the stack's size |
//! | `sized.rs` | the kept stack at the size the next scenario asks for |
//!
//! The candidates run on one kept stack, as explore's trials do, except that the last pass
//! tries fewer replicas of a service: a candidate of another size brings up a stack of that
//! size (local target only; a docker project's size is the user's).

pub mod candidates;
pub mod ddmin;
pub mod reduce;
pub mod sized;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::explore::reproduce::Rule;
use crate::explore::Signature;
use crate::record::{Record, RecordError};
use crate::run::{RunError, RunOptions, StackChoice};
use crate::scenario::parse::Problem;
use crate::scenario::validate::{validate, Names};
use crate::scenario::Scenario;
use crate::verdict;
use candidates::Candidates;
use sized::SizedStack;

/// A candidate counts as failing when 1 of at most 2 runs fails the same way. A bug in a
/// narrow window does not show in every run; asking twice keeps shrink from dropping a fault
/// the failure needs, and the final confirmation (3 runs) says how reliably the result fails.
pub const RULE: Rule = Rule { k: 1, m: 2 };
/// The original is run again by this rule before anything is reduced; explore asks the same
/// of a failing trial (see there why it asks more than [`RULE`]).
pub use crate::explore::reproduce::REPRODUCE;
/// Runs that confirm the result.
pub const CONFIRMATIONS: u32 = 3;

/// Why a run cannot be shrunk. Nothing was run.
#[derive(Debug, thiserror::Error)]
pub enum ShrinkError {
    #[error("{0}")]
    Record(#[from] RecordError),
    #[error("{}: the run passed (no checker failed): there is nothing to shrink", .0.display())]
    Passing(PathBuf),
    #[error(
        "{}: its faults come from `nemesis:`; shrink reduces a scenario's `faults:` — write the \
         injections its journal lists as `faults:` (or explore, whose trials list theirs)",
        .0.display()
    )]
    Nemesis(PathBuf),
    #[error(
        "{}: the run's scenario does not fit this stack (did it run on another?):\n{}",
        .run.display(),
        .problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n")
    )]
    OtherStack {
        run: PathBuf,
        problems: Vec<Problem>,
    },
    #[error(transparent)]
    Run(#[from] RunError),
    #[error("writing {}: {source}", .path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The failing run, read and checked before any stack starts.
pub struct Failing {
    pub dir: PathBuf,
    pub scenario: Scenario,
    pub signature: Signature,
    pub seed: u64,
}

impl Failing {
    /// Reads the run at `dir` and judges it again: it must fail, list its faults under
    /// `faults:`, and fit the stack whose names are `names`.
    pub fn read(dir: &Path, names: &Names) -> Result<Failing, ShrinkError> {
        let record = Record::read(dir)?;
        let judgement = verdict::judge(&record);
        let scenario = record.journal.scenario.clone();
        let signature = Signature::of(&scenario, &judgement)
            .ok_or_else(|| ShrinkError::Passing(dir.to_owned()))?;
        if scenario.nemesis.is_some() {
            return Err(ShrinkError::Nemesis(dir.to_owned()));
        }
        let problems = validate(&scenario, names);
        if !problems.is_empty() {
            return Err(ShrinkError::OtherStack {
                run: dir.to_owned(),
                problems,
            });
        }
        Ok(Failing {
            dir: dir.to_owned(),
            scenario,
            signature,
            seed: record.journal.seed,
        })
    }
}

/// How a shrink runs.
pub struct ShrinkOptions {
    pub budget: Duration,
    /// `shrink-<ts>/`: the candidates' scenarios and runs, `minimal.yaml`.
    pub out: PathBuf,
    /// Each candidate's run (`report_dir` is `out/runs`).
    pub run: RunOptions,
}

/// One line of the steps table: the scenario after a pass.
#[derive(Debug, Clone)]
pub struct Step {
    pub pass: &'static str,
    pub faults: usize,
    pub load: Duration,
    /// Runs spent by this pass.
    pub runs: usize,
}

/// What shrinking gave.
pub struct Shrunk {
    pub original: Scenario,
    pub minimal: Scenario,
    pub signature: Signature,
    pub steps: Vec<Step>,
    /// Of [`CONFIRMATIONS`] final runs, how many failed the same way.
    pub confirmed: u32,
    /// The stored run of the last candidate that failed the same way.
    pub run: Option<PathBuf>,
    pub runs: usize,
    pub elapsed: Duration,
    /// The budget or Ctrl-C ended it before every pass was done.
    pub cut_short: bool,
    /// Whether the original failed the same way again, by [`REPRODUCE`], before any reduction;
    /// when it did not, nothing was reduced (the failure is rarer than the rule can see).
    pub reproduced: bool,
}

/// Reduces `failing` on `stack`; `progress` hears each pass's end.
pub async fn shrink(
    failing: Failing,
    names: Names,
    stack: StackChoice,
    opts: &ShrinkOptions,
    interrupt: watch::Receiver<bool>,
    progress: &mut dyn FnMut(&Step),
) -> Result<Shrunk, ShrinkError> {
    let started = Instant::now();
    let dir = opts.out.join("candidates");
    std::fs::create_dir_all(&dir).map_err(|source| ShrinkError::Write {
        path: dir.clone(),
        source,
    })?;
    let mut sized = SizedStack::up(stack, names, &opts.run, &failing.scenario.scale).await?;
    let mut c = Candidates::new(
        &mut sized,
        failing.signature.clone(),
        failing.seed,
        RULE,
        started + opts.budget,
        dir,
        interrupt.clone(),
    );
    // Reduce only what reproduces: the original runs first, so a failure too rare to see
    // again is said to be so before any run is spent reducing it.
    let reproduced = c.fails_by(&failing.scenario, REPRODUCE).await;
    let mut steps = vec![step("original", &failing.scenario, c.runs)];
    let mut reduced = vec![failing.scenario.clone()];
    if reproduced {
        reduced = passes(&mut c, reduced, &mut steps, progress).await;
    }
    let cut_short = c.exhausted();
    let (runs, last_failing) = (c.runs, c.last_failing.clone());
    let mut confirming = Confirming {
        stack: &mut sized,
        failing: &failing,
        out: &opts.out,
        interrupt,
        runs: 0,
    };
    let held = confirming.held(reduced, &mut steps).await;
    let confirm_runs = confirming.runs;
    sized.down().await;
    let mut minimal = held.scenario;
    minimal.name = minimal_name(&failing.scenario.name);
    minimal.description = format!(
        "{} reduced by fgchaos shrink: fails {}.",
        failing.scenario.name,
        failing.signature.checkers_line()
    );
    Ok(Shrunk {
        original: failing.scenario,
        minimal,
        signature: failing.signature,
        steps,
        confirmed: held.confirmed,
        run: held.run.or(last_failing),
        runs: runs + confirm_runs,
        elapsed: started.elapsed(),
        cut_short,
        reproduced,
    })
}

/// `worker-crash-min`: the name a reduced scenario gets (64 characters at most, as every
/// scenario name).
fn minimal_name(original: &str) -> String {
    let stem: String = original.chars().take(60).collect();
    format!("{}-min", stem.trim_end_matches('-'))
}

/// The reduction passes in order, each step recorded and shown. `reduced` holds the original;
/// each pass that changes the scenario adds what it left, so the last is the smallest.
async fn passes(
    c: &mut Candidates<'_>,
    mut reduced: Vec<Scenario>,
    steps: &mut Vec<Step>,
    progress: &mut dyn FnMut(&Step),
) -> Vec<Scenario> {
    let passes: [(&'static str, Pass); 4] = [
        ("faults (ddmin)", Pass::Faults),
        ("each fault's values", Pass::Values),
        ("load", Pass::Load),
        ("stack size", Pass::StackSize),
    ];
    for (name, pass) in passes {
        let before = c.runs;
        let Some(last) = reduced.last().cloned() else {
            break;
        };
        let s = match pass {
            Pass::Faults => reduce::faults(c, last.clone()).await,
            Pass::Values => reduce::fault_values(c, last.clone()).await,
            Pass::Load => reduce::load(c, last.clone()).await,
            Pass::StackSize => reduce::stack_size(c, last.clone()).await,
        };
        let done = step(name, &s, c.runs - before);
        progress(&done);
        steps.push(done);
        if s != last {
            reduced.push(s);
        }
    }
    reduced
}

enum Pass {
    Faults,
    Values,
    Load,
    StackSize,
}

fn step(pass: &'static str, s: &Scenario, runs: usize) -> Step {
    Step {
        pass,
        faults: s.faults.len(),
        load: s.load.duration.map_or(Duration::ZERO, |d| d.get()),
        runs,
    }
}

/// The smallest reduction that still fails when run again, and how often it did.
struct Held {
    scenario: Scenario,
    confirmed: u32,
    /// A confirmation run that failed the same way.
    run: Option<PathBuf>,
}

/// The final confirmation: the result runs [`CONFIRMATIONS`] times with fresh seeds.
struct Confirming<'a> {
    stack: &'a mut SizedStack,
    failing: &'a Failing,
    out: &'a Path,
    interrupt: watch::Receiver<bool>,
    runs: usize,
}

impl Confirming<'_> {
    /// Confirms the last of `reduced`; when it fails the same way in none of its runs, that
    /// pass's reduction did not hold — a candidate accepted on one lucky run of two — so it is
    /// undone and the one before is confirmed instead, down to the original. Reduce, then
    /// confirm: a result that never fails again is no result.
    async fn held(&mut self, mut reduced: Vec<Scenario>, steps: &mut Vec<Step>) -> Held {
        loop {
            let Some(s) = reduced.pop() else {
                return Held {
                    scenario: self.failing.scenario.clone(),
                    confirmed: 0,
                    run: None,
                };
            };
            let before = self.runs;
            let (confirmed, run) = self.confirm(&s).await;
            if confirmed > 0 || reduced.is_empty() || *self.interrupt.borrow() {
                return Held {
                    scenario: s,
                    confirmed,
                    run,
                };
            }
            if let Some(back) = reduced.last() {
                steps.push(step("undone (0 confirmed)", back, self.runs - before));
            }
        }
    }

    /// Runs `s` [`CONFIRMATIONS`] times with fresh seeds after the original's: how many failed
    /// the same way, and the stored run of one that did.
    async fn confirm(&mut self, s: &Scenario) -> (u32, Option<PathBuf>) {
        let Ok(text) = serde_yaml::to_string(s) else {
            return (0, None);
        };
        let path = self.out.join("minimal.yaml");
        if std::fs::write(&path, &text).is_err() {
            return (0, None);
        }
        let (mut same, mut run) = (0, None);
        for i in 0..CONFIRMATIONS {
            if *self.interrupt.borrow() {
                break;
            }
            let seed = self.failing.seed.wrapping_add(100 + u64::from(i));
            self.runs += 1;
            let ran = match self.stack.for_scenario(s).await {
                Ok(kept) => {
                    kept.run((&path, s, &text), seed, self.interrupt.clone())
                        .await
                }
                Err(e) => Err(e),
            };
            if let Ok(Ok(o)) = ran.map(|r| r.outcome) {
                if self.failing.signature.matches(&o.judgement) {
                    same += 1;
                    run = run.or_else(|| o.journal_path.parent().map(Path::to_path_buf));
                }
            }
        }
        (same, run)
    }
}

/// `minimal.yaml`: `scenario` (the minimal one, perhaps renamed), under a header naming the run
/// it came from and the steps.
pub fn minimal_file(
    scenario: &Scenario,
    shrunk: &Shrunk,
    from: &Path,
) -> Result<String, serde_yaml::Error> {
    let mut header = format!(
        "# Shrunk by fgchaos shrink from {}\n# It fails {}; confirmed in {} of {} runs.\n# Steps:\n",
        from.display(),
        shrunk.signature.checkers_line(),
        shrunk.confirmed,
        CONFIRMATIONS
    );
    for s in &shrunk.steps {
        header.push_str(&format!(
            "#   {:<22} {} fault(s), load {}, {} run(s)\n",
            s.pass,
            s.faults,
            humantime::format_duration(s.load),
            s.runs
        ));
    }
    Ok(header + &serde_yaml::to_string(scenario)?)
}
