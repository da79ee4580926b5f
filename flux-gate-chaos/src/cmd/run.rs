//! `fgchaos run`: every scenario file is validated before any runs, then each runs in turn;
//! the exit code is the worst verdict (130 when interrupted).

use std::path::PathBuf;

use anyhow::Context;
use fgchaos::cli::{RunArgs, TargetFlag};
use fgchaos::run::{self, Prepared, RunError, RunOptions};
use fgchaos::scenario::steady::SteadyState;
use fgchaos::scenario::stop::AbortWhen;
use fgchaos::target::local::ProcessGroups;
use fgchaos::target_kind::TargetKind;
use fgchaos::verdict::Verdict;

use super::interrupt::interrupts;
use super::summary::print_summary;
use super::Exit;

pub async fn run(args: RunArgs, guardian: Option<PathBuf>) -> anyhow::Result<Exit> {
    let target = choose_target(args.target, &args.project).await;
    let mut opts = RunOptions {
        seed: args.seed,
        report_dir: args.report_dir,
        work_dir: args.work_dir,
        keep: args.keep,
        stack: args.stack,
        target,
        project: args.project,
        progress: true,
        groups: ProcessGroups::default(),
        guardian,
        halt: fgchaos::stop::never(),
    };
    // Every file is read and checked before any runs.
    let prepared = match run::prepare_all(&args.scenarios, &opts).await {
        Err(e @ RunError::Attach(_)) if args.dry_run => {
            errln!("fgchaos: dry run: {e}");
            return Ok(Exit::Unresolved);
        }
        prepared => prepared?,
    };
    let prepared = match &args.abort_when {
        Some(text) => with_abort_when(prepared, text)?,
        None => prepared,
    };
    let prepared = match &args.steady_state {
        Some(text) => with_steady_state(prepared, text)?,
        None => prepared,
    };
    if args.dry_run {
        return dry_run(&prepared, args.seed).await;
    }
    // Registered only once there is something to halt: a dry run leaves no trace.
    let (_registered, halt) = super::halt::register("run", &opts.report_dir);
    opts.halt = halt;
    let interrupt = interrupts(opts.groups.clone());
    let mut worst: Option<Verdict> = None;
    let mut interrupted = false;
    let mut outcomes = Vec::new();
    let mut tally = Vec::new();
    for p in prepared {
        if *interrupt.borrow() {
            interrupted = true;
            break;
        }
        // A halt stops the experiment in progress and every one after it.
        if *opts.halt.borrow() {
            break;
        }
        let file = p.path.clone();
        let name = p.scenario.name.clone();
        let verdict = match run::run(p, &opts, interrupt.clone()).await {
            Ok(outcome) => {
                print_summary(&outcome.journal, &outcome.judgement, Some(&outcome.report));
                interrupted |= outcome.journal.interrupted;
                let v = outcome.judgement.verdict;
                outcomes.push(outcome);
                v
            }
            Err(e) => {
                errln!("fgchaos: {}: {e}", file.display());
                Verdict::HarnessError
            }
        };
        worst = worst.max(Some(verdict));
        tally.push((name, verdict));
    }
    if tally.len() > 1 {
        outln!("{}", tally_line(&tally));
    }
    write_outputs((args.json.as_deref(), args.junit.as_deref()), &outcomes)?;
    Ok(if interrupted {
        Exit::Interrupted
    } else {
        worst.map_or(Exit::Success, Exit::Verdict)
    })
}

/// One line for several runs, last, so that the end of a long log says which failed:
/// `fgchaos: 5 runs: 4 PASS; api-kill FAIL`.
fn tally_line(tally: &[(String, Verdict)]) -> String {
    let passed = tally.iter().filter(|(_, v)| *v == Verdict::Pass).count();
    let others: Vec<String> = tally
        .iter()
        .filter(|(_, v)| *v != Verdict::Pass)
        .map(|(name, v)| format!("{name} {}", v.as_str()))
        .collect();
    let mut line = format!("fgchaos: {} runs: {passed} PASS", tally.len());
    if !others.is_empty() {
        line.push_str("; ");
        line.push_str(&others.join(", "));
    }
    line
}

