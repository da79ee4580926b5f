//! Every checker on synthetic evidence: a clean run passes; each violation fails the checker
//! that exists for it, naming the counterexample; indeterminate ops never count against.

use super::*;
use crate::journal::{Journal, FORMAT};
use crate::load::Outcome;
use crate::model::{DbOrder, FinalState, Settled};
use crate::nemesis::EventKind;
use crate::scenario::{parse_str, Action};
use crate::verdict::{judge, Verdict};

pub(crate) fn journal(expect: &str, per_user_limit: Option<u32>) -> Journal {
    let text = format!(
        "name: t\nsale: {{ product: p, stock: 3{} }}\nload: {{ model: arrival-rate, rate: 10/s, duration: 2s }}\n{expect}",
        per_user_limit.map(|l| format!(", per_user_limit: {l}")).unwrap_or_default()
    );
    let scenario = parse_str(&text, "t.yaml").unwrap();
    Journal {
        format: FORMAT,
        run_id: "t-1".into(),
        fgchaos_version: "0".into(),
        scenario_file: "t.yaml".into(),
        scenario_hash: "0".into(),
        scenario,
        seed: 1,
        target: crate::target_kind::TargetKind::Local,
        product: "p-abcd".into(),
        stock: 3,
        per_user_limit,
        started_at: "2026-11-27T00:00:00Z".into(),
        load_zero_unix_ms: 0,
        endpoints: Default::default(),
        environment: Default::default(),
        faults: Vec::new(),
        timeline: Vec::new(),
        history: "history.jsonl".into(),
        samples: None,
        sampling: None,
        backlog: Vec::new(),
        load: Some(crate::load::LoadSummary {
            totals: Default::default(),
            seconds: Vec::new(),
            not_sent: 0,
            generators: Vec::new(),
            started_unix_us: 0,
            elapsed_ms: 2000,
        }),
        logs: None,
        harness_error: None,
        interrupted: false,
        aborted: None,
        warm_up: None,
        settled: None,
    }
}

pub(crate) fn op(seq: u64, key: &str, user: &str, http: Option<u16>, order: Option<&str>) -> Op {
    let (outcome, answer) = match http {
        Some(200) | Some(202) if order.is_some() => (Outcome::Ok, Some("success")),
        Some(409) => (Outcome::Fail, Some("sold_out")),
        Some(429) => (Outcome::Fail, Some("user_limit")),
        Some(c) if c < 500 => (Outcome::Fail, None),
        _ => (Outcome::Info, None),
    };
    Op {
        seq,
        key: key.into(),
        user: user.into(),
        dup_of: None,
        intended_us: seq * 100_000,
        sent_us: seq * 100_000,
        done_us: seq * 100_000 + 2_000,
        http,
        outcome,
        answer: answer.map(str::to_owned),
        order_id: order.map(str::to_owned),
        error: http.is_none().then(|| "timeout after 2s".to_owned()),
    }
}

/// A timeline event that landed at `at` ms, as scheduled.
pub(crate) fn event(
    fault: usize,
    kind: crate::nemesis::EventKind,
    label: &str,
    at: u64,
) -> crate::nemesis::TimelineEvent {
    crate::nemesis::TimelineEvent {
        fault,
        kind,
        label: label.into(),
        scheduled_ms: Some(at),
        started_ms: at,
        finished_ms: at,
        ok: true,
        error: None,
        instance: None,
        replaced: None,
    }
}

/// Fault `id` as planned: `action` on the instance `target`, applied at 0 and never healing
/// by itself; the tests that need its changes or its window's bound build one in full.
pub(crate) fn planned(
    id: usize,
    action: crate::scenario::Action,
    target: &str,
) -> crate::nemesis::Injection {
    crate::nemesis::Injection {
        id,
        action,
        target: target.into(),
        at_ms: 0,
        apply: crate::nemesis::Change::Lifecycle {
            instance: target.into(),
            op: crate::target::Lifecycle::Kill,
        },
        heal_at_ms: None,
        heal: None,
        undo: None,
        expect: None,
    }
}

fn row(order: &str, key: &str, user: &str) -> DbOrder {
    DbOrder {
        order_id: order.into(),
        key: key.into(),
        user: user.into(),
    }
}

