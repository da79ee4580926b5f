//! The mutation suite: fgchaos proves its own checkers. Each broken build of a service (the
//! `fg-mutant` fixture, or a stack change) runs on the scenario that should expose it and must
//! end with exit 1 and the checker named for its bug failing; the unbroken build passes the
//! same scenarios; a worker that is merely slow is inconclusive, one that is stuck fails.
//! docs/verdicts.md has the table.
//!
//! Runs go one at a time (a lock): two stacks on a two-core machine would measure each other.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use serde_json::Value;

mod common;
use common::builds::{stack_file, Build};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

thread_local! {
    /// The last run's directory on this test's thread, so a test can judge it again.
    static KEPT: std::cell::RefCell<Option<tempfile::TempDir>> = const { std::cell::RefCell::new(None) };
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A fixture scenario by name, or a scenario file by its absolute path.
fn scenario(name: &str) -> PathBuf {
    if Path::new(name).is_absolute() {
        return PathBuf::from(name);
    }
    repo().join(format!(
        "flux-gate-chaos/fixtures/mutants/scenarios/{name}.yaml"
    ))
}

/// scenarios/redis-failover.yaml on the Sentinel stack (stacks/redis-ha.yaml) with plain
/// asynchronous replication ([`Build::AsyncReplication`]). The scenario names its own stack
/// (`stack:`, which `--stack` does not override), so it is rewritten into `dir` to name the
/// broken one; returns the scenario's path.
///
/// The replication link is slowed by 50 ms instead of the scenario's 10 ms: what the kill loses
/// is what was acknowledged within one replication delay of it — about 4 reservations at 400/s
/// with 10 ms, and one run in the mutation suite (tests in parallel on two cores) lost none and
/// passed (2026-12-03). With 50 ms about 20 are in flight: the bug shows every time, as it would
/// across a slower link.
fn async_replication(dir: &Path) -> String {
    let stack = stack_file(&Build::AsyncReplication, dir).unwrap();
    let original = std::fs::read_to_string(repo().join("scenarios/redis-failover.yaml")).unwrap();
    let own = "stack: ../flux-gate-chaos/stacks/redis-ha.yaml";
    assert_eq!(original.matches(own).count(), 1);
    let delay = "link: redis-primary, latency: 10ms,";
    assert_eq!(original.matches(delay).count(), 1);
    let original = original.replace(delay, "link: redis-primary, latency: 50ms,");
    let path = dir.join("redis-failover.yaml");
    std::fs::write(
        &path,
        original.replace(own, &format!("stack: {}", stack.display())),
    )
    .unwrap();
    path.display().to_string()
}

/// Runs `scenarios` with `build`; returns the exit code, the runs' JSON and the output. The
/// reports stay until the next run (the directory is per thread and replaced).
fn run(build: Build, scenarios: &[&str]) -> (Option<i32>, Vec<Value>, String) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("runs.json");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fgchaos"));
    cmd.arg("run")
        .args(scenarios.iter().map(|s| scenario(s)))
        .args(["--target", "local", "--seed", "7", "--report-dir"])
        .arg(dir.path().join("reports"))
        .arg("--work-dir")
        .arg(dir.path().join("work"))
        .arg("--json")
        .arg(&json);
    if let Some(stack) = stack_file(&build, dir.path()) {
        cmd.arg("--stack").arg(stack);
    }
    let out = cmd.output().unwrap();
    let stdout =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let runs: Value = serde_json::from_slice(&std::fs::read(&json).unwrap_or_default())
        .unwrap_or(Value::Array(Vec::new()));
    let runs = runs.as_array().cloned().unwrap_or_default();
    // Keep the evidence: FG_KEEP_MUTANT_RUNS keeps every run, else each test's directory lives
    // until the test ends (see `KEPT`).
    if std::env::var_os("FG_KEEP_MUTANT_RUNS").is_some() {
        let _ = dir.keep();
    } else {
        KEPT.with(|k| *k.borrow_mut() = Some(dir));
    }
    (out.status.code(), runs, stdout)
}

/// The checkers a run failed, in the report's order.
fn failed_checkers(run: &Value) -> Vec<&str> {
    run["verdict"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["status"] == "fail")
        .map(|f| f["checker"].as_str().unwrap())
        .collect()
}

