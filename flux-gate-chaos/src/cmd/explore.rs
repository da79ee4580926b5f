//! `fgchaos explore`: the space read and checked against the stack before anything starts,
//! then one session of trials with a progress bar, then the index and a summary. Exit 1 when
//! any failure was found, 0 when nothing was, 3 when the harness could not explore; Ctrl-C heals
//! the trial in flight, stops, and still writes the index.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use fgchaos::cli::ExploreArgs;
use fgchaos::explore::anchors::Anchors;
use fgchaos::explore::index::{self, Header};
use fgchaos::explore::session::{self, Budget, Explored, Row, SessionOptions};
use fgchaos::explore::{Space, Strategy};
use fgchaos::run::{self, RunOptions, StackChoice};
use fgchaos::target::local::ProcessGroups;
use fgchaos::verdict::Verdict;
use indicatif::{ProgressBar, ProgressStyle};

use super::interrupt::interrupts_or_halt;
use super::run::choose_target;
use super::Exit;

/// The budget when neither `--budget` nor `--trials` is given.
const DEFAULT_BUDGET: Duration = Duration::from_secs(600);

pub async fn explore(args: ExploreArgs, guardian: Option<PathBuf>) -> anyhow::Result<Exit> {
    let budget = budget(&args)?;
    let strategy = Strategy::from_word(&args.strategy)
        .with_context(|| format!("--strategy {:?}: `guided` or `uniform`", args.strategy))?;
    let target = choose_target(args.target, &args.project).await;
    let seed = args.seed.unwrap_or_else(rand::random);
    let out = args.out.join(format!("explore-{}", run::stamp()));
    let groups = ProcessGroups::default();
    let run_opts = RunOptions::on_kept_stack(
        &out,
        target,
        args.stack.clone(),
        args.project.clone(),
        args.work_dir.clone(),
        groups.clone(),
        guardian,
    );
    // The space is checked against the stack before anything starts.
    let (space, text, file) = Space::read(args.space.as_deref())?;
    let (stack, names) = run::stack_of(&run_opts).await?;
    let anchors = match &stack {
        StackChoice::Local(spec) => Anchors::of_stack(spec),
        StackChoice::Docker { .. } => Anchors::defaults(),
    };
    let resolved = space.resolve(&names, anchors, &text, &file)?;
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let opts = SessionOptions {
        seed,
        budget,
        strategy,
        stop_on_failure: args.stop_on_failure,
        out: out.clone(),
        run: run_opts,
    };
    errln!(
        "fgchaos: exploring on {} with seed {seed} ({} search, {}); index: {}",
        target.as_str(),
        strategy.as_str(),
        budget_words(budget),
        out.join("index.md").display()
    );
    let (_registered, interrupt) = interrupts_or_halt(groups, "explore", &out);
    let bar = progress_bar(budget);
    let mut shown = |row: &Row, e: &Explored| show(&bar, budget, row, e);
    let explored = session::explore(&resolved, stack, &opts, interrupt, &mut shown).await?;
    bar.finish_and_clear();
    let header = Header {
        seed,
        strategy: strategy.as_str(),
        target: target.as_str(),
        space: &file,
        budget: budget_words(budget),
    };
    let index_path = out.join("index.md");
    std::fs::write(&index_path, index::render(&header, &explored))
        .with_context(|| format!("writing {}", index_path.display()))?;
    summary(&explored, &index_path);
    if let Some(why) = &explored.stopped_by {
        errln!("fgchaos: explore stopped before its budget: {why}");
    }
    Ok(exit(&explored))
}

fn budget(args: &ExploreArgs) -> anyhow::Result<Budget> {
    Ok(match (&args.budget, args.trials) {
        (_, Some(0)) => anyhow::bail!("--trials: run at least 1 trial"),
        (_, Some(n)) => Budget::Trials(n),
        (Some(b), None) => Budget::Time(
            humantime::parse_duration(b)
                .with_context(|| format!("--budget {b:?}: write a duration like `20m`"))?,
        ),
        (None, None) => Budget::Time(DEFAULT_BUDGET),
    })
}

fn exit(e: &Explored) -> Exit {
    if !e.failures().is_empty() {
        Exit::Verdict(Verdict::Fail)
    } else if e.interrupted {
        Exit::Interrupted
    } else if e.stopped_by.is_some() || e.rows.is_empty() || e.harness_errors() == e.rows.len() {
        Exit::Harness
    } else {
        Exit::Success
    }
}

fn budget_words(b: Budget) -> String {
    match b {
        Budget::Trials(n) => format!("{n} trial(s)"),
        Budget::Time(t) => humantime::format_duration(t).to_string(),
    }
}

fn progress_bar(budget: Budget) -> ProgressBar {
    let (len, unit) = match budget {
        Budget::Trials(n) => (n as u64, "trials"),
        Budget::Time(t) => (t.as_secs().max(1), "s"),
    };
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{{spinner}} [{{elapsed_precise}}] {{bar:30}} {{pos}}/{{len}} {unit} {{msg}}"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(Duration::from_millis(500));
    bar
}

/// After each trial: the bar moves by a trial (or to the seconds spent), and says what the
/// session has found so far.
fn show(bar: &ProgressBar, budget: Budget, row: &Row, e: &Explored) {
    bar.set_position(match budget {
        Budget::Trials(_) => e.rows.len() as u64,
        Budget::Time(_) => e.elapsed.as_secs(),
    });
    bar.set_message(format!(
        "{} failure(s), {:.1} trials/min · #{} {}",
        e.failures().len(),
        e.trials_per_minute(),
        row.index,
        row.verdict.map_or("no verdict", Verdict::as_str)
    ));
}

fn summary(e: &Explored, index: &std::path::Path) {
    let failures = e.failures();
    outln!(
        "\n{} trial(s) in {:.0} s: {:.1} trials/min, median trial {:.1} s; {} failure(s), {} harness error(s)",
        e.rows.len(),
        e.elapsed.as_secs_f64(),
        e.trials_per_minute(),
        e.median_seconds(),
        failures.len(),
        e.harness_errors()
    );
    for (sig, trials) in &failures {
        let first = trials.first().copied().unwrap_or_default();
        let Some(chosen) = e.to_shrink(trials) else {
            continue;
        };
        let run = chosen
            .run_dir
            .as_ref()
            .map_or_else(String::new, |d| format!(" — {}", d.display()));
        // `shrink #N` only for a trial that failed again: the one to hand to shrink.
        let handed = if chosen.reproduced() {
            "shrink"
        } else {
            "not reproduced"
        };
        outln!(
            "  FOUND {sig}: {} trial(s), first #{first}, {handed} #{} ({}){run}",
            trials.len(),
            chosen.index,
            index::reruns(chosen.reruns)
        );
    }
    outln!("index: {}", index.display());
}