/// A clean sold-out sale of 3 units: k1..k3 bought (k3 after a timeout: an `info` op that
/// happened), k4 refused, k2 resent (a replay).
pub(crate) fn clean() -> (Vec<Op>, Settled) {
    let ops = vec![
        op(0, "k1", "u1", Some(200), Some("o1")),
        op(1, "k2", "u2", Some(200), Some("o2")),
        op(2, "k3", "u3", None, None),
        op(3, "k4", "u4", Some(409), None),
        op(4, "k2", "u2", Some(200), Some("o2")),
    ];
    let settled = Settled {
        converged: true,
        recovery_ms: Some(500),
        waited_ms: 2500,
        pending: Vec::new(),
        state: FinalState {
            initial: 3,
            redis_stock: Some(0),
            redis_stock_min: Some(0),
            outbox: 0,
            relayed: 0,
            db_stock: Some(0),
            db_orders: vec![
                row("o1", "k1", "u1"),
                row("o2", "k2", "u2"),
                row("o3", "k3", "u3"),
            ],
            consumer_lag: Some(0),
            lag_error: None,
        },
        trace: Vec::new(),
    };
    (ops, settled)
}

/// Judges a record of `j` with `ops` and the settle phase `s` (no samples, no logs).
pub(crate) fn judge_with(j: &Journal, ops: &[Op], s: Settled) -> crate::verdict::Judgement {
    judge(&record(j, ops, Some(s), Vec::new()))
}

pub(crate) fn record(
    j: &Journal,
    ops: &[Op],
    s: Option<Settled>,
    samples: Vec<crate::model::Sample>,
) -> crate::record::Record {
    let mut journal = j.clone();
    journal.settled = s;
    crate::record::Record {
        journal,
        ops: ops.to_vec(),
        samples,
        logs: Default::default(),
    }
}

/// The names of the checkers that failed, in name order.
fn failed_checkers(f: &BTreeMap<String, Finding>) -> Vec<&str> {
    f.values()
        .filter(|f| f.status == Status::Fail)
        .map(|f| f.checker.as_str())
        .collect()
}

fn findings(j: &Journal, ops: &[Op], s: Settled) -> BTreeMap<String, Finding> {
    judge_with(j, ops, s)
        .findings
        .into_iter()
        .map(|f| (f.checker.clone(), f))
        .collect()
}

use std::collections::BTreeMap;

fn only_failure(j: &Journal, ops: &[Op], s: Settled) -> Finding {
    let f = findings(j, ops, s);
    let failed: Vec<&Finding> = f.values().filter(|f| f.status == Status::Fail).collect();
    assert_eq!(
        failed.len(),
        1,
        "exactly one checker must fail: {failed:#?}"
    );
    failed[0].clone()
}

#[test]
fn a_clean_run_passes_every_checker() {
    let j = journal(
        "expect: { availability: \">= 75%\", recovery: \"< 1s\" }",
        Some(1),
    );
    let (ops, s) = clean();
    let jd = judge_with(&j, &ops, s);
    assert_eq!(jd.verdict, Verdict::Pass, "{jd:#?}");
    assert_eq!((jd.ok, jd.fail, jd.info), (3, 1, 1));
    let statuses: BTreeMap<&str, Status> = jd
        .findings
        .iter()
        .map(|f| (f.checker.as_str(), f.status))
        .collect();
    assert_eq!(statuses["no_phantoms"], Status::Pass);
    assert!(jd
        .findings
        .iter()
        .find(|f| f.checker == "no_phantoms")
        .unwrap()
        .summary
        .contains("1 indeterminate"));
    // Every checker runs and passes; only latency and backlog, with no threshold, are skipped.
    assert_eq!(statuses.len(), 11, "{statuses:?}");
    for (checker, status) in &statuses {
        let want = if *checker == "latency" || *checker == "backlog" {
            Status::Skipped
        } else {
            Status::Pass
        };
        assert_eq!(*status, want, "{checker}");
    }
}

