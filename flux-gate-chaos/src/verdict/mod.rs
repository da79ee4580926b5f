//! Verdicts: the settle phase and the final state ([`state`]), stock sampled through the run
//! ([`samples`]), stuck or slow when it did not settle ([`stall`]), the run cut into windows
//! ([`windows`]), one checker per promise ([`checkers`]), and the overall verdict with its exit
//! code — all a pure function of the stored [`Record`].

pub mod checkers;
pub mod stall;
pub mod windows;

use serde::{Deserialize, Serialize};

use crate::journal::Journal;
use crate::load::Outcome;
use crate::model::Settled;
use crate::record::Record;
use checkers::{Evidence, Finding, Status};
use stall::Diagnosis;
use windows::Window;

/// The run's verdict. Variants are declared from best to worst, so `Ord` is severity and the
/// worst of several runs is their `max` (harness error > aborted > fail > not run >
/// inconclusive > pass) — which is not the exit-code order (a failed promise exits 1, an
/// undecided or not-run run 2, an aborted one 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Inconclusive,
    /// The system did not meet its steady state before the first fault: no fault was
    /// injected, and nothing about the faults can be said.
    NotRun,
    Fail,
    /// A stop condition held (or `fgchaos halt` asked): the run healed, stopped its load and
    /// was judged on what it recorded.
    Aborted,
    HarnessError,
}

impl Verdict {
    /// 0 pass · 1 a promise or threshold failed · 2 inconclusive, or not run (unhealthy
    /// before any fault) · 3 the harness failed · 4 aborted by a stop condition or a halt.
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Pass => 0,
            Verdict::Fail => 1,
            Verdict::Inconclusive | Verdict::NotRun => 2,
            Verdict::HarnessError => 3,
            Verdict::Aborted => 4,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Inconclusive => "INCONCLUSIVE",
            Verdict::HarnessError => "HARNESS ERROR",
            Verdict::Aborted => "ABORTED",
            Verdict::NotRun => "NOT RUN",
        }
    }
}

/// Everything judged about one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Judgement {
    pub verdict: Verdict,
    /// Why, in one line.
    pub reason: String,
    pub findings: Vec<Finding>,
    #[serde(rename = "phases")]
    pub windows: Vec<Window>,
    pub settled: Settled,
    /// Stuck or slow, when the system did not settle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnosis: Option<Diagnosis>,
    /// The steady-state hypothesis held against the recovery window, after the faults
    /// (none for a run without faults or without a recovery window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steady_after: Option<SteadyAfter>,
    pub ok: u64,
    pub fail: u64,
    pub info: u64,
}

/// Judges a stored run.
pub fn judge(record: &Record) -> Judgement {
    let journal = &record.journal;
    let ops = record.ops.as_slice();
    let settled = journal.settled.clone().unwrap_or_default();
    let load_ms = journal.load.as_ref().map_or(0, |l| l.elapsed_ms);
    let windows = windows::windows(ops, &journal.faults, &journal.timeline, load_ms);
    let diagnosis = diagnosis_of(record, &settled);
    let findings = run_checkers(record, &settled, &windows, diagnosis.as_ref());
    let count = |o: Outcome| ops.iter().filter(|x| x.outcome == o).count() as u64;
    let (ok, fail, info) = (
        count(Outcome::Ok),
        count(Outcome::Fail),
        count(Outcome::Info),
    );
    let (verdict, reason) = overall(journal, &findings, &diagnosis, (ok, fail, info));
    let steady_after = steady_after(journal, &windows);
    Judgement {
        verdict,
        reason,
        findings,
        windows,
        settled,
        diagnosis,
        steady_after,
        ok,
        fail,
        info,
    }
}

/// The steady state after the faults: the recovery window held against the hypothesis the
/// warm-up was held against before them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SteadyAfter {
    pub held: bool,
    /// What the recovery window showed, and the bound missed when it did not hold.
    pub summary: String,
}

/// `steady state: before held (warm-up 4 s, 812 answers: …) · after held (recovery: …)`, when
/// either was read.
pub fn steady_line(journal: &Journal, jd: &Judgement) -> Option<String> {
    let word = |held: bool| if held { "held" } else { "did not hold" };
    let before = journal.warm_up.as_ref().map(|w| {
        format!(
            "before {} (warm-up {} s, {} answers: {})",
            word(w.held),
            w.seconds,
            w.ops,
            w.summary
        )
    });
    let after = jd
        .steady_after
        .as_ref()
        .map(|a| format!("after {} (recovery: {})", word(a.held), a.summary));
    let parts: Vec<String> = before.into_iter().chain(after).collect();
    (!parts.is_empty()).then(|| format!("steady state: {}", parts.join(" · ")))
}

