//! `fgchaos explore` and `fgchaos shrink` as the tests run them: on the local target, in a
//! test's own directory, against one of the builds of [`super::builds`].

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::builds::{stack_file, Build};

/// What one command said and how it ended.
pub struct Said {
    pub code: Option<i32>,
    /// stdout then stderr.
    pub text: String,
}

impl Said {
    pub fn of(out: &Output) -> Said {
        Said {
            code: out.status.code(),
            text: String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        }
    }

    /// The `FOUND <signature>: …` lines of explore's summary.
    pub fn found(&self) -> Vec<&str> {
        self.text
            .lines()
            .map(str::trim_start)
            .filter(|l| l.starts_with("FOUND "))
            .collect()
    }

    /// Shrink's closing line, `N run(s) in …; the result fails … in k of 3 confirmation runs.`
    pub fn shrink_result(&self) -> Option<&str> {
        self.text.lines().find(|l| l.contains("the result fails"))
    }
}

pub fn fgchaos() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fgchaos"))
}

/// `fgchaos explore --target local` of `build` with `extra` flags, writing under `dir`; also
/// returns its session directory.
pub fn explore(build: &Build, dir: &Path, extra: &[&str]) -> (Said, PathBuf) {
    let mut cmd = fgchaos();
    cmd.args(["explore", "--target", "local", "--out"])
        .arg(dir.join("out"))
        .arg("--work-dir")
        .arg(dir.join("work"))
        .args(extra);
    if let Some(stack) = stack_file(build, dir) {
        cmd.arg("--stack").arg(stack);
    }
    let said = Said::of(&cmd.output().unwrap());
    let session = super::explore_session(&dir.join("out"));
    (said, session)
}

/// `fgchaos shrink RUN --budget … --save SAVE` of a run of `build`, writing under `dir`.
pub fn shrink(build: &Build, run: &Path, dir: &Path, budget: &str, save: &Path) -> Said {
    let mut cmd = fgchaos();
    cmd.arg("shrink")
        .arg(run)
        .args(["--budget", budget, "--out"])
        .arg(dir.join("shrunk"))
        .arg("--work-dir")
        .arg(dir.join("work"))
        .arg("--save")
        .arg(save);
    if let Some(stack) = stack_file(build, dir) {
        cmd.arg("--stack").arg(stack);
    }
    Said::of(&cmd.output().unwrap())
}

/// `fgchaos run SCENARIO --target local` on `stack` (the built-in stack when `None`),
/// writing under `dir`.
pub fn run(scenario: &Path, stack: Option<&Path>, dir: &Path) -> Said {
    let mut cmd = fgchaos();
    cmd.arg("run")
        .arg(scenario)
        .args(["--target", "local", "--report-dir"])
        .arg(dir.join("reports"))
        .arg("--work-dir")
        .arg(dir.join("work"));
    if let Some(stack) = stack {
        cmd.arg("--stack").arg(stack);
    }
    Said::of(&cmd.output().unwrap())
}

/// The rows of an index's trial table, `| 1 | …`.
pub fn trial_rows(index: &str) -> Vec<&str> {
    index
        .lines()
        .filter(|l| l.starts_with("| ") && l[2..].starts_with(|c: char| c.is_ascii_digit()))
        .collect()
}

/// What a `FOUND` line says: `… first #F, shrink #S (failed again in k of m reruns) — <run>`,
/// or `not reproduced #S (…)` when no trial of it failed again.
pub struct Found {
    /// The first trial that failed this way.
    pub first: u32,
    /// The trial to shrink: the first that failed again when rerun; `None` when none did.
    pub shrink: Option<u32>,
    /// The stored run of the trial handed over.
    pub run: PathBuf,
}

pub fn found_run(found: &str) -> Found {
    let (head, run) = found
        .split_once(" — ")
        .unwrap_or_else(|| panic!("no run in {found:?}"));
    let number = |after: &str| -> Option<u32> {
        head.rsplit_once(after)
            .and_then(|(_, n)| n.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse().ok())
    };
    Found {
        first: number("first #").unwrap_or_else(|| panic!("no first trial in {found:?}")),
        shrink: number("shrink #"),
        run: PathBuf::from(run.trim()),
    }
}

pub fn read_scenario(path: &Path) -> fgchaos::scenario::Scenario {
    fgchaos::scenario::read_file(path).unwrap()
}
