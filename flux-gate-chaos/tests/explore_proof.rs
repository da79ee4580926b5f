//! The whole proof of `fgchaos explore` and `fgchaos shrink` on real components (the local
//! target): `make verify-explore`. It is not part of `cargo test` — Cargo.toml sets
//! `test = false` for it, because it takes about an hour — and `make test` runs its fast
//! subset, `tests/explore.rs`.
//!
//! For each broken build: explore with the default space and the default (uniform) strategy,
//! never told the scenario written for that bug, must find a failure naming one of the
//! build's checkers within its stated trials; shrink must reduce that trial to at most two
//! faults that still fail the same way; and the unbroken build must keep every promise under
//! the reduced scenario — the failure is the build's, not the system's. One build,
//! asynchronous replication on the Sentinel stack, fails only under a role-based fault (the
//! current Redis primary lost or cut off). Then the unbroken build, over more trials than the
//! broken builds took in all, must find nothing.
//!
//! Every test prints one row of the table in docs/explore.md ("Proof"), so a run of this file
//! is how that table is refreshed.
//!
//! Runs go one at a time: two stacks on a two-core machine would measure each other.

use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

mod common;
use common::builds::{
    unbroken_stack, Build, ASYNC_REPLICATION_CHECKERS, REDIS_WITHOUT_AOF_CHECKERS,
};
use common::explore::{explore, found_run, read_scenario, run as run_scenario, shrink, trial_rows};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Every build is searched from this seed; a build's trials are a stated budget, not tuned
/// until it passes: the same seed and space give the same schedules.
const SEED: &str = "1";

/// Shrink's budget, the goal for one reduction.
const SHRINK_BUDGET: &str = "15m";

/// Explore `build` for at most `trials` trials, stopping at its first failure that fails again
/// when rerun, which must name one of `checkers` — the checkers the mutation suite accepts for the build: a bug that loses
/// state (Redis forgetting, a failover dropping writes) shows in whichever of them the trial's
/// timing reaches first. Shrink it, and require at most two faults still failing that way.
fn found_and_shrunk(build: Build, name: &str, checkers: &[&str], trials: u32) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let trials = trials.to_string();
    let (out, session) = explore(
        &build,
        dir.path(),
        &["--seed", SEED, "--trials", &trials, "--stop-on-failure"],
    );
    let explored = started.elapsed();
    assert_eq!(out.code, Some(1), "{name}: nothing found\n{}", out.text);
    // A session may hold failures that never failed again beside the one it stopped on; the
    // lines come in signature order, not trial order.
    let ours: Vec<&str> = out
        .found()
        .into_iter()
        .filter(|l| checkers.iter().any(|c| l.contains(c)))
        .collect();
    let first = ours.iter().map(|l| found_run(l).first).min();
    let first = first
        .unwrap_or_else(|| panic!("{name}: no failure names any of {checkers:?}\n{}", out.text));
    let (line, handed) = ours
        .iter()
        .find_map(|l| found_run(l).shrink.map(|n| (*l, n)))
        .unwrap_or_else(|| {
            panic!(
                "{name}: no failure of {checkers:?} failed again\n{}",
                out.text
            )
        });
    let index = std::fs::read_to_string(session.join("index.md")).unwrap();
    // The session stops at the trial that failed again, the one it hands to shrink.
    assert_eq!(trial_rows(&index).len(), handed as usize, "{index}");
    assert!(line.contains("(failed again in 1 of"), "{line}");
    let run = found_run(line).run;

    let saved = dir.path().join(format!("found-{name}.yaml"));
    let started = Instant::now();
    let shrunk = shrink(&build, &run, dir.path(), SHRINK_BUDGET, &saved);
    let wall = started.elapsed();
    assert_eq!(
        shrunk.code,
        Some(0),
        "{name}: not confirmed\n{}",
        shrunk.text
    );
    let result = shrunk.shrink_result().unwrap_or_default().to_owned();
    assert!(
        checkers.iter().any(|c| result.contains(c)),
        "{name}: {}",
        shrunk.text
    );
    let before = read_scenario(&run.join("scenario.yaml")).faults.len();
    let after = read_scenario(&saved).faults.len();
    // The row and the reduced scenario outlive the temporary directory: a failure below is
    // read from them.
    let signature = line
        .trim_start_matches("FOUND ")
        .split_once(": ")
        .map_or(line, |(signature, _)| signature);
    eprintln!(
        "| {name} | {signature} | {} | {} s | {before} → {after} | {} s | {result} |",
        trial_cell(first, handed),
        explored.as_secs(),
        wall.as_secs()
    );
    let kept = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("found-{name}.yaml"));
    std::fs::copy(&saved, &kept).unwrap();
    eprintln!("reduced scenario kept at {}", kept.display());
    assert!(after <= 2, "{name}: {after} faults left\n{}", shrunk.text);
    // The failure is the build's, not the system's: the unbroken build keeps every promise
    // under the same scenario.
    let clean = run_scenario(&saved, unbroken_stack(&build).as_deref(), dir.path());
    assert_eq!(
        clean.code,
        Some(0),
        "{name}: the unbroken build fails the minimal scenario too\n{}",
        clean.text
    );
    assert!(common::processes_under(&dir.path().join("work")).is_empty());
}

