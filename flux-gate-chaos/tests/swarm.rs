//! The swarm target against this machine's Docker engine. No engine → skipped, unless
//! `FG_REQUIRE_DOCKER=1` (CI), which makes it a failure.
//!
//! Swarm membership is the engine's own state, shared by every test that touches it: the test
//! functions here hold one lock so that one initialises and leaves at a time.

mod common;

use std::path::Path;
use std::process::Command;

use fgchaos::target::docker::engine;
use fgchaos::target::swarm::{self, Membership, Standing};

static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// `inactive`, `active`, … as `docker info` says.
fn cli_state() -> String {
    let out = Command::new("docker")
        .args(["info", "--format", "{{.Swarm.LocalNodeState}}"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The engine's network names, sorted.
fn networks() -> Vec<String> {
    let out = Command::new("docker")
        .args(["network", "ls", "--format", "{{.Name}}"])
        .output()
        .unwrap();
    let mut v: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    v.sort();
    v
}

/// Leaves the swarm and removes its bridge when dropped: the test's own cleanup on a failure
/// (after a pass the engine is already as found, and this does nothing).
struct LeaveOnDrop {
    bridge_was_there: bool,
}

impl Drop for LeaveOnDrop {
    fn drop(&mut self) {
        if cli_state() != "inactive" {
            let _ = Command::new("docker")
                .args(["swarm", "leave", "--force"])
                .output();
        }
        if !self.bridge_was_there {
            let _ = Command::new("docker")
                .args(["network", "rm", "docker_gwbridge"])
                .output();
        }
    }
}

/// An engine in no swarm is made a manager and left as it was found; a manager found is used
/// as it is and left a manager (a swarm fgchaos did not make is not its to leave).
#[tokio::test]
async fn an_engine_in_no_swarm_is_made_a_manager_and_left_as_found() {
    if common::engine::skip_without_engine() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().await;
    let docker = engine::connect().await.unwrap();
    if swarm::membership::standing(&docker).await.unwrap() != Standing::Outside {
        // Not this test's to change: someone's swarm runs here.
        eprintln!(
            "skipped: this engine is already in a swarm ({})",
            cli_state()
        );
        return;
    }
    assert_eq!(cli_state(), "inactive");
    let networks_before = networks();
    // An engine that cannot be made a manager (nothing of it listens at 192.0.2.1, a
    // documentation address): a clear error, and the engine still in no swarm.
    let err = swarm::manage(&docker, "192.0.2.1")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("could not make this engine a swarm manager (`docker swarm init --advertise-addr 192.0.2.1`)"),
        "{err}"
    );
    assert!(err.ends_with("Nothing was changed"), "{err}");
    assert_eq!(cli_state(), "inactive");
    let made = swarm::manage(&docker, "127.0.0.1").await.unwrap();
    // However the test ends, the engine leaves the swarm it made (else every later run would
    // skip, "already in a swarm", and hide the failure).
    let _leave = LeaveOnDrop {
        bridge_was_there: networks_before.iter().any(|n| n == "docker_gwbridge"),
    };
    assert!(made.initialised);
    assert_eq!(cli_state(), "active");
    assert_eq!(
        swarm::membership::standing(&docker).await.unwrap(),
        Standing::Manager {
            node: made.node.clone()
        }
    );
    // A second run on the same engine finds a manager: it uses it and leaves it be.
    let found = swarm::manage(&docker, "127.0.0.1").await.unwrap();
    assert_eq!(
        found,
        Membership {
            node: made.node.clone(),
            initialised: false,
            made_gwbridge: false,
        }
    );
    swarm::restore(&docker, found).await.unwrap();
    assert_eq!(cli_state(), "active", "a swarm it found is not left");
    swarm::restore(&docker, made).await.unwrap();
    assert_eq!(cli_state(), "inactive", "the engine is as it was found");
    assert_eq!(networks(), networks_before, "its networks too");
}

/// `--target swarm` on an engine in no swarm: a harness error (exit 3) that says how to deploy one,
/// and the engine still in no swarm with the same networks (a run never makes a swarm; only
/// `fgchaos up --target swarm` does).
#[tokio::test]
async fn a_run_on_an_engine_in_no_swarm_is_refused_and_changes_nothing() {
    if common::engine::skip_without_engine() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().await;
    if cli_state() != "inactive" {
        eprintln!(
            "skipped: this engine is already in a swarm ({})",
            cli_state()
        );
        return;
    }
    let networks_before = networks();
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/worker-crash.yaml");
    let reports = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_fgchaos"))
        .args([
            "run",
            "--target",
            "swarm",
            "--project",
            "fgtest-swarm",
            "--report-dir",
        ])
        .arg(reports.path())
        .arg(&scenario)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains(
            "this engine is in no swarm, so it runs no stack to attach to. Deploy one with `fgchaos up --target swarm`"
        ),
        "{stderr}"
    );
    assert_eq!(cli_state(), "inactive");
    assert_eq!(networks(), networks_before);
}
