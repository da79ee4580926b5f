//! The scenario suite end to end on the local target: every file in `scenarios/` must pass.
//! The proof that it can fail is the mutation suite (tests/mutants.rs).

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
    assert_eq!(files.len(), 11, "the suite: {files:?}");
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
    assert_eq!(xml.matches("<testsuite ").count(), 11, "{xml}");
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
        for svg in ["latency.svg", "throughput.svg", "status.svg", "stock.svg"] {
            assert!(
                std::fs::read_to_string(charts.join(svg))
                    .unwrap()
                    .starts_with("<svg"),
                "{svg}"
            );
        }
    }
}
