//! The gate of the tests that need a Docker engine: skipped where none answers, unless
//! `FG_REQUIRE_DOCKER=1` (CI), where a missing engine fails the test with what was seen of it.
//!
//! CI once failed here with only "no Docker engine answers" (stop 38): the message now says
//! what `docker version` printed, whether a `dockerd` process runs, and how its log ends, so
//! the next such failure names its cause.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long a required engine gets to answer: one restarting answers well within it (3–4 s
/// here, decisions §68); one that is not there does not.
const PATIENCE: Duration = Duration::from_secs(30);

/// Where this machine's dockerd writes its log (CI's machine and this one alike).
const DOCKERD_LOG: &str = "/var/log/dockerd.log";

/// Whether the test should skip: no engine answers and none is required. Panics, with the
/// engine's state, when one is required (`FG_REQUIRE_DOCKER=1`) and none answers within
/// [`PATIENCE`].
pub fn skip_without_engine() -> bool {
    let required = std::env::var("FG_REQUIRE_DOCKER").as_deref() == Ok("1");
    let since = Instant::now();
    let mut why = match answers() {
        Ok(()) => return false,
        Err(why) => why,
    };
    if !required {
        eprintln!(
            "skipped: no Docker engine answers (FG_REQUIRE_DOCKER=1 makes this a failure): {why}"
        );
        return true;
    }
    while since.elapsed() < PATIENCE {
        std::thread::sleep(Duration::from_secs(1));
        match answers() {
            Ok(()) => {
                eprintln!("the engine answered after {:?}", since.elapsed());
                return false;
            }
            Err(w) => why = w,
        }
    }
    panic!(
        "FG_REQUIRE_DOCKER=1 but no Docker engine answered within {PATIENCE:?}\n\
         docker version: {why}\ndockerd processes: {}\nthe end of {DOCKERD_LOG}:\n{}",
        dockerd_pids(),
        log_tail(20)
    );
}

/// `Ok` when `docker version` reaches the engine; else what it printed.
fn answers() -> Result<(), String> {
    let out = Command::new("timeout")
        .args(["10", "docker", "version", "--format", "{{.Server.Version}}"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("could not run docker: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "{} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    ))
}

/// The pids of the processes named `dockerd`, or "none".
fn dockerd_pids() -> String {
    let pids: Vec<String> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim() == "dockerd")
        })
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    if pids.is_empty() {
        "none".to_owned()
    } else {
        pids.join(" ")
    }
}

/// The last `n` lines of the daemon's log, or why there are none.
fn log_tail(n: usize) -> String {
    match std::fs::read_to_string(DOCKERD_LOG) {
        Ok(log) => {
            let lines: Vec<&str> = log.lines().collect();
            lines[lines.len().saturating_sub(n)..].join("\n")
        }
        Err(e) => format!("(unreadable: {e})"),
    }
}