fn steady_after(journal: &Journal, windows: &[Window]) -> Option<SteadyAfter> {
    if journal.faults.is_empty() {
        return None;
    }
    let w = windows.iter().find(|w| w.name == "recovery" && w.ops > 0)?;
    let h = crate::scenario::steady::Hypothesis::of(&journal.scenario, journal.target);
    let (held, summary) = match h.holds(w.availability, [w.p50_us, w.p95_us, w.p99_us]) {
        Ok(seen) => (true, seen),
        Err(missed) => (false, missed),
    };
    Some(SteadyAfter { held, summary })
}

/// Stuck or slow, for a system that did not settle (`None` when it did, or when the trace
/// cannot tell).
fn diagnosis_of(record: &Record, settled: &Settled) -> Option<Diagnosis> {
    (!settled.converged)
        .then(|| {
            stall::diagnose(
                &settled.trace,
                record.journal.scenario.settle.stall_window().as_millis() as u64,
                &record.logs,
            )
        })
        .flatten()
}

/// Every checker the scenario's invariants ask for, each judged on the run's evidence.
fn run_checkers(
    record: &Record,
    settled: &Settled,
    windows: &[Window],
    diagnosis: Option<&Diagnosis>,
) -> Vec<Finding> {
    let journal = &record.journal;
    let evidence = Evidence {
        expect: &journal.scenario.expect,
        settle: &journal.scenario.settle,
        target: journal.target,
        per_user_limit: journal.per_user_limit,
        faults: &journal.faults,
        ops: &record.ops,
        settled,
        state_read: journal.settled.is_some(),
        samples: &record.samples,
        sampling: journal.sampling.as_ref(),
        backlog: &journal.backlog,
        windows,
        diagnosis,
    };
    checkers::for_invariants(&journal.scenario.expect.invariants)
        .iter()
        .map(|c| checkers::judge_one(c.as_ref(), &evidence))
        .collect()
}

/// The verdict and its one-line reason, the first that applies: the harness failed, the run
/// was interrupted, the steady state did not hold before the first fault, a stop condition
/// held, a checker failed, a checker could not decide, too few orders were
/// acknowledged to mean anything, or every promise held.
fn overall(
    journal: &Journal,
    findings: &[Finding],
    diagnosis: &Option<Diagnosis>,
    (ok, fail, info): (u64, u64, u64),
) -> (Verdict, String) {
    let failed = checkers_with(findings, Status::Fail);
    let unsure = checkers_with(findings, Status::Inconclusive);
    let min_ok = journal.scenario.expect.min_ok;
    if let Some(e) = &journal.harness_error {
        (Verdict::HarnessError, e.clone())
    } else if journal.interrupted {
        (Verdict::Inconclusive, "the run was interrupted".to_owned())
    } else if let Some(w) = journal.warm_up.as_ref().filter(|w| !w.held) {
        (
            Verdict::NotRun,
            format!(
                "the system was not healthy before any fault (warm-up of {} s, {} answers: {}); no fault was injected",
                w.seconds, w.ops, w.summary
            ),
        )
    } else if let Some(a) = &journal.aborted {
        let also = if failed.is_empty() {
            String::new()
        } else {
            format!("; failed too: {}", failed.join(", "))
        };
        (Verdict::Aborted, format!("{}{also}", aborted_because(a)))
    } else if !failed.is_empty() {
        (
            Verdict::Fail,
            format!("failed: {}{}", failed.join(", "), because(diagnosis)),
        )
    } else if !unsure.is_empty() {
        (
            Verdict::Inconclusive,
            format!("undecided: {}{}", unsure.join(", "), because(diagnosis)),
        )
    } else if ok < min_ok {
        (
            Verdict::Inconclusive,
            format!("only {ok} acknowledged order(s); at least {min_ok} needed to mean anything"),
        )
    } else {
        (
            Verdict::Pass,
            format!("every promise held ({ok} ok, {fail} fail, {info} info ops)"),
        )
    }
}

/// `stopped at +12.300s by p99: p99 812.0 ms over the last 5s (…) (stop when > 500ms); every
/// fault healed 41 ms after`
pub fn aborted_because(a: &crate::model::Abort) -> String {
    let healed = a
        .healed_in_ms
        .map(|ms| format!("; every fault healed {ms} ms after"))
        .unwrap_or_default();
    format!(
        "stopped at +{}.{:03}s by {}: {}{healed}",
        a.at_ms / 1000,
        a.at_ms % 1000,
        a.condition,
        a.seen
    )
}

/// The names of the checkers whose finding has `status`, in the order they ran.
fn checkers_with(findings: &[Finding], status: Status) -> Vec<&str> {
    findings
        .iter()
        .filter(|f| f.status == status)
        .map(|f| f.checker.as_str())
        .collect()
}

/// ` — stuck: …` when there is a diagnosis.
fn because(d: &Option<Diagnosis>) -> String {
    d.as_ref()
        .map(|d| format!(" — {}", d.headline()))
        .unwrap_or_default()
}