/// The table's trial cell: `6`, or `10, 14` when the first failure did not fail again and a
/// later one, the one shrunk, did.
fn trial_cell(first: u32, shrunk: u32) -> String {
    if first == shrunk {
        first.to_string()
    } else {
        format!("{first}, {shrunk}")
    }
}

#[test]
fn an_api_that_sells_past_zero() {
    found_and_shrunk(
        Build::Api("api-sells-past-zero"),
        "api-sells-past-zero",
        &["no_oversell"],
        10,
    );
}

#[test]
fn a_worker_that_never_decrements_stock() {
    found_and_shrunk(
        Build::Worker("never-decrements-stock"),
        "never-decrements-stock",
        &["db_matches_redis"],
        10,
    );
}

#[test]
fn a_worker_that_commits_before_persisting() {
    found_and_shrunk(
        Build::Worker("commits-before-persisting"),
        "commits-before-persisting",
        &["no_lost_acks"],
        20,
    );
}

#[test]
fn a_worker_that_skips_what_the_database_refused() {
    found_and_shrunk(
        Build::Worker("skips-batch-on-db-error"),
        "skips-batch-on-db-error",
        &["no_lost_acks"],
        20,
    );
}

/// A restarted Redis comes back empty: its stock, its idempotency keys and its outbox gone.
#[test]
fn redis_without_its_append_only_file() {
    found_and_shrunk(
        Build::RedisWithoutAof,
        "redis-without-aof",
        REDIS_WITHOUT_AOF_CHECKERS,
        30,
    );
}

/// Writes the primary acknowledged are lost when a replica without them is promoted: Redis
/// forgets reservations (and outbox entries) the rest of the system holds.
#[test]
fn asynchronous_replication_on_the_sentinel_stack() {
    found_and_shrunk(
        Build::AsyncReplication,
        "async-replication",
        ASYNC_REPLICATION_CHECKERS,
        30,
    );
}

/// The unbroken build over 100 trials — more than the broken builds took in all, each stopping
/// at its first failure that failed again — with no failure and no harness error.
#[test]
fn the_unbroken_build_keeps_every_promise() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let (out, session) = explore(
        &Build::Unbroken,
        dir.path(),
        &["--seed", "2026", "--trials", "100"],
    );
    let index = std::fs::read_to_string(session.join("index.md")).unwrap();
    assert_eq!(out.code, Some(0), "{}\n{index}", out.text);
    assert!(
        out.text.contains("0 failure(s), 0 harness error(s)"),
        "{}\n{index}",
        out.text
    );
    assert_eq!(trial_rows(&index).len(), 100, "{index}");
    assert!(common::processes_under(&dir.path().join("work")).is_empty());
    let summary = out.text.lines().find(|l| l.contains("trials/min"));
    eprintln!("| unbroken | {} |", summary.unwrap_or_default());
}