#[test]
fn oversell_is_caught() {
    let j = journal("", None);
    let (ops, mut s) = clean();
    s.state.db_orders.push(row("o5", "k4", "u4"));
    s.state.redis_stock_min = Some(-1);
    let f = findings(&j, &ops, s);
    let o = &f["no_oversell"];
    assert_eq!(o.status, Status::Fail);
    assert_eq!(
        o.counterexamples,
        [
            "4 orders in the database for 3 units",
            "Redis stock read as -1 while settling"
        ]
    );
}

#[test]
fn a_lost_ack_is_named() {
    let j = journal("", None);
    let (ops, mut s) = clean();
    s.state.db_orders.retain(|r| r.key != "k2");
    s.state.redis_stock = Some(1);
    s.state.db_stock = Some(1);
    let f = findings(&j, &ops, s);
    let lost = &f["no_lost_acks"];
    assert_eq!(lost.status, Status::Fail);
    assert_eq!(lost.count, 2, "both acknowledged answers for k2");
    assert!(
        lost.counterexamples[0]
            .starts_with("key k2 (seq 1 at 0.1s: 200 success) orderId o2: no row"),
        "{lost:?}"
    );
    // Conservation still holds (Redis gave the unit back); only the lost ack is wrong.
    assert_eq!(f["stock_conserved"].status, Status::Pass);
}

#[test]
fn a_row_for_a_refused_or_unknown_key_is_a_phantom() {
    let j = journal("", None);
    let (ops, mut s) = clean();
    s.state.db_orders.push(row("o9", "k4", "u4"));
    s.state.db_orders.push(row("o10", "zz", "u9"));
    s.state.initial = 5;
    s.state.db_stock = Some(0);
    s.state.redis_stock = Some(0);
    let f = findings(&j, &ops, s);
    let p = &f["no_phantoms"];
    assert_eq!(p.status, Status::Fail);
    assert_eq!(p.count, 2);
    assert!(
        p.counterexamples[0]
            .contains("key k4: every answer was a definite no (seq 3 at 0.3s: 409 sold_out)"),
        "{p:?}"
    );
    assert!(
        p.counterexamples[1].contains("key zz: never sent in this run"),
        "{p:?}"
    );
}

#[test]
fn two_order_ids_for_one_key_is_a_duplicate() {
    let j = journal("", None);
    let (mut ops, s) = clean();
    ops.push(op(5, "k1", "u1", Some(200), Some("o1-bis")));
    let f = findings(&j, &ops, s);
    let failed = failed_checkers(&f);
    assert_eq!(
        failed,
        ["no_duplicates", "no_lost_acks"],
        "the second id has no row either"
    );
    let d = &f["no_duplicates"];
    assert_eq!(d.status, Status::Fail);
    assert_eq!(
        d.counterexamples,
        ["key k1: answered with 2 different orderIds (o1, o1-bis)"]
    );
}

/// What a worker rebalance would leave if the database let a second copy in (no key on
/// `order_id` or on the idempotency key, no `ON CONFLICT`): the order the partition's next owner
/// reads again becomes a second row for its key, and takes a second unit. The real schema
/// refuses that row; if a change ever let it through, these checkers say so.
#[test]
fn an_order_applied_twice_by_two_workers_is_caught() {
    let j = journal("", None);
    let (ops, mut s) = clean();
    s.state.db_orders.push(row("o2", "k2", "u2"));
    s.state.db_stock = Some(-1);
    let f = findings(&j, &ops, s);
    let failed = failed_checkers(&f);
    assert_eq!(
        failed,
        [
            "db_matches_redis",
            "no_duplicates",
            "no_oversell",
            "stock_conserved"
        ]
    );
    assert_eq!(f["no_duplicates"].counterexamples, ["key k2: 2 rows"]);
}

#[test]
fn conservation_and_agreement_catch_drift() {
    let j = journal("", None);
    let (ops, mut s) = clean();
    s.state.redis_stock = Some(1);
    let f = findings(&j, &ops, s);
    assert_eq!(f["stock_conserved"].status, Status::Fail);
    assert!(f["stock_conserved"].counterexamples[0].contains("drift 1"));
    assert_eq!(f["db_matches_redis"].status, Status::Fail);
    assert_eq!(
        f["db_matches_redis"].counterexamples,
        ["Redis stock 1 ≠ initial − orders = 0"]
    );
    let (ops, mut s) = clean();
    s.state.db_stock = Some(2);
    let f = only_failure(&j, &ops, s);
    assert_eq!(f.checker, "db_matches_redis");
}