fn finding<'a>(run: &'a Value, checker: &str) -> &'a Value {
    run["verdict"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["checker"] == checker)
        .unwrap_or_else(|| panic!("no {checker} finding"))
}

/// The broken build fails, and `checker` is among the failed ones.
fn caught(build: Build, scenario: &str, checker: &str) -> Value {
    let (code, runs, out) = run(build, &[scenario]);
    assert_eq!(code, Some(1), "{out}");
    let f = finding(&runs[0], checker);
    assert_eq!(f["status"], "fail", "{f}\n{out}");
    runs[0].clone()
}

#[test]
fn the_unbroken_build_passes_every_mutation_scenario() {
    let all = [
        "steady",
        "worker-kill",
        "db-outage",
        "redis-restart",
        "sellout",
        "sellout-merged",
        "kafka-outage",
        "duplicates",
    ];
    let (code, runs, out) = run(Build::Unbroken, &all);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(runs.len(), all.len(), "{out}");
}

#[test]
fn a_worker_that_drops_messages_fails_no_lost_acks() {
    let r = caught(Build::Worker("drops-every-tenth"), "steady", "no_lost_acks");
    // 1,000 orders, every tenth message dropped: about 100 acknowledged orders missing.
    let lost = finding(&r, "no_lost_acks");
    let count = lost["count"].as_u64().unwrap();
    assert!((80..=120).contains(&count), "{count} lost");
    assert!(
        lost["counterexamples"][0]
            .as_str()
            .unwrap()
            .contains(": no row"),
        "{lost}"
    );
    // Their units are gone from Redis but not in the database.
    assert_eq!(finding(&r, "stock_conserved")["status"], "fail");
}

#[test]
fn a_worker_that_never_decrements_stock_fails_db_matches_redis() {
    let r = caught(
        Build::Worker("never-decrements-stock"),
        "steady",
        "db_matches_redis",
    );
    assert_eq!(finding(&r, "no_lost_acks")["status"], "pass");
}

#[test]
fn a_worker_that_commits_before_persisting_loses_orders_when_killed() {
    caught(
        Build::Worker("commits-before-persisting"),
        "worker-kill",
        "no_lost_acks",
    );
}

#[test]
fn a_worker_that_skips_what_the_database_refused_loses_orders_in_an_outage() {
    caught(
        Build::Worker("skips-batch-on-db-error"),
        "db-outage",
        "no_lost_acks",
    );
}

/// Loses nothing — every data checker passes — but its uncapped backoff sleeps through the
/// database's return: the backlog checker names the slow catch-up.
#[test]
fn a_worker_whose_backoff_has_no_cap_fails_backlog_catch_up() {
    let r = caught(
        Build::Worker("backs-off-without-a-cap"),
        "db-outage",
        "backlog",
    );
    assert_eq!(failed_checkers(&r), ["backlog"], "{r}");
    let f = finding(&r, "backlog");
    let shown: Vec<&str> = f["counterexamples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert!(
        shown
            .iter()
            .any(|c| c.starts_with("caught up ") && c.ends_with("after the last heal (want < 5s)")),
        "{f}"
    );
}

