//! The scenario suite end to end on the local target: every file in `scenarios/` must pass —
//! every promise, availability, recovery and backlog bound. The one checker this test lets fail
//! is `latency`: the scenarios' baseline `p99 < 15ms` measures the machine as much as the
//! stack (a CI host with noisy neighbours ran the same build at 30–47 ms), and speed is never
//! asserted in a timed test. What that bound exists to catch — a harness stall of its own, the
//! 40 ms delayed-ACK stalls of a proxy without TCP_NODELAY — is asserted without a clock by
//! `proxy_api::toxic_free_proxy_adds_no_stall`; `make chaos` still judges the bound (and gates
//! on it: the steady state's default). The proof that the suite can fail is the mutation suite
//! (tests/mutants.rs).

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
    assert_eq!(files.len(), 17, "the suite: {files:?}");
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
        // The steady-state gate on availability alone: its default also holds the baseline
        // latency bound, which this test does not assert (above) — a busy machine would turn
        // it into NOT RUN and leave the scenario's promises unjudged.
        .args(["--steady-state", "{ latency: {} }"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let output = format!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(matches!(out.status.code(), Some(0 | 1)), "{output}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("<testsuite ").count(), files.len(), "{xml}");
    assert!(xml.contains("errors=\"0\""), "{xml}");
    let runs: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let mut latency_only = 0;
    for r in runs.as_array().unwrap() {
        let name = &r["journal"]["scenario"]["name"];
        let failed: Vec<&str> = r["verdict"]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["status"] != "pass" && f["status"] != "skipped")
            .map(|f| f["checker"].as_str().unwrap())
            .collect();
        if r["verdict"]["verdict"] != "pass" {
            assert_eq!(r["verdict"]["verdict"], "fail", "{name}: {output}");
            assert_eq!(failed, ["latency"], "{name}: {output}");
            latency_only += 1;
            eprintln!(
                "note: {name} failed its baseline latency bound only (not asserted here): {}",
                r["verdict"]["findings"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|f| f["checker"] == "latency")
                    .map(|f| f["summary"].to_string())
                    .unwrap_or_default()
            );
            continue;
        }
        assert!(failed.is_empty(), "{name}: {failed:?}");
        let report = Path::new(r["report"].as_str().unwrap());
        let md = std::fs::read_to_string(report).unwrap();
        assert!(md.contains("✅ PASS"), "{}", report.display());
    }
    assert_eq!(
        out.status.code(),
        Some(i32::from(latency_only > 0)),
        "{output}"
    );
    for r in runs.as_array().unwrap() {
        let report = Path::new(r["report"].as_str().unwrap());
        let charts = report.with_extension("");
        for svg in [
            "latency.svg",
            "throughput.svg",
            "status.svg",
            "stock.svg",
            "lag.svg",
            "backlog-age.svg",
        ] {
            assert!(
                std::fs::read_to_string(charts.join(svg))
                    .unwrap()
                    .starts_with("<svg"),
                "{svg}"
            );
        }
    }
}