#[test]
fn per_user_limit_is_enforced() {
    let j = journal("", Some(1));
    let (mut ops, mut s) = clean();
    ops.push(op(5, "k5", "u1", Some(200), Some("o5")));
    s.state.initial = 4;
    s.state.db_orders.push(row("o5", "k5", "u1"));
    let f = only_failure(&j, &ops, s);
    assert_eq!(f.checker, "per_user_limit");
    assert_eq!(f.counterexamples, ["user u1: 2 orders (limit 1)"]);
}

#[test]
fn availability_fails_below_its_threshold_and_names_the_errors() {
    let j = journal("expect: { availability: \">= 100%\" }", None);
    let (ops, s) = clean();
    let f = only_failure(&j, &ops, s);
    assert_eq!(f.checker, "availability");
    assert_eq!(
        f.counterexamples,
        ["overall 80.00% over 5 answers (want >= 100%)"]
    );
}

#[test]
fn a_fault_window_is_judged_by_its_own_expectation() {
    use crate::nemesis::{Change, Injection};
    use crate::scenario::WindowExpect;
    use crate::target::Lifecycle;
    let mut j = journal("expect: { availability: \">= 50%\" }", None);
    let apply = Change::Lifecycle {
        instance: "redis".into(),
        op: Lifecycle::Pause,
    };
    j.faults = vec![Injection {
        id: 0,
        action: Action::Pause,
        target: "redis".into(),
        at_ms: 150,
        apply: apply.clone(),
        heal_at_ms: None,
        heal: None,
        undo: None,
        expect: Some(WindowExpect {
            availability: Some(">= 100%".parse().unwrap()),
            p50: None,
            p99: Some("< 1ms".parse().unwrap()),
            latency_on: Vec::new(),
        }),
    }];
    j.timeline = vec![
        event(0, EventKind::Apply, "pause redis", 150),
        event(0, EventKind::Heal, "pause redis", 350),
    ];
    let (ops, s) = clean(); // op 2 (at 0.2 s, inside the window) timed out
    let f = findings(&j, &ops, s);
    assert_eq!(
        f["availability"].counterexamples,
        ["`pause redis`: 50.00% (1× timeout; want >= 100%)"],
        "overall 80% passes 50%"
    );
    assert_eq!(f["latency"].status, Status::Fail);
    assert!(
        f["latency"].counterexamples[0].starts_with("`pause redis` p99"),
        "{:?}",
        f["latency"]
    );
}

/// A window allowed to dip (a failover) is judged by its own threshold only: the scenario's
/// stricter one applies to everything outside it, overall included.
#[test]
fn an_answer_in_a_window_with_its_own_threshold_is_not_judged_overall() {
    use crate::nemesis::{Change, Injection, TimelineEvent};
    use crate::scenario::WindowExpect;
    use crate::target::Lifecycle;
    let judged = |window: Option<&str>| {
        let mut j = journal("expect: { availability: \">= 100%\" }", None);
        j.faults = vec![Injection {
            id: 0,
            action: Action::Kill,
            target: "redis-primary".into(),
            at_ms: 150,
            apply: Change::Lifecycle {
                instance: "redis-primary".into(),
                op: Lifecycle::Kill,
            },
            heal_at_ms: None,
            heal: None,
            undo: None,
            expect: window.map(|w| WindowExpect {
                availability: Some(w.parse().unwrap()),
                p50: None,
                p99: None,
                latency_on: Vec::new(),
            }),
        }];
        let ev = |kind: EventKind, at: u64| TimelineEvent {
            instance: Some("redis-1".into()),
            replaced: None,
            ..event(0, kind, "kill redis-primary", at)
        };
        j.timeline = vec![ev(EventKind::Apply, 150), ev(EventKind::Heal, 350)];
        let (ops, s) = clean(); // op 2 (at 0.2 s, inside the window) timed out
        findings(&j, &ops, s).remove("availability").unwrap()
    };
    let own = judged(Some(">= 50%"));
    assert_eq!(own.status, Status::Pass, "{own:?}");
    assert!(
        own.summary
            .starts_with("100.00% overall (outside the 1 window(s) with their own threshold)"),
        "{own:?}"
    );
    let strict = judged(Some(">= 60%"));
    assert_eq!(
        strict.counterexamples,
        ["`kill redis-primary`: 50.00% (1× timeout; want >= 60%)"]
    );
    let global = judged(None);
    assert_eq!(
        global.counterexamples,
        [
            "overall 80.00% over 5 answers (want >= 100%)",
            "`kill redis-primary`: 50.00% (1× timeout; want >= 100%)"
        ]
    );
}

