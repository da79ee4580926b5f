//! The scenario suite end to end on the local target — every file in `scenarios/` must pass —
//! and the proof that it can fail: a deliberately broken worker (skips every tenth message)
//! makes `no_lost_acks` fail with exit code 1.

use std::path::{Path, PathBuf};
use std::process::Command;

fn fgchaos() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fgchaos"))
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn the_scenario_suite_passes_on_the_local_target() {
    let dir = tempfile::tempdir().unwrap();
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("scenarios"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 8, "the suite: {files:?}");
    let junit = dir.path().join("junit.xml");
    let json = dir.path().join("runs.json");
    let out = fgchaos()
        .arg("run")
        .args(&files)
        .args(["--target", "local", "--seed", "42", "--report-dir"])
        .arg(dir.path().join("reports"))
        .arg("--work-dir")
        .arg(dir.path().join("work"))
        .arg("--junit")
        .arg(&junit)
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("<testsuite ").count(), 8, "{xml}");
    assert!(xml.contains("failures=\"0\" errors=\"0\""), "{xml}");
    let runs: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    for r in runs.as_array().unwrap() {
        assert_eq!(
            r["verdict"]["verdict"], "pass",
            "{}",
            r["journal"]["scenario"]["name"]
        );
        let report = Path::new(r["report"].as_str().unwrap());
        let md = std::fs::read_to_string(report).unwrap();
        assert!(md.contains("✅ PASS"), "{}", report.display());
        let charts = report.with_extension("");
        for svg in ["latency.svg", "throughput.svg", "status.svg"] {
            assert!(
                std::fs::read_to_string(charts.join(svg))
                    .unwrap()
                    .starts_with("<svg"),
                "{svg}"
            );
        }
    }
}

#[test]
fn a_worker_that_drops_messages_fails_no_lost_acks() {
    let dir = tempfile::tempdir().unwrap();
    let lossy = Path::new(env!("CARGO_BIN_EXE_fgchaos"))
        .parent()
        .unwrap()
        .join("lossy-worker"); // workspace binary: flux-gate-chaos/fixtures/lossy-worker
    assert!(
        lossy.exists(),
        "build it first: cargo build -p lossy-worker"
    );
    let builtin =
        std::fs::read_to_string(repo().join("flux-gate-chaos/stacks/flux-gate.yaml")).unwrap();
    let broken = builtin.replace(
        "  inventory-worker:\n    command: flux-gate\n    args: [worker]",
        &format!(
            "  inventory-worker:\n    command: {}\n    args: []",
            lossy.display()
        ),
    );
    assert_ne!(broken, builtin);
    let stack = dir.path().join("lossy-stack.yaml");
    std::fs::write(&stack, broken).unwrap();
    let scenario = dir.path().join("lossy.yaml");
    std::fs::write(
        &scenario,
        "name: lossy-worker\nsale: { product: p, stock: 5000 }\n\
         load: { model: arrival-rate, rate: 200/s, duration: 5s, users: 100000 }\n\
         settle: { timeout: 30s }\n",
    )
    .unwrap();
    let json = dir.path().join("run.json");
    let out = fgchaos()
        .arg("run")
        .arg(&scenario)
        .args(["--target", "local", "--stack"])
        .arg(&stack)
        .arg("--report-dir")
        .arg(dir.path().join("reports"))
        .arg("--work-dir")
        .arg(dir.path().join("work"))
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let runs: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let findings = runs[0]["verdict"]["findings"].as_array().unwrap();
    let lost = findings
        .iter()
        .find(|f| f["checker"] == "no_lost_acks")
        .unwrap();
    assert_eq!(lost["status"], "fail");
    // 1000 orders, every tenth message dropped: about 100 acknowledged orders missing.
    let count = lost["count"].as_u64().unwrap();
    assert!((80..=120).contains(&count), "{count} lost");
    assert!(
        lost["counterexamples"][0]
            .as_str()
            .unwrap()
            .contains(": no row"),
        "{lost}"
    );
    // The units of the dropped orders are gone from Redis but not in the database.
    let conserved = findings
        .iter()
        .find(|f| f["checker"] == "stock_conserved")
        .unwrap();
    assert_eq!(conserved["status"], "fail");
}