/// `--json` and `--junit`: every judged run, in the files asked for.
fn write_outputs(
    (json, junit): (Option<&std::path::Path>, Option<&std::path::Path>),
    outcomes: &[run::RunOutcome],
) -> anyhow::Result<()> {
    if let Some(path) = json {
        let all: Vec<serde_json::Value> = outcomes
            .iter()
            .map(|o| serde_json::json!({ "journal": o.journal, "verdict": o.judgement, "report": o.report }))
            .collect();
        std::fs::write(path, serde_json::to_vec_pretty(&all)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = junit {
        let runs: Vec<_> = outcomes
            .iter()
            .map(|o| (&o.journal, &o.judgement))
            .collect();
        let xml = fgchaos::report::junit::render(&runs)?;
        std::fs::write(path, xml).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// `--abort-when`: the conditions, read and checked against each scenario's load, replace
/// the scenario's own (the journal records the scenario as it ran).
fn with_abort_when(prepared: Vec<Prepared>, text: &str) -> anyhow::Result<Vec<Prepared>> {
    let conditions: AbortWhen =
        serde_yaml::from_str(text).with_context(|| format!("--abort-when `{text}`"))?;
    prepared
        .into_iter()
        .map(|mut p| {
            let load = fgchaos::scenario::validate::load_duration(&p.scenario.load);
            let problems = fgchaos::scenario::stop::problems(&conditions, load);
            if let Some(first) = problems.first() {
                anyhow::bail!("--abort-when, for {}: {first}", p.path.display());
            }
            p.scenario.abort_when = Some(conditions.clone());
            Ok(p)
        })
        .collect()
}

/// `--steady-state`: the hypothesis, read and checked, replaces each scenario's own (the journal
/// records the scenario as it ran).
fn with_steady_state(prepared: Vec<Prepared>, text: &str) -> anyhow::Result<Vec<Prepared>> {
    let hypothesis: SteadyState =
        serde_yaml::from_str(text).with_context(|| format!("--steady-state `{text}`"))?;
    if let Some(first) = fgchaos::scenario::steady::problems(&hypothesis).first() {
        anyhow::bail!("--steady-state: {first}");
    }
    Ok(prepared
        .into_iter()
        .map(|mut p| {
            p.scenario.steady_state = Some(hypothesis.clone());
            p
        })
        .collect())
}

/// `--dry-run`: each scenario resolved and printed; nothing runs. With no `--seed`, each gets
/// a seed of its own, printed, so that the run it shows can be run exactly.
async fn dry_run(prepared: &[Prepared], seed: Option<u64>) -> anyhow::Result<Exit> {
    let mut exit = Exit::Success;
    for p in prepared {
        match run::dry_run::resolve(p, seed.unwrap_or_else(rand::random)).await {
            Ok(dry) => outln!("{dry}"),
            Err(e) => {
                errln!("fgchaos: {}: dry run: {e}", p.path.display());
                exit = Exit::Unresolved;
            }
        }
    }
    Ok(exit)
}

/// `--target auto`: docker when an engine answers and the project runs, else local.
pub async fn choose_target(flag: TargetFlag, project: &str) -> TargetKind {
    if let Some(kind) = flag {
        return kind;
    }
    if fgchaos::target::docker::project::running(project).await {
        errln!("fgchaos: target docker (compose project `{project}` is running)");
        TargetKind::Docker
    } else {
        errln!("fgchaos: target local (no running compose project `{project}`)");
        TargetKind::Local
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_line_of_several_runs_names_each_that_did_not_pass() {
        let tally = [
            ("worker-crash".to_owned(), Verdict::Pass),
            ("api-kill".to_owned(), Verdict::Fail),
            ("db-outage".to_owned(), Verdict::Pass),
            ("kafka-loss".to_owned(), Verdict::HarnessError),
        ];
        assert_eq!(
            tally_line(&tally),
            "fgchaos: 4 runs: 2 PASS; api-kill FAIL, kafka-loss HARNESS ERROR"
        );
        assert_eq!(tally_line(&tally[..1]), "fgchaos: 1 runs: 1 PASS");
    }
}
