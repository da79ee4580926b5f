//! `fgchaos shrink RUN_DIR`: the run read and checked (it must fail, and fit the stack) before
//! anything starts; then the passes on a kept stack, a line per pass, the steps table, and
//! `minimal.yaml` (with `--save`, a regression scenario of the suite too). Exit 0 when the
//! result failed the same way in its confirmation runs, 2 when it never did (flaky: the
//! output says so), 3 on bad input or a harness failure.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use fgchaos::cli::ShrinkArgs;
use fgchaos::journal::Journal;
use fgchaos::run::{self, RunOptions, StackChoice};
use fgchaos::shrink::{self, Failing, ShrinkOptions, Shrunk, Step, CONFIRMATIONS};
use fgchaos::target::local::ProcessGroups;
use fgchaos::verdict::Verdict;

use super::interrupt::interrupts_or_halt;
use super::Exit;

pub async fn shrink(args: ShrinkArgs, guardian: Option<PathBuf>) -> anyhow::Result<Exit> {
    let budget = humantime::parse_duration(&args.budget)
        .with_context(|| format!("--budget {:?}: write a duration like `15m`", args.budget))?;
    let journal_path = args.run.join("journal.json");
    let journal = Journal::read(&journal_path)
        .with_context(|| format!("{}: not a stored run", args.run.display()))?;
    let out = args.out.join(format!("shrink-{}", run::stamp()));
    let groups = ProcessGroups::default();
    let run_opts = RunOptions::on_kept_stack(
        &out,
        args.target.unwrap_or(journal.target),
        args.stack.clone().or_else(|| own_stack(&journal)),
        args.project.clone(),
        args.work_dir.clone(),
        groups.clone(),
        guardian,
    );
    let (stack, names) = run::stack_of(&run_opts).await?;
    let stack = scaled(stack, &journal)?;
    let names = match &stack {
        StackChoice::Local(spec) => spec.names(false),
        StackChoice::Docker { .. } => names,
    };
    let failing = Failing::read(&args.run, &names)?;
    errln!(
        "fgchaos: shrinking {} ({} fault(s); fails {}) on {} within {}",
        args.run.display(),
        failing.scenario.faults.len(),
        failing.signature,
        run_opts.target.as_str(),
        humantime::format_duration(budget)
    );
    let opts = ShrinkOptions {
        budget,
        out: out.clone(),
        run: run_opts,
    };
    let (_registered, interrupt) = interrupts_or_halt(groups, "shrink", &out);
    let mut shown = |s: &Step| errln!("  {:<22} {} fault(s), {} run(s)", s.pass, s.faults, s.runs);
    let shrunk = shrink::shrink(failing, names, stack, &opts, interrupt, &mut shown).await?;
    let minimal = out.join("minimal.yaml");
    let text = shrink::minimal_file(&shrunk.minimal, &shrunk, &args.run)?;
    std::fs::write(&minimal, &text).with_context(|| format!("writing {}", minimal.display()))?;
    if let Some(path) = &args.save {
        save(&shrunk, &args.run, path)?;
    }
    print_steps(&shrunk, &minimal);
    Ok(if shrunk.confirmed == 0 {
        Exit::Verdict(Verdict::Inconclusive)
    } else {
        Exit::Success
    })
}

/// The stack file the run's scenario named itself (`stack:`), relative to where it was read.
fn own_stack(journal: &Journal) -> Option<PathBuf> {
    let rel = journal.scenario.stack.as_ref()?;
    let dir = Path::new(&journal.scenario_file).parent()?;
    Some(dir.join(rel))
}

/// The local stack at the size the run's scenario asked for (`scale:`).
fn scaled(stack: StackChoice, journal: &Journal) -> anyhow::Result<StackChoice> {
    Ok(match stack {
        StackChoice::Local(spec) => StackChoice::Local(
            spec.scaled(&journal.scenario.scale)
                .map_err(|p| anyhow::anyhow!("the run's `scale:` does not fit this stack: {p}"))?,
        ),
        docker => docker,
    })
}

/// `--save FILE`: the minimal scenario named for its file, as a scenario of the suite.
fn save(shrunk: &Shrunk, from: &Path, path: &Path) -> anyhow::Result<()> {
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut named = shrunk.minimal.clone();
    named.name = name;
    named.description = format!(
        "Found by fgchaos explore and shrink: fails {}.",
        shrunk.signature.checkers_line()
    );
    let text = shrink::minimal_file(&named, shrunk, from)?;
    fgchaos::scenario::parse_str(&text, &path.display().to_string())
        .with_context(|| format!("{}: the saved scenario does not read back", path.display()))?;
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    errln!("fgchaos: saved {}", path.display());
    Ok(())
}

fn print_steps(s: &Shrunk, minimal: &Path) {
    outln!("\n| step | faults | load | runs |\n|---|---|---|---|");
    for step in &s.steps {
        outln!(
            "| {} | {} | {} | {} |",
            step.pass,
            step.faults,
            humantime::format_duration(step.load),
            step.runs
        );
    }
    outln!(
        "\n{} run(s) in {}; the result fails {} in {} of {} confirmation runs{}.",
        s.runs,
        humantime::format_duration(Duration::from_secs(s.elapsed.as_secs())),
        s.signature.checkers_line(),
        s.confirmed,
        CONFIRMATIONS,
        if s.cut_short {
            " (the budget or Ctrl-C cut the passes short)"
        } else {
            ""
        }
    );
    if !s.reproduced && s.cut_short {
        outln!(
            "the budget or Ctrl-C ended the original's reruns before it failed again, so nothing \
             was reduced"
        );
    } else if !s.reproduced {
        outln!(
            "the original failed the same way in none of its {} reruns: too rare to reduce \
             (flaky), so nothing was reduced",
            shrink::REPRODUCE.m
        );
    }
    outln!("minimal scenario: {}", minimal.display());
    if let Some(run) = &s.run {
        outln!("its failing run: {}", run.display());
    }
}
