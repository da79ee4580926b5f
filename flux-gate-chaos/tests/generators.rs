//! A load made by several generators, on the local stack: segments driven by separate
//! `fgchaos load` processes on a served clock merge into exactly the whole load, and a run
//! with `generators: 2` is judged as the same run with one generator is.

mod common;

use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use fgchaos::load::coordinator::Coordinator;
use fgchaos::load::history::{self, Op};
use fgchaos::load::{Live, LoadPlan};
use fgchaos::scenario::Scenario;
use fgchaos::target::local::{LocalTarget, StackSpec};
use fgchaos::target::Target;
use serde_json::Value;

/// A child process killed and reaped when dropped.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn fgchaos() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fgchaos"))
}

/// (seq, intended time, buyer, dup_of) of every attempt, by seq. Equal for two histories:
/// the same attempts, each due at the same instant of the schedule — so every second holds the
/// same arrivals (the merge keeps the schedule's intended times: decisions §61).
fn attempts(ops: &[Op]) -> Vec<(u64, u64, String, Option<u64>)> {
    let mut v: Vec<_> = ops
        .iter()
        .map(|o| (o.seq, o.intended_us, o.user.clone(), o.dup_of))
        .collect();
    v.sort();
    v
}

fn load(entry: &str, product: &str, history: &Path, extra: &[&str]) -> Command {
    let mut c = fgchaos();
    c.arg("load")
        .args(["--entry", entry, "--product", product])
        .args(["--rate", "150/s", "--duration", "3s", "--seed", "11"])
        .arg("--history")
        .arg(history)
        .args(extra);
    c
}

