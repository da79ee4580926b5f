//! `reports/explore-<ts>/index.md`: the session at a glance — one row per trial (its schedule on
//! one line, its verdict, its seconds, what it showed first) and one section per failure found, with
//! its counterexamples and the run that replays it.

use std::fmt::Write as _;

use super::reproduce::Tally;
use super::session::{Explored, Row};
use crate::scenario::{Fault, FaultAction, Scenario};
use crate::verdict::checkers::Status;
use crate::verdict::Verdict;

/// What the index says the session was.
pub struct Header<'a> {
    pub seed: u64,
    pub strategy: &'a str,
    pub target: &'a str,
    pub space: &'a str,
    pub budget: String,
}

/// A trial's schedule on one line: its faults (`kill inventory-worker @2.1s for 6s`), then its
/// sale and load.
pub fn schedule(s: &Scenario) -> String {
    let faults: Vec<String> = s.faults.iter().map(fault).collect();
    let rate = s.load.rate.map_or(0.0, |r| r.per_second);
    let limit = s
        .sale
        .per_user_limit
        .map_or(String::new(), |l| format!(", limit {l}"));
    format!(
        "{} · {rate}/s, stock {}{limit}, {} buyers, dup {}",
        if faults.is_empty() {
            "no fault".to_owned()
        } else {
            faults.join("; ")
        },
        s.sale.stock,
        s.load.users,
        s.load.duplicate_ratio
    )
}

/// `latency api-redis 250ms @3s for 2s`.
fn fault(f: &Fault) -> String {
    let mut out = format!("{} {}", f.action.as_str(), target(&f.action));
    if let Some(v) = f.action.strength() {
        let _ = write!(out, " {v}");
    }
    if let Some(at) = f.at {
        let _ = write!(out, " @{at}");
    }
    if let Some(d) = f.duration {
        let _ = write!(out, " for {d}");
    }
    out
}

fn target(a: &FaultAction) -> String {
    use crate::scenario::fault::On;
    use crate::scenario::{LinkTarget, LinksTarget, NodeTarget, ServiceTarget};
    match a.on() {
        On::Service(ServiceTarget::Service(s))
        | On::Link(LinkTarget::Link(s))
        | On::Node(NodeTarget::Node(s)) => s.clone(),
        On::Links(LinksTarget::Links(l)) => l.join("+"),
        On::Service(ServiceTarget::Random(r))
        | On::Link(LinkTarget::Random(r))
        | On::Links(LinksTarget::Random(r))
        | On::Node(NodeTarget::Random(r)) => format!("one of {}", r.join("|")),
    }
}

/// The whole index.
pub fn render(h: &Header, e: &Explored) -> String {
    let mut o = String::new();
    let failures = e.failures();
    let _ = writeln!(o, "# fgchaos explore\n");
    let _ = writeln!(
        o,
        "Seed {} · {} search · target {} · space {} · budget {}\n",
        h.seed, h.strategy, h.target, h.space, h.budget
    );
    let _ = writeln!(
        o,
        "**{} trial(s) in {:.0} s ({:.1} trials/min, median trial {:.1} s), {} failure(s), {} \
         harness error(s), {} behaviour feature(s) seen{}.**\n",
        e.rows.len(),
        e.elapsed.as_secs_f64(),
        e.trials_per_minute(),
        e.median_seconds(),
        failures.len(),
        e.harness_errors(),
        e.coverage,
        if e.interrupted { "; interrupted" } else { "" }
    );
    if let Some(why) = &e.stopped_by {
        let _ = writeln!(o, "**Stopped before its budget**: {why}\n");
    }
    let _ = writeln!(
        o,
        "Replay a trial: `fgchaos run --seed SEED scenarios/trial-NNNN.yaml` (the seed is in its \
         journal); reduce a failure: `fgchaos shrink RUN_DIR`.\n"
    );
    failures_section(&mut o, e, &failures);
    trials_section(&mut o, &e.rows);
    o
}