#[test]
fn a_worker_stuck_on_a_duplicate_key_fails_naming_the_worker_and_its_error() {
    let r = caught(
        Build::Worker("retries-duplicate-key-forever"),
        "worker-kill",
        "no_lost_acks",
    );
    let lost = finding(&r, "no_lost_acks");
    assert!(
        lost["counterexamples"][0]
            .as_str()
            .unwrap()
            .contains("acknowledged, not persisted within the settle timeout; progress stopped at"),
        "{lost}"
    );
    let stall = &r["verdict"]["diagnosis"]["stuck"];
    assert_eq!(stall["components"][0], "worker", "{stall}");
    let lines = stall["log_lines"].as_array().unwrap();
    assert!(
        lines
            .iter()
            .any(|l| l.as_str().unwrap().contains("duplicate key value")),
        "{stall}"
    );
    // The report says so too.
    let report = PathBuf::from(r["report"].as_str().unwrap());
    let md = std::fs::read_to_string(&report).unwrap();
    assert!(md.contains("## Why it did not settle"), "{md}");

    // Judged again from what the run stored: exactly the same verdict.
    let out = Command::new(env!("CARGO_BIN_EXE_fgchaos"))
        .arg("check")
        .arg(report.with_extension(""))
        .arg("--json")
        .arg(report.with_extension("check.json"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let checked: Value =
        serde_json::from_slice(&std::fs::read(report.with_extension("check.json")).unwrap())
            .unwrap();
    assert_eq!(checked[0]["verdict"], r["verdict"]);
}

#[test]
fn redis_without_its_append_only_file_fails_stock_conserved_after_a_restart() {
    caught(Build::RedisWithoutAof, "redis-restart", "stock_conserved");
}

/// The chaos plan's "Redis down" with Sentinel but asynchronous replication: reservations
/// acknowledged in the last replication delay before the kill are not on the promoted replica.
/// Their orders are already in Kafka (or, answered `202 pending`, only in the lost outbox), and
/// their stock comes back on the new primary and is sold again. Seen (seed 7): three `200
/// success` answers at 12.4 s, the sale's last units in Redis, have no row — the database had
/// already persisted the first sale of those units and refused the second (`products.stock`
/// cannot go below 0), so `no_lost_acks` fails at sell-out, six seconds after the kill that
/// caused it. Which data promise fails depends on where each lost reservation was
/// (`no_oversell` / `stock_conserved` when the database takes the extra orders;
/// `per_user_limit` when the lost write was a buyer's count, and the buyer bought again); one does,
/// with counterexamples, and the service-level ones pass: the failover itself went as well as
/// with the unbroken build.
#[test]
fn asynchronous_replication_loses_acknowledged_reservations_in_a_failover() {
    let dir = tempfile::tempdir().unwrap();
    let (code, runs, out) = run(Build::Unbroken, &[&async_replication(dir.path())]);
    assert_eq!(code, Some(1), "{out}");
    let r = &runs[0];
    let failed: Vec<&Value> = r["verdict"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["status"] == "fail")
        .collect();
    assert!(!failed.is_empty(), "{out}");
    for f in &failed {
        assert!(
            [
                "no_lost_acks",
                "no_oversell",
                "stock_conserved",
                "per_user_limit"
            ]
            .contains(&f["checker"].as_str().unwrap()),
            "{f}\n{out}"
        );
        assert!(f["count"].as_u64().unwrap() > 0, "{f}");
    }
    assert_eq!(finding(r, "availability")["status"], "pass", "{out}");
    // The timeline names the instance the role resolved to when the kill fired.
    let kill = r["journal"]["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["label"] == "kill redis-primary" && e["phase"] == "apply")
        .unwrap_or_else(|| panic!("no kill in {}", r["journal"]["timeline"]));
    assert_eq!(kill["instance"], "redis-1", "{kill}");
}

#[test]
fn a_slow_worker_is_inconclusive_with_its_rate_not_a_failure() {
    let (code, runs, out) = run(Build::Worker("slow"), &["slow"]);
    assert_eq!(code, Some(2), "{out}");
    let reason = runs[0]["verdict"]["reason"].as_str().unwrap();
    assert!(reason.contains("slow, not stuck"), "{reason}");
    let slow = &runs[0]["verdict"]["diagnosis"]["slow"];
    let rate = slow["rate_per_s"].as_f64().unwrap();
    // One order per 25 ms plus the insert: a little under 40 a second.
    assert!((10.0..=45.0).contains(&rate), "{slow}");
    assert!(slow["estimate_s"].as_f64().unwrap() > 0.0, "{slow}");
    assert_eq!(finding(&runs[0], "no_lost_acks")["status"], "inconclusive");
}

#[test]
fn an_api_that_sells_past_zero_fails_no_oversell() {
    let r = caught(Build::Api("api-sells-past-zero"), "sellout", "no_oversell");
    let over = finding(&r, "no_oversell");
    // The sampler saw the negative stock (not only the final read).
    assert!(
        over["counterexamples"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c.as_str().unwrap().starts_with("Redis stock -")),
        "{over}"
    );
}

/// The same bug, the load made by two generators: the run judges the merge of their histories,
/// and the checker is as sharp on it.
#[test]
fn an_api_that_sells_past_zero_is_caught_on_a_merged_history() {
    let r = caught(
        Build::Api("api-sells-past-zero"),
        "sellout-merged",
        "no_oversell",
    );
    assert_eq!(
        r["journal"]["load"]["totals"]["ops"], 1000,
        "both segments, merged"
    );
}

#[test]
fn an_api_without_an_outbox_loses_the_orders_of_a_kafka_outage() {
    let r = caught(
        Build::Api("api-without-outbox"),
        "kafka-outage",
        "no_lost_acks",
    );
    assert_eq!(finding(&r, "stock_conserved")["status"], "fail");
}

#[test]
fn an_idempotency_window_shorter_than_the_retries_fails_no_duplicates() {
    let r = caught(
        Build::Api("api-short-idempotency-window"),
        "duplicates",
        "no_duplicates",
    );
    let dup = finding(&r, "no_duplicates");
    assert!(
        dup["counterexamples"][0]
            .as_str()
            .unwrap()
            .contains("different orderIds"),
        "{dup}"
    );
}

/// A stop condition fired by a broken build: the API sells past zero, the sampler sees the
/// stock below 0, and `abort_when: { oversell: true }` stops the sale — every fault healed
/// first (a toxic and a pause, both still on), then the load stopped long before its end, and
/// what was recorded judged: ABORTED, exit 4, with the oversell named. The unbroken build runs
/// the same scenario to its end and passes: the condition does not fire on a sale that merely
/// sells out.
#[test]
fn an_oversell_stop_condition_aborts_the_broken_sale_with_every_fault_healed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("abort-on-oversell.yaml");
    std::fs::write(
        &path,
        "name: abort-on-oversell\nsale: { product: mutant, stock: 300 }\n\
         load: { model: arrival-rate, rate: 200/s, duration: 8s, users: 100000, timeout: 2s }\n\
         allow_total_outage: true\n\
         faults:\n  - { at: 500ms, action: latency, link: api-redis, latency: 2ms }\n\
         \x20 - { at: 500ms, action: pause, service: waiting-room }\n\
         settle: { timeout: 30s, stall: 10s }\nexpect: { min_ok: 300 }\n\
         abort_when: { oversell: true }\n",
    )
    .unwrap();
    let path = path.display().to_string();
    let (code, runs, out) = run(Build::Api("api-sells-past-zero"), &[&path]);
    assert_eq!(code, Some(4), "{out}");
    let r = &runs[0];
    assert_eq!(r["verdict"]["verdict"], "aborted", "{out}");
    let aborted = &r["journal"]["aborted"];
    assert_eq!(aborted["condition"], "oversell", "{aborted}");
    assert!(
        aborted["seen"]
            .as_str()
            .unwrap()
            .starts_with("Redis stock sampled at -"),
        "{aborted}"
    );
    eprintln!(
        "stopped at +{} ms; every fault healed {} ms after the trigger",
        aborted["at_ms"], aborted["healed_in_ms"]
    );
    // Both faults were on at the trigger and were undone, each landing.
    let mut undone: Vec<(&str, bool)> = r["journal"]["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["phase"] == "undo")
        .map(|e| (e["label"].as_str().unwrap(), e["ok"].as_bool().unwrap()))
        .collect();
    undone.sort();
    assert_eq!(
        undone,
        [("latency api-redis", true), ("pause waiting-room", true)],
        "{out}"
    );
    // The load stopped early, and the run settled and was judged: the oversell is named.
    let load_ms = r["journal"]["load"]["elapsed_ms"].as_u64().unwrap();
    assert!(load_ms < 6_000, "the load ran {load_ms} ms of 8 s");
    assert!(
        r["journal"]["settled"]["converged"].as_bool().unwrap(),
        "{out}"
    );
    assert_eq!(finding(r, "no_oversell")["status"], "fail");
    assert!(
        r["verdict"]["reason"]
            .as_str()
            .unwrap()
            .contains("by oversell"),
        "{}",
        r["verdict"]["reason"]
    );

    let (code, runs, out) = run(Build::Unbroken, &[&path]);
    assert_eq!(code, Some(0), "{out}");
    assert!(runs[0]["journal"].get("aborted").is_none(), "{out}");
}