fn ok(c: &mut Command) -> String {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn refused(c: &mut Command) -> (Option<i32>, String) {
    let out = c.output().unwrap();
    assert!(!out.status.success());
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The local stack under `dir`, selling each of `products` (100,000 units); and its entry.
async fn stack_selling(dir: &Path, products: &[&str]) -> (LocalTarget, String) {
    let st = LocalTarget::start(
        StackSpec::built_in().unwrap(),
        &dir.join("work"),
        "token",
        &Default::default(),
    )
    .await
    .unwrap();
    let ep = st.endpoints().clone();
    let scenario: Scenario = serde_yaml::from_str(
        "name: s\nsale: { product: p, stock: 100000 }\nload: { model: arrival-rate, rate: 1/s }\n",
    )
    .unwrap();
    for product in products {
        fgchaos::run::start_sale(&ep.entry, &ep.admin_token, product, &scenario)
            .await
            .unwrap();
    }
    (st, ep.entry.trim_start_matches("http://").to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_of_separate_processes_merge_into_exactly_the_whole_load() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (mut st, entry) = stack_selling(d, &["seg", "whole"]).await;

    // The coordinator's clock, served by a process of its own (killed however the test ends).
    let mut clock = Killed(
        fgchaos()
            .args(["clock", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut first = String::new();
    std::io::BufReader::new(clock.0.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let clock_addr = first
        .split("http://")
        .nth(1)
        .and_then(|s| s.split('/').next())
        .unwrap()
        .to_owned();

    let start_at = (fgchaos::load::clock::now_unix_us() / 1000 + 2000).to_string();
    let histories: Vec<PathBuf> = (1..=2).map(|i| d.join(format!("h-{i}.jsonl"))).collect();
    let generators: Vec<_> = histories
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let segment = format!("{}/2", i + 1);
            load(
                &entry,
                "seg",
                h,
                &["--segment", &segment, "--run-id", "seg-1"],
            )
            .args(["--start-at", &start_at, "--clock", &clock_addr])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
        })
        .map(Killed)
        .collect();
    for mut g in generators {
        let (mut out, mut err) = (String::new(), String::new());
        g.0.stdout.take().unwrap().read_to_string(&mut out).unwrap();
        g.0.stderr.take().unwrap().read_to_string(&mut err).unwrap();
        assert!(g.0.wait().unwrap().success(), "{err}");
        assert!(
            out.contains(&format!("clock http://{clock_addr}/clock")),
            "{out}"
        );
    }
    let merged_path = d.join("merged.jsonl");
    // The skew bound is the merge's own unit test's; here the clock is read over loopback on a
    // busy machine, where one exchange can take milliseconds.
    let said = ok(fgchaos()
        .arg("merge")
        .args(&histories)
        .args(["--max-skew", "50ms", "--out"])
        .arg(&merged_path));
    assert!(
        said.contains("merged 2 segments of load seg-1: 450 ops (ok 450 fail 0 info 0)"),
        "{said}"
    );
    ok(&mut load(&entry, "whole", &d.join("whole.jsonl"), &[]));
    let merged = history::read(&merged_path).unwrap();
    let whole = history::read(&d.join("whole.jsonl")).unwrap();
    // The same attempts, each sent once: 3 s at 150/s.
    assert_eq!(merged.len(), 450);
    assert_eq!(attempts(&merged), attempts(&whole));
    for h in &histories {
        let m: Value = serde_json::from_slice(
            &std::fs::read(fgchaos::load::manifest::Manifest::beside(h)).unwrap(),
        )
        .unwrap();
        assert_eq!(m["ops"], 225, "{m}");
        assert!(
            m["clock_at_start"]["uncertainty_us"].as_u64().unwrap() < 5_000,
            "{m}"
        );
    }

    // Bad input: refused with the reason, nothing written over.
    let (code, err) = refused(
        fgchaos()
            .arg("merge")
            .arg(&histories[0])
            .arg("--out")
            .arg(d.join("m2.jsonl")),
    );
    assert_eq!(code, Some(3));
    assert!(err.contains("segment(s) 2/2 missing"), "{err}");
    assert!(!d.join("m2.jsonl").exists());
    let (_, err) = refused(
        fgchaos()
            .arg("merge")
            .arg(&histories[0])
            .arg(d.join("whole.jsonl")),
    );
    assert!(err.contains("no manifest beside it"), "{err}");
    let (_, err) = refused(
        fgchaos()
            .arg("merge")
            .args(&histories)
            .arg("--out")
            .arg(&histories[1]),
    );
    assert!(err.contains("is one of the files to merge"), "{err}");
    let (_, err) = refused(
        fgchaos()
            .arg("merge")
            .args(&histories)
            .arg("--out")
            .arg(&merged_path),
    );
    assert!(
        err.contains("exists: give another path, or --force"),
        "{err}"
    );
    let said_again = ok(fgchaos()
        .arg("merge")
        .args(&histories)
        .args(["--max-skew", "50ms", "--force", "--out"])
        .arg(&merged_path));
    assert!(said_again.contains("450 ops"), "{said_again}");
    assert_eq!(history::read(&histories[1]).unwrap().len(), 225);
    for bad in ["3/2", "0/0"] {
        let (code, err) = refused(&mut load(
            &entry,
            "seg",
            &d.join("bad.jsonl"),
            &["--segment", bad, "--run-id", "x", "--start-at", "0"],
        ));
        assert_eq!(code, Some(3), "{err}");
        assert!(err.contains(&format!("segment `{bad}`")), "{err}");
    }
    let (code, err) = refused(&mut load(
        &entry,
        "seg",
        &d.join("bad.jsonl"),
        &["--segment", "1/2"],
    ));
    assert_eq!(
        code,
        Some(2),
        "--segment without --run-id and --start-at: {err}"
    );
    let (_, err) = refused(&mut load(
        &entry,
        "seg",
        &d.join("late.jsonl"),
        &["--segment", "1/2", "--run-id", "x", "--start-at", "1000"],
    ));
    assert!(err.contains("the agreed start passed"), "{err}");
    // Microseconds given for milliseconds: refused, not a wait of decades.
    let micros = (fgchaos::load::clock::now_unix_us() + 3_000_000).to_string();
    let (_, err) = refused(&mut load(
        &entry,
        "seg",
        &d.join("far.jsonl"),
        &["--segment", "1/2", "--run-id", "x", "--start-at", &micros],
    ));
    assert!(err.contains("it is Unix time in milliseconds"), "{err}");
    assert!(!d.join("bad.jsonl").exists());

    drop(clock);
    st.teardown(false).await.unwrap();
}

/// A run's coordinator and two `fgchaos join` processes (what a run on a swarm places on its
/// nodes, decisions §69): each is given the load and the start by the coordinator and streams
/// its history back as it is made, and their merge is exactly the whole load — the same
/// attempts one generator makes on the same seed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generators_that_join_a_coordinator_make_exactly_the_whole_load() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (mut st, entry) = stack_selling(d, &["joined", "whole"]).await;
    let plan = LoadPlan {
        entry: entry.parse().unwrap(),
        product: "joined".into(),
        key_prefix: "join-1".into(),
        seed: 11,
        load: serde_yaml::from_str(
            "{model: arrival-rate, rate: 150/s, duration: 3s, users: 1000000, timeout: 2s, generators: 2}",
        )
        .unwrap(),
        duration: std::time::Duration::from_secs(3),
        segment: fgchaos::load::Segment::WHOLE,
    };
    let live = std::sync::Arc::new(Live::keeping(0));
    let history_path = d.join("history.jsonl");
    let coordinator = Coordinator::serve([127, 0, 0, 1].into(), &plan, &history_path, live.clone())
        .await
        .unwrap();
    let join = |segment: &str, entry: &str| {
        let mut c = fgchaos();
        c.arg("join")
            .args(["--coordinator", &coordinator.addr().to_string()])
            .args(["--segment", segment, "--entry", entry])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    };
    // Bad input, before anyone joined: a segment that is none, an entry off loopback, and a
    // segment of another count (the coordinator says how many make the load).
    let (code, err) = refused(&mut join("3/2", &entry));
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("segment `3/2`"), "{err}");
    let (_, err) = refused(&mut join("1/2", "10.1.2.3:8080"));
    assert!(err.contains("only to loopback"), "{err}");
    let (code, err) = refused(&mut join("1/3", &entry));
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("this load is made by 2 generators"), "{err}");
    assert_eq!(coordinator.not_joined().len(), 2);

    let generators: Vec<Killed> = ["1/2", "2/2"]
        .iter()
        .map(|s| Killed(join(s, &entry).spawn().unwrap()))
        .collect();
    common::wait_until_async(std::time::Duration::from_secs(30), "both joined", || {
        let missing = coordinator.not_joined();
        async move {
            if missing.is_empty() {
                Ok(())
            } else {
                Err(format!("{missing:?}"))
            }
        }
    })
    .await;
    coordinator.release(std::time::Duration::from_millis(500));
    let never = tokio::sync::watch::channel(false).1;
    let summary = coordinator
        .collect(never, std::time::Duration::from_secs(30))
        .await
        .unwrap();
    for mut g in generators {
        let (mut out, mut err) = (String::new(), String::new());
        g.0.stdout.take().unwrap().read_to_string(&mut out).unwrap();
        g.0.stderr.take().unwrap().read_to_string(&mut err).unwrap();
        assert!(g.0.wait().unwrap().success(), "{err}");
        assert!(out.contains("of load join-1 joined: joined from"), "{out}");
        assert!(out.contains("ops of segment"), "{out}");
    }
    // Counted into the run's live window as they came, and merged: 3 s at 150/s.
    assert_eq!(summary.totals.ops, 450);
    assert_eq!(live.sent.load(std::sync::atomic::Ordering::Relaxed), 450);
    assert_eq!(summary.generators.len(), 2);
    assert_eq!(summary.generators.iter().map(|g| g.ops).sum::<u64>(), 450);
    for i in 1..=2 {
        assert!(d
            .join(format!("history-{i}-of-2.jsonl.manifest.json"))
            .exists());
    }
    ok(&mut load(&entry, "whole", &d.join("whole.jsonl"), &[]));
    let merged = history::read(&history_path).unwrap();
    let whole = history::read(&d.join("whole.jsonl")).unwrap();
    assert_eq!(merged.len(), 450);
    assert_eq!(attempts(&merged), attempts(&whole));
    st.teardown(false).await.unwrap();
}

/// Runs the sell-out scenario with `generators`; returns the run's JSON and its directory.
fn sellout(dir: &Path, generators: u32) -> (Value, PathBuf) {
    let scenario = dir.join(format!("sellout-{generators}.yaml"));
    std::fs::write(
        &scenario,
        format!(
            "name: sellout-{generators}\nsale: {{ product: p, stock: 300 }}\n\
             load: {{ model: arrival-rate, rate: 200/s, duration: 4s, users: 100000, generators: {generators} }}\n\
             settle: {{ timeout: 30s, stall: 10s }}\nexpect: {{ min_ok: 300 }}\n"
        ),
    )
    .unwrap();
    let json = dir.join(format!("runs-{generators}.json"));
    let own = dir.join(format!("with-{generators}"));
    let out = common::local_run(&scenario, &own)
        .args(["--seed", "5", "--json"])
        .arg(&json)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let runs: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    (runs[0].clone(), common::run_dir_in(&own.join("reports")))
}

fn findings(run: &Value) -> Vec<(String, String)> {
    run["verdict"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["checker"].as_str().unwrap().to_owned(),
                f["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn a_run_with_two_generators_is_judged_as_the_run_with_one() {
    let dir = tempfile::tempdir().unwrap();
    let (one, one_dir) = sellout(dir.path(), 1);
    let (two, two_dir) = sellout(dir.path(), 2);
    assert_eq!(findings(&two), findings(&one));
    let (a, b) = (
        history::read(&two_dir.join("history.jsonl")).unwrap(),
        history::read(&one_dir.join("history.jsonl")).unwrap(),
    );
    assert_eq!(a.len(), 800);
    assert_eq!(attempts(&a), attempts(&b));
    let ok = |ops: &[Op]| {
        ops.iter()
            .filter(|o| o.outcome == fgchaos::load::Outcome::Ok)
            .count()
    };
    assert_eq!((ok(&a), ok(&b)), (300, 300));
    for i in 1..=2 {
        let h = two_dir.join(format!("history-{i}-of-2.jsonl"));
        assert_eq!(history::read(&h).unwrap().len(), 400, "{}", h.display());
        assert!(fgchaos::load::manifest::Manifest::of(&h).is_ok());
    }
    assert!(!one_dir.join("history-1-of-1.jsonl").exists());
    // The journal keeps each generator's place on the timeline; the report says so.
    let g = two["journal"]["load"]["generators"].as_array().unwrap();
    assert_eq!(g.len(), 2, "{g:?}");
    assert_eq!(
        (g[0]["segment"].as_str(), g[0]["ops"].as_u64()),
        (Some("1/2"), Some(400))
    );
    assert_eq!(g[1]["skew_us"], 0, "one machine, one clock");
    assert!(one["journal"]["load"].get("generators").is_none());
    let report = std::fs::read_to_string(two_dir.with_extension("md")).unwrap();
    assert!(
        report.contains("| generators | 2, histories merged — 1/2: 400 ops, started "),
        "{report}"
    );
}