#[test]
fn latency_and_recovery_thresholds() {
    let j = journal(
        "expect: { latency: { p99: \"< 1ms\" }, recovery: \"< 100ms\" }",
        None,
    );
    let (ops, s) = clean();
    let f = findings(&j, &ops, s);
    assert_eq!(f["latency"].status, Status::Fail);
    assert!(
        f["latency"].counterexamples[0].starts_with("`baseline` p99"),
        "{:?}",
        f["latency"]
    );
    assert_eq!(f["recovery"].status, Status::Fail);
    assert_eq!(
        f["recovery"].counterexamples,
        ["recovery took 500ms, want < 100ms"]
    );
}

#[test]
fn latency_bounds_restricted_to_a_target_hold_only_there() {
    let mut j = journal("expect: { latency: { p99: \"< 1ms\", on: [local] } }", None);
    let (ops, s) = clean();
    let f = findings(&j, &ops, s.clone());
    assert_eq!(f["latency"].status, Status::Fail, "{:?}", f["latency"]);
    j.target = crate::target_kind::TargetKind::Docker;
    let f = findings(&j, &ops, s);
    assert_eq!(f["latency"].status, Status::Skipped, "{:?}", f["latency"]);
    assert!(
        f["latency"]
            .summary
            .ends_with("(1 phase bound(s) apply on other targets, not on docker)"),
        "{:?}",
        f["latency"]
    );
}

#[test]
fn an_unsettled_system_is_inconclusive_not_a_failure() {
    let j = journal("", None);
    let (ops, mut s) = clean();
    s.converged = false;
    s.recovery_ms = None;
    s.pending = vec!["consumer lag 4 message(s)".into()];
    s.state.db_orders.pop();
    let jd = judge_with(&j, &ops, s);
    assert_eq!(jd.verdict, Verdict::Inconclusive, "{jd:#?}");
    assert!(jd.reason.contains("no_lost_acks"), "{}", jd.reason);
    let f = jd
        .findings
        .iter()
        .find(|f| f.checker == "stock_conserved")
        .unwrap();
    assert!(f.summary.contains("consumer lag 4"), "{f:?}");
}

#[test]
fn too_few_acknowledgements_is_inconclusive() {
    let j = journal("expect: { min_ok: 10 }", None);
    let (ops, s) = clean();
    let jd = judge_with(&j, &ops, s);
    assert_eq!(jd.verdict, Verdict::Inconclusive);
    assert!(jd.reason.contains("only 3 acknowledged"), "{}", jd.reason);
}

