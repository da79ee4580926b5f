//! The subcommands, one file each. Every one returns an [`Exit`]; `main` turns it into the
//! process's exit code with [`Exit::code`], so the codes are chosen in one place:
//! 0 pass · 1 a promise broken · 2 inconclusive (or a dry run that could not resolve its
//! targets) · 3 bad input or the harness failed · 4 aborted by a stop condition or
//! `fgchaos halt` · 130 interrupted.

mod check;
mod cleanup;
mod clock;
mod down;
mod explore;
mod guard;
mod halt;
mod interrupt;
mod join;
mod list;
mod load;
mod merge;
mod proxy;
mod run;
mod shrink;
mod summary;
mod up;
mod validate;

use clap::CommandFactory;
use fgchaos::cli::{Cli, Command};
use fgchaos::verdict::Verdict;

/// How a subcommand ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Done, nothing judged (a stack served, a schema printed, files valid).
    Success,
    /// The worst verdict of the runs judged.
    Verdict(Verdict),
    /// Bad input, or the harness could not do its job.
    Harness,
    /// Ctrl-C or SIGTERM: faults were undone and the stack torn down before exiting.
    Interrupted,
    /// A dry run could not resolve what the run would act on: the engine or the fault proxy
    /// did not answer, or a permission is missing.
    Unresolved,
}

impl Exit {
    /// The process exit code. A verdict's code is [`Verdict::exit_code`]: CI gates read it.
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Verdict(v) => v.exit_code(),
            Exit::Harness => 3,
            Exit::Interrupted => 130,
            Exit::Unresolved => 2,
        }
    }

    /// `Harness` when any input was bad, else `Success`.
    fn unless_bad(bad: usize) -> Exit {
        if bad > 0 {
            Exit::Harness
        } else {
            Exit::Success
        }
    }
}

/// Runs `command`; `no_guard` (`--no-guard`) runs stacks without a guardian.
pub async fn dispatch(command: Command, no_guard: bool) -> anyhow::Result<Exit> {
    let guardian = || guard::executable(no_guard);
    match command {
        Command::Run(args) => run::run(args, guardian()?).await,
        Command::Check(args) => check::check(&args),
        Command::Validate(args) => Ok(validate::validate(&args)),
        Command::List(args) => list::list(&args),
        Command::Explore(args) => explore::explore(args, guardian()?).await,
        Command::Shrink(args) => shrink::shrink(args, guardian()?).await,
        Command::Load(args) => load::load(args).await,
        Command::Merge(args) => merge::merge(&args),
        Command::Clock(args) => clock::clock(&args).await,
        Command::Join(args) => join::join(&args).await,
        Command::Schema { of } => {
            let schema = if of == "space" {
                schemars::schema_for!(fgchaos::explore::Space)
            } else {
                schemars::schema_for!(fgchaos::scenario::Scenario)
            };
            outln!("{}", serde_json::to_string_pretty(&schema)?);
            Ok(Exit::Success)
        }
        Command::Up(args) => up::up(args, guardian()?).await,
        Command::Down(args) => down::down(&args).await,
        Command::Proxy(args) => proxy::proxy(&args).await,
        Command::Cleanup(args) => cleanup::cleanup(&args).await,
        Command::Guard(args) => guard::guard(&args).await,
        Command::Halt(args) => halt::halt(&args),
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "fgchaos",
                &mut std::io::stdout(),
            );
            Ok(Exit::Success)
        }
    }
}
