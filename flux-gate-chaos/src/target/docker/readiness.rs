//! Whether a started container is ready, asked the way its own healthcheck asks — by the
//! harness, at once, instead of waiting for the engine's next periodic check.
//!
//! The engine runs a container's healthcheck every `interval`, so a harness that waits for the
//! engine's verdict after a start loses up to one interval, and the compose files used to check
//! every second to keep that small. Those checks are processes exec'd in the containers, all
//! the time: on the 2-core machine the idle Sentinel project (19 containers) kept 54 % of the
//! CPU busy with 1 s checks and 22 % with 5 s ones, and its scenarios ran on what was left.
//! Now the harness runs the container's own check command (`Config.Healthcheck.Test`, in the
//! container) every [`EVERY`] while it waits, and nothing at all between waits; the engine's
//! interval can be long (5 s) and only paces `docker compose up`. The engine saying "healthy"
//! is accepted too.

use std::time::Duration;

use bollard::exec::{CreateExecOptions, StartExecOptions};
use bollard::Docker;

use super::engine::DockerError;

/// How often a waiting harness runs the check.
pub const EVERY: Duration = Duration::from_millis(250);

/// Longest one run of the check may take before it counts as failed (the compose files give
/// their checks 2 s).
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The command a healthcheck `Test` runs: `["CMD", args…]` → args, `["CMD-SHELL", line]` →
/// `/bin/sh -c line`; `NONE` or nothing → no check.
pub fn probe_command(test: &[String]) -> Option<Vec<String>> {
    match test.split_first() {
        Some((kind, args)) if kind == "CMD" && !args.is_empty() => Some(args.to_vec()),
        Some((kind, [line])) if kind == "CMD-SHELL" => {
            Some(vec!["/bin/sh".into(), "-c".into(), line.clone()])
        }
        _ => None,
    }
}

/// Runs `cmd` in container `id` once: whether it exited 0 within [`CHECK_TIMEOUT`].
pub async fn passes(docker: &Docker, id: &str, cmd: &[String]) -> Result<bool, DockerError> {
    let exec = docker
        .create_exec(
            id,
            CreateExecOptions::<String> {
                cmd: Some(cmd.to_vec()),
                attach_stdout: Some(false),
                attach_stderr: Some(false),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| DockerError::api("creating a readiness check", e))?;
    docker
        .start_exec(
            &exec.id,
            Some(StartExecOptions {
                detach: true,
                ..Default::default()
            }),
        )
        .await
        .map_err(|e| DockerError::api("starting a readiness check", e))?;
    let deadline = tokio::time::Instant::now() + CHECK_TIMEOUT;
    loop {
        let state = docker
            .inspect_exec(&exec.id)
            .await
            .map_err(|e| DockerError::api("reading a readiness check", e))?;
        if state.running != Some(true) {
            return Ok(state.exit_code == Some(0));
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| (*w).to_owned()).collect()
    }

    #[test]
    fn the_check_command_is_the_healthchecks_own() {
        assert_eq!(
            probe_command(&v(&["CMD", "redis-cli", "ping"])),
            Some(v(&["redis-cli", "ping"]))
        );
        assert_eq!(
            probe_command(&v(&["CMD-SHELL", "pg_isready -q"])),
            Some(v(&["/bin/sh", "-c", "pg_isready -q"]))
        );
        assert_eq!(probe_command(&v(&["NONE"])), None);
        assert_eq!(probe_command(&v(&["CMD"])), None);
        assert_eq!(probe_command(&v(&["CMD-SHELL", "a", "b"])), None);
        assert_eq!(probe_command(&[]), None);
    }
}