fn failures_section(
    o: &mut String,
    e: &Explored,
    failures: &std::collections::BTreeMap<super::signature::Signature, Vec<usize>>,
) {
    let _ = writeln!(o, "## Failures found\n");
    if failures.is_empty() {
        let _ = writeln!(o, "None: every trial kept every promise.\n");
        return;
    }
    for (n, (sig, trials)) in failures.iter().enumerate() {
        let _ = writeln!(o, "### {}. {sig}\n", n + 1);
        let list: Vec<String> = trials.iter().map(|t| format!("#{t}")).collect();
        let _ = writeln!(o, "Trials: {}\n", list.join(", "));
        let (Some(first), Some(chosen)) = (
            trials
                .first()
                .and_then(|t| e.rows.iter().find(|r| r.index == *t)),
            e.to_shrink(trials),
        ) else {
            continue;
        };
        let _ = writeln!(o, "First: trial #{} — `{}`\n", first.index, first.schedule);
        if chosen.reproduced() {
            let _ = writeln!(
                o,
                "To shrink: trial #{}, which {} — `{}`\n",
                chosen.index,
                reruns(chosen.reruns),
                chosen.schedule
            );
        } else if chosen.reruns.is_some_and(|t| !t.cut_short) {
            let _ = writeln!(
                o,
                "Not reproduced: trial #{} {} — too rare for shrink to reduce; its run still \
                 replays, and `fgchaos check` judges it again.\n",
                chosen.index,
                reruns(chosen.reruns)
            );
        } else {
            let _ = writeln!(
                o,
                "Not known to reproduce: trial #{} {}; `fgchaos shrink` reruns it first.\n",
                chosen.index,
                reruns(chosen.reruns)
            );
        }
        if let Some(dir) = &chosen.run_dir {
            let _ = writeln!(
                o,
                "Run: [{}]({}) · scenario: `{}`\n",
                dir.file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
                relative(dir),
                relative(&dir.join("scenario.yaml")),
            );
        }
        for f in chosen
            .judgement
            .iter()
            .flat_map(|j| &j.findings)
            .filter(|f| f.status == Status::Fail)
        {
            let _ = writeln!(o, "- **{}**: {}", f.checker, f.summary);
            for c in &f.counterexamples {
                let _ = writeln!(o, "  - {c}");
            }
        }
        let _ = writeln!(o);
    }
}

fn trials_section(o: &mut String, rows: &[Row]) {
    let _ = writeln!(o, "## Trials\n");
    let _ = writeln!(o, "| # | near | schedule | verdict | s | new behaviour |");
    let _ = writeln!(o, "|---|---|---|---|---|---|");
    for r in rows {
        let verdict = match (&r.verdict, &r.error) {
            (Some(v), _) => verdict_cell(*v, r),
            (None, Some(e)) => format!("no verdict: {}", e.replace('|', "\\|")),
            (None, None) => "no verdict".into(),
        };
        let restarted = if r.restarted {
            " · stack restarted"
        } else {
            ""
        };
        let _ = writeln!(
            o,
            "| {} | {} | {} | {verdict}{restarted} | {:.1} | {} |",
            r.index,
            r.parent.map_or(String::new(), |p| format!("#{p}")),
            r.schedule.replace('|', "\\|"),
            r.seconds,
            r.new.join(", ")
        );
    }
}

fn verdict_cell(v: Verdict, r: &Row) -> String {
    match (v, &r.signature) {
        (Verdict::Fail, Some(s)) => match r.reruns {
            Some(_) => format!("**FAIL** {} ({})", s.checkers.join(", "), reruns(r.reruns)),
            None => format!("**FAIL** {}", s.checkers.join(", ")),
        },
        (Verdict::Fail, None) => "**FAIL**".into(),
        (Verdict::Pass, _) => "pass".into(),
        (Verdict::Inconclusive, _) => "inconclusive".into(),
        (Verdict::HarnessError, _) => "**harness error**".into(),
        (Verdict::Aborted, _) => "**aborted**".into(),
        (Verdict::NotRun, _) => "not run".into(),
    }
}