#[test]
fn harness_errors_and_exit_codes() {
    let mut j = journal("", None);
    j.harness_error = Some("fault 0 did not land".into());
    let (ops, mut s) = clean();
    // A broken promise too: the harness error still decides the verdict.
    s.state.redis_stock = Some(1);
    let jd = judge_with(&j, &ops, s);
    assert_eq!(jd.verdict, Verdict::HarnessError);
    assert!(
        jd.findings.iter().any(|f| f.status == Status::Fail),
        "{jd:#?}"
    );
    // Worst wins across scenarios: harness error > fail > inconclusive > pass.
    let by_severity = [
        Verdict::Pass,
        Verdict::Inconclusive,
        Verdict::Fail,
        Verdict::HarnessError,
    ];
    assert!(by_severity.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(
        [
            Verdict::Pass,
            Verdict::Fail,
            Verdict::Inconclusive,
            Verdict::HarnessError
        ]
        .map(Verdict::exit_code),
        [0, 1, 2, 3]
    );
}

fn status_of(jd: &crate::verdict::Judgement, checker: &str) -> Finding {
    jd.findings
        .iter()
        .find(|f| f.checker == checker)
        .unwrap_or_else(|| panic!("no {checker}"))
        .clone()
}

/// The state-based checkers, as the framework classes them.
const STATE_CHECKERS: [&str; 8] = [
    "no_oversell",
    "no_lost_acks",
    "no_phantoms",
    "no_duplicates",
    "stock_conserved",
    "db_matches_redis",
    "per_user_limit",
    "recovery",
];

#[test]
fn no_state_checker_passes_on_a_state_that_was_never_read() {
    let j = journal("expect: { availability: \">= 75%\" }", Some(1));
    let (ops, _) = clean();
    let jd = judge(&record(&j, &ops, None, Vec::new()));
    for c in STATE_CHECKERS {
        let f = status_of(&jd, c);
        assert_eq!(f.status, Status::Inconclusive, "{f:?}");
        assert_eq!(f.summary, NOT_JUDGED, "{f:?}");
    }
    // The answers alone still judge.
    assert_eq!(status_of(&jd, "availability").status, Status::Pass);
    assert_eq!(jd.verdict, Verdict::Inconclusive);
}

/// Converged false, with a trace of `lag` held for `flat_ms` at the end.
fn unsettled(s: &mut Settled, lag: i64, flat_ms: u64, draining: bool) {
    s.converged = false;
    s.recovery_ms = None;
    s.pending = vec![format!("consumer lag {lag} message(s)")];
    s.trace = (0..=(flat_ms / 250))
        .map(|i| crate::model::SettlePoint {
            at_ms: 2000 + i * 250,
            lag: Some(if draining {
                lag + (flat_ms / 250 - i) as i64
            } else {
                lag
            }),
            outbox: 0,
            orders: s.state.db_orders.len() as u64,
        })
        .collect();
}

#[test]
fn on_an_unsettled_state_a_seen_violation_fails_and_a_clean_read_is_not_judged() {
    let j = journal("", Some(1));
    let (ops, mut s) = clean();
    s.state.db_orders[2] = row("o9", "k1", "u1");
    unsettled(&mut s, 4, 5_000, true);
    let jd = judge_with(&j, &ops, s);
    assert_eq!(jd.verdict, Verdict::Fail, "{jd:#?}");
    for c in ["no_duplicates", "per_user_limit"] {
        assert_eq!(status_of(&jd, c).status, Status::Fail, "{c}");
    }
    for c in [
        "no_oversell",
        "no_phantoms",
        "no_lost_acks",
        "stock_conserved",
    ] {
        let f = status_of(&jd, c);
        assert_eq!(f.status, Status::Inconclusive, "{f:?}");
        assert!(
            f.summary
                .starts_with("not judged: the system did not settle"),
            "{f:?}"
        );
    }
}

#[test]
fn a_stuck_pipeline_fails_no_lost_acks_with_every_missing_acknowledged_order() {
    let j = journal("", None);
    let (ops, mut s) = clean();
    s.state.db_orders.retain(|r| r.key != "k2");
    unsettled(&mut s, 1, 20_000, false);
    let jd = judge_with(&j, &ops, s);
    assert_eq!(jd.verdict, Verdict::Fail, "{jd:#?}");
    assert!(
        jd.reason
            .contains("failed: no_lost_acks — stuck: the inventory worker"),
        "{}",
        jd.reason
    );
    let f = status_of(&jd, "no_lost_acks");
    assert_eq!(f.status, Status::Fail);
    // k2 was acknowledged twice (a replay): both answers are counterexamples.
    assert_eq!(f.count, 2, "{f:?}");
    assert!(
        f.counterexamples[0].starts_with("key k2 (seq 1 at 0.1s: 200 success): acknowledged, not persisted within the settle timeout; progress stopped at 2.0s (consumer lag 1, outbox 0, 2 orders in the database)"),
        "{f:?}"
    );
    assert!(matches!(
        jd.diagnosis,
        Some(crate::verdict::stall::Diagnosis::Stuck(_))
    ));
    // What needs the quiet state stays undecided.
    assert_eq!(
        status_of(&jd, "stock_conserved").status,
        Status::Inconclusive
    );
}

#[test]
fn a_slow_pipeline_stays_inconclusive_with_its_rate_and_estimate() {
    let j = journal("", None);
    let (ops, mut s) = clean();
    s.state.db_orders.retain(|r| r.key != "k2");
    unsettled(&mut s, 40, 20_000, true);
    let jd = judge_with(&j, &ops, s);
    assert_eq!(jd.verdict, Verdict::Inconclusive, "{jd:#?}");
    // 4 messages a second drained; 40 left.
    assert!(
        jd.reason
            .contains("slow, not stuck: 40 left, draining at 4.0/s, about 10 s more needed"),
        "{}",
        jd.reason
    );
    assert_eq!(status_of(&jd, "no_lost_acks").status, Status::Inconclusive);
}

#[test]
fn a_negative_stock_seen_only_by_the_sampler_is_oversell() {
    use crate::model::Sample;
    let j = journal("", None);
    let (ops, s) = clean();
    let samples = vec![
        Sample {
            at_ms: 1000,
            stock: Some(1),
            outbox: 0,
            primary: None,
        },
        Sample {
            at_ms: 1200,
            stock: Some(-1),
            outbox: 1,
            primary: None,
        },
        Sample {
            at_ms: 1300,
            stock: Some(0),
            outbox: 0,
            primary: None,
        },
    ];
    let jd = judge(&record(&j, &ops, Some(s.clone()), samples.clone()));
    let f = status_of(&jd, "no_oversell");
    assert_eq!(f.status, Status::Fail);
    assert_eq!(f.counterexamples, ["Redis stock -1 at 1.2s"]);
    // Without the dip, the same samples pass and say what they saw.
    let fine: Vec<Sample> = samples
        .into_iter()
        .filter(|x| x.stock != Some(-1))
        .collect();
    let jd = judge(&record(&j, &ops, Some(s), fine));
    let f = status_of(&jd, "no_oversell");
    assert_eq!(f.status, Status::Pass, "{f:?}");
    assert!(
        f.summary
            .contains("lowest 0 in 2 samples and 0 settle reads"),
        "{f:?}"
    );
}

/// A run whose database was stopped 1 s into the load and started again at 3 s, with the
/// backlog read at `points` (at, lag, age in ms), judged against `expect`.
fn backlog_finding(expect: &str, points: &[(u64, Option<i64>, Option<u64>)]) -> Finding {
    use crate::model::BacklogPoint;
    let mut j = journal(&format!("expect: {{ backlog: {expect} }}"), None);
    j.faults = vec![
        planned(0, Action::Stop, "postgres"),
        planned(1, Action::Start, "postgres"),
    ];
    j.timeline = vec![
        event(0, EventKind::Apply, "stop postgres", 1000),
        event(1, EventKind::Apply, "start postgres", 3000),
    ];
    j.load.as_mut().unwrap().elapsed_ms = 8000;
    j.backlog = points
        .iter()
        .map(|&(at_ms, lag, age_ms)| BacklogPoint { at_ms, lag, age_ms })
        .collect();
    let (ops, s) = clean();
    findings(&j, &ops, s).remove("backlog").unwrap()
}

/// Reads once a second: the age grows through the outage (1–3 s) and is gone 1.4 s after it.
const OUTAGE: &[(u64, Option<i64>, Option<u64>)] = &[
    (0, Some(0), Some(0)),
    (1000, Some(3), Some(0)),
    (2000, Some(40), Some(900)),
    (3000, Some(80), Some(1900)),
    (3400, Some(90), Some(2300)),
    (4400, Some(5), Some(20)),
    (5400, Some(0), Some(0)),
];

#[test]
fn the_backlog_checker_passes_a_worker_that_caught_up_in_time() {
    let f = backlog_finding("{ peak_age: \"< 5s\", catch_up: \"< 2s\" }", OUTAGE);
    assert_eq!(f.status, Status::Pass, "{f:?}");
    assert_eq!(
        f.summary,
        "7 reads; peak lag 90 at 3.4s, peak age 2.3s at 3.4s, caught up 1.4s after the last heal at 3.0s (want peak age < 5s, catch-up < 2s)"
    );
    let not_asked = backlog_finding("{ }", OUTAGE);
    assert_eq!(
        (not_asked.status, not_asked.summary.as_str()),
        (Status::Skipped, "7 reads; peak lag 90 at 3.4s, peak age 2.3s at 3.4s, caught up 1.4s after the last heal at 3.0s"),
        "an empty `backlog` is refused before a run; judged, it bounds nothing"
    );
}

#[test]
fn the_backlog_checker_fails_a_backlog_too_old_or_a_catch_up_too_slow() {
    let old = backlog_finding("{ peak_age: \"< 2s\" }", OUTAGE);
    assert_eq!(old.status, Status::Fail);
    assert_eq!(old.counterexamples, ["peak backlog age 2.3s (want < 2s)"]);
    let slow = backlog_finding("{ catch_up: \"< 1s\" }", OUTAGE);
    assert_eq!(slow.status, Status::Fail);
    assert_eq!(
        slow.counterexamples,
        ["caught up 1.4s after the last heal (want < 1s)"]
    );
    // A worker that never drains after the heal: the age keeps growing to the last read.
    let stuck: Vec<_> = OUTAGE[..4]
        .iter()
        .copied()
        .chain([(4000, Some(95), Some(2900)), (5000, Some(99), Some(3900))])
        .collect();
    let never = backlog_finding("{ catch_up: \"< 10s\" }", &stuck);
    assert_eq!(never.status, Status::Fail);
    assert_eq!(
        never.counterexamples,
        ["never caught up after the last heal at 3.0s: at the last read (5.0s) lag 99, age 3.9s"]
    );
}

#[test]
fn an_age_of_zero_with_the_lag_unknown_is_not_caught_up() {
    // 4.4 s: the workers that answered hold nothing, but the lag could not be read (a
    // partition without a live owner): not caught up until 5.4 s.
    let mut points = OUTAGE.to_vec();
    points[5] = (4400, None, Some(0));
    let f = backlog_finding("{ catch_up: \"< 2s\" }", &points);
    assert_eq!(
        f.counterexamples,
        ["caught up 2.4s after the last heal (want < 2s)"]
    );
}

#[test]
fn a_moment_between_two_old_batches_is_not_caught_up() {
    // 4.4 s: the worker has just persisted one held batch and not yet taken the next, which
    // is as old (5.0 s): caught up for good only at 5.4 s.
    let mut points = OUTAGE.to_vec();
    points.insert(6, (5000, Some(60), Some(2900)));
    let f = backlog_finding("{ catch_up: \"< 2s\" }", &points);
    assert_eq!(
        f.counterexamples,
        ["caught up 2.4s after the last heal (want < 2s)"]
    );
    // Once caught up, a read without an age changes nothing.
    let mut points = OUTAGE.to_vec();
    points.push((6400, Some(0), None));
    let f = backlog_finding("{ catch_up: \"< 2s\" }", &points);
    assert_eq!(f.status, Status::Pass, "{f:?}");
}

#[test]
fn a_backlog_never_read_is_inconclusive_and_unasked_is_skipped() {
    let none = backlog_finding("{ peak_age: \"< 5s\", catch_up: \"< 2s\" }", &[]);
    assert_eq!(none.status, Status::Inconclusive);
    assert_eq!(
        none.summary,
        "the backlog was not read: no worker reported a backlog age; the backlog was not read after the last heal"
    );
    // Workers that never answered: lags known, no age.
    let silent: Vec<_> = OUTAGE.iter().map(|&(at, lag, _)| (at, lag, None)).collect();
    let f = backlog_finding("{ peak_age: \"< 5s\" }", &silent);
    assert_eq!(f.status, Status::Inconclusive, "{f:?}");
    let (ops, s) = clean();
    let skipped = findings(&journal("", None), &ops, s)
        .remove("backlog")
        .unwrap();
    assert_eq!(
        (skipped.status, skipped.summary.as_str()),
        (Status::Skipped, "the backlog was not read")
    );
}
