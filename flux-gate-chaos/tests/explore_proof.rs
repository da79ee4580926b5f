//! The whole proof of `fgchaos explore` and `fgchaos shrink` (`make verify-explore`; every test
//! here is `#[ignore]`d so that `make test` runs only the fast subset in `tests/explore.rs`).
//!
//! For each broken build: `fgchaos explore --seed S --trials N` on it — with the default space,
//! never the scenario written for its bug — must find a failure naming the mutant's checker,
//! and `fgchaos shrink` must reduce that failing trial to at most two faults that still fail
//! with it. The unbroken build, under the same kind of budget, must give no failure at all.
//! Each test prints the figures docs/explore.md records: trials to the first failure, the
//! shrink's faults before and after, its runs and its wall time.
//!
//! One at a time (the lock): two stacks on two cores would measure each other.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Instant;

mod common;
use common::builds::{stack_file, Build};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn fgchaos() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fgchaos"))
}

/// `fgchaos explore` on `build`; the session directory and the output.
fn explore(build: &Build, dir: &Path, seed: u64, trials: usize) -> (Option<i32>, PathBuf, String) {
    let mut cmd = fgchaos();
    cmd.args([
        "explore",
        "--target",
        "local",
        "--stop-on-failure",
        "--seed",
    ])
    .arg(seed.to_string())
    .arg("--trials")
    .arg(trials.to_string())
    .arg("--out")
    .arg(dir.join("out"))
    .arg("--work-dir")
    .arg(dir.join("work"));
    if let Some(stack) = stack_file(build, dir) {
        cmd.arg("--stack").arg(stack);
    }
    let out = cmd.output().unwrap();
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let session = common::explore_session(&dir.join("out"));
    (out.status.code(), session, said)
}

/// The first failing trial whose failed checkers include `checker`: its index and run.
fn first_failing(session: &Path, checker: &str) -> Option<(usize, PathBuf)> {
    let mut runs: Vec<PathBuf> = std::fs::read_dir(session.join("runs"))
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    runs.sort();
    runs.into_iter().find_map(|run| {
        let checked = common::check(&run, &[]);
        let failed = checked.verdicts[0]["verdict"]["findings"]
            .as_array()?
            .iter()
            .any(|f| f["checker"] == checker && f["status"] == "fail");
        let name = run.file_name()?.to_string_lossy().into_owned();
        let index = name.strip_prefix("trial-")?.get(..4)?.parse().ok()?;
        failed.then_some((index, run))
    })
}

fn found_and_shrunk(build: Build, checker: &str, seed: u64, trials: usize) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let began = Instant::now();
    let (code, session, said) = explore(&build, dir.path(), seed, trials);
    assert_eq!(code, Some(1), "nothing found:\n{said}");
    let (index, run) = first_failing(&session, checker)
        .unwrap_or_else(|| panic!("no failure names {checker}:\n{said}"));
    let explored = began.elapsed();
    let before = fgchaos::scenario::read_file(&run.join("scenario.yaml"))
        .unwrap()
        .faults
        .len();
    let began = Instant::now();
    let mut cmd = fgchaos();
    cmd.arg("shrink")
        .arg(&run)
        .args(["--budget", "15m", "--out"])
        .arg(dir.path().join("shrunk"))
        .arg("--work-dir")
        .arg(dir.path().join("work"));
    if let Some(stack) = stack_file(&build, dir.path()) {
        cmd.arg("--stack").arg(stack);
    }
    let out = cmd.output().unwrap();
    let shrunk =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{shrunk}");
    let minimal_path = std::fs::read_dir(dir.path().join("shrunk"))
        .unwrap()
        .flatten()
        .map(|e| e.path().join("minimal.yaml"))
        .find(|p| p.exists())
        .unwrap();
    let minimal = fgchaos::scenario::read_file(&minimal_path).unwrap();
    assert!(minimal.faults.len() <= 2, "{shrunk}");
    assert!(
        shrunk.contains(&format!("fails {checker}")) || shrunk.contains(checker),
        "{shrunk}"
    );
    let runs = shrunk
        .lines()
        .find(|l| l.contains(" run(s) in "))
        .unwrap_or_default()
        .to_owned();
    eprintln!(
        "PROOF {checker}: first failure at trial {index} of {trials} (seed {seed}, {:.0} s); \
         shrink {before} -> {} fault(s), {runs} ({:.0} s)",
        explored.as_secs_f64(),
        minimal.faults.len(),
        began.elapsed().as_secs_f64()
    );
}

#[test]
#[ignore = "make verify-explore"]
fn explore_finds_an_api_that_sells_past_zero() {
    found_and_shrunk(Build::Api("api-sells-past-zero"), "no_oversell", 1, 10);
}

#[test]
#[ignore = "make verify-explore"]
fn explore_finds_a_worker_that_commits_before_persisting() {
    found_and_shrunk(
        Build::Worker("commits-before-persisting"),
        "no_lost_acks",
        1,
        20,
    );
}

#[test]
#[ignore = "make verify-explore"]
fn explore_finds_a_worker_that_skips_what_the_database_refused() {
    found_and_shrunk(
        Build::Worker("skips-batch-on-db-error"),
        "no_lost_acks",
        1,
        20,
    );
}

#[test]
#[ignore = "make verify-explore"]
fn explore_finds_an_api_without_an_outbox() {
    found_and_shrunk(Build::Api("api-without-outbox"), "no_lost_acks", 1, 20);
}

#[test]
#[ignore = "make verify-explore"]
fn explore_finds_a_worker_that_never_decrements_stock() {
    found_and_shrunk(
        Build::Worker("never-decrements-stock"),
        "db_matches_redis",
        1,
        10,
    );
}

#[test]
#[ignore = "make verify-explore"]
fn explore_finds_redis_without_its_append_only_file() {
    found_and_shrunk(Build::RedisWithoutAof, "stock_conserved", 1, 30);
}

#[test]
#[ignore = "make verify-explore"]
fn explore_finds_asynchronous_replication_losing_acknowledged_orders() {
    found_and_shrunk(Build::AsyncReplication, "no_lost_acks", 1, 30);
}

#[test]
#[ignore = "make verify-explore"]
fn the_unbroken_build_gives_no_failure_in_a_hundred_trials() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let (code, session, said) = explore(&Build::Unbroken, dir.path(), 2026, 100);
    let index = std::fs::read_to_string(session.join("index.md")).unwrap_or_default();
    assert_eq!(code, Some(0), "{said}\n{index}");
    eprintln!(
        "PROOF unbroken: {}",
        said.lines()
            .find(|l| l.contains("trials/min"))
            .unwrap_or_default()
    );
}