/// How a failing trial's reruns went: `failed again in 1 of 2 reruns`; with `, cut short`
/// when the budget, Ctrl-C or a stack that would not restart stopped them before the rule had
/// its answer; or `not rerun` (an earlier trial of its signature had already failed again, or
/// the session ended before a rerun could start).
pub fn reruns(t: Option<Tally>) -> String {
    match t {
        Some(t) => format!(
            "failed again in {} of {} rerun{}{}",
            t.failed,
            t.runs,
            if t.runs == 1 { "" } else { "s" },
            if t.cut_short { ", cut short" } else { "" }
        ),
        None => "not rerun".into(),
    }
}

/// A run directory as the index links it: relative to the index (`runs/<id>`).
fn relative(p: &std::path::Path) -> String {
    let parts: Vec<String> = p
        .components()
        .rev()
        .take(if p.ends_with("scenario.yaml") { 3 } else { 2 })
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    parts.into_iter().rev().collect::<Vec<_>>().join("/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::explore::Signature;

    fn failing(index: usize, checker: &str, reruns: Option<Tally>) -> Row {
        Row {
            verdict: Some(Verdict::Fail),
            seconds: 1.0,
            signature: Some(Signature {
                checkers: vec![checker.into()],
                actions: Vec::new(),
            }),
            reruns,
            ..Row::new(index, None, format!("schedule {index}"))
        }
    }

    fn rendered(rows: Vec<Row>) -> String {
        let header = Header {
            seed: 1,
            strategy: "uniform",
            target: "local",
            space: "default",
            budget: "10 trial(s)".into(),
        };
        render(
            &header,
            &Explored {
                rows,
                ..Explored::default()
            },
        )
    }

    #[test]
    fn a_failure_names_the_trial_that_failed_again_and_how_often() {
        let index = rendered(vec![
            failing(
                3,
                "no_lost_acks",
                Some(Tally {
                    failed: 0,
                    runs: 5,
                    cut_short: false,
                }),
            ),
            failing(
                7,
                "no_lost_acks",
                Some(Tally {
                    failed: 1,
                    runs: 2,
                    cut_short: false,
                }),
            ),
            failing(8, "no_lost_acks", None),
        ]);
        assert!(index.contains("Trials: #3, #7, #8\n"), "{index}");
        assert!(index.contains("First: trial #3 — `schedule 3`"), "{index}");
        assert!(
            index.contains("To shrink: trial #7, which failed again in 1 of 2 reruns"),
            "{index}"
        );
        assert!(
            index.contains(
                "| 3 |  | schedule 3 | **FAIL** no_lost_acks (failed again in 0 of 5 reruns) |"
            ),
            "{index}"
        );
        assert!(
            index.contains("| 8 |  | schedule 8 | **FAIL** no_lost_acks | 1.0 |"),
            "{index}"
        );
    }

    #[test]
    fn a_failure_that_never_failed_again_is_called_too_rare_to_shrink() {
        let index = rendered(vec![failing(
            4,
            "no_oversell",
            Some(Tally {
                failed: 0,
                runs: 5,
                cut_short: false,
            }),
        )]);
        assert!(
            index.contains("Not reproduced: trial #4 failed again in 0 of 5 reruns — too rare"),
            "{index}"
        );
        assert!(!index.contains("To shrink"), "{index}");
    }

    #[test]
    fn reruns_cut_short_do_not_call_a_failure_rare() {
        let cut = Tally {
            failed: 0,
            runs: 2,
            cut_short: true,
        };
        let index = rendered(vec![failing(5, "no_lost_acks", Some(cut))]);
        assert!(
            index.contains(
                "Not known to reproduce: trial #5 failed again in 0 of 2 reruns, cut short;"
            ),
            "{index}"
        );
        assert!(!index.contains("too rare"), "{index}");
    }
}
