//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::Path;

pub mod builds;
pub mod engine;
pub mod explore;

/// Pids of live processes whose working directory is inside `dir` (every service of a local
/// stack runs in its own directory there).
pub fn processes_under(dir: &Path) -> Vec<i32> {
    let Ok(root) = dir.canonicalize() else {
        return Vec::new();
    };
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            let cwd = std::fs::read_link(e.path().join("cwd")).ok()?;
            // Zombies have no cwd; a process being reaped is not "left".
            cwd.starts_with(&root).then_some(pid)
        })
        .collect()
}

/// Waits up to `within` until no process works under `dir` (`what` names who should have
/// stopped them); panics naming the ones left.
pub fn wait_none_under(dir: &Path, within: std::time::Duration, what: &str) {
    wait_until(within, what, || {
        let left = processes_under(dir);
        left.is_empty()
            .then_some(())
            .ok_or_else(|| format!("left: {left:?}"))
    });
}

/// The process state letter from /proc (R, S, T = stopped, Z …).
pub fn state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit(')').next()?.trim().chars().next()
}

/// `fgchaos run SCENARIO --target local`, its reports under `dir/reports` and its stack under
/// `dir/work`.
pub fn local_run(scenario: &Path, dir: &Path) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_fgchaos"));
    c.arg("run")
        .arg(scenario)
        .args(["--target", "local", "--report-dir"])
        .arg(dir.join("reports"))
        .arg("--work-dir")
        .arg(dir.join("work"));
    c
}

/// The one run directory a `fgchaos run` of one scenario wrote under `reports`.
pub fn run_dir_in(reports: &Path) -> std::path::PathBuf {
    let dirs: Vec<_> = std::fs::read_dir(reports)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs[0].clone()
}

/// A loopback port free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// How often the waits below look.
pub const POLL: std::time::Duration = std::time::Duration::from_millis(100);

/// Calls `probe` every [`POLL`] until it returns `Ok`; panics after `limit` naming `what` it
/// waited for and the last thing the probe saw (its `Err`).
pub fn wait_until<T>(
    limit: std::time::Duration,
    what: &str,
    mut probe: impl FnMut() -> Result<T, String>,
) -> T {
    let deadline = std::time::Instant::now() + limit;
    loop {
        match probe() {
            Ok(v) => return v,
            Err(seen) => assert!(
                std::time::Instant::now() < deadline,
                "waited {limit:?} for {what}; last seen: {seen}"
            ),
        }
        std::thread::sleep(POLL);
    }
}

/// [`wait_until`] for async probes.
pub async fn wait_until_async<T, F, Fut>(limit: std::time::Duration, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match probe().await {
            Ok(v) => return v,
            Err(seen) => assert!(
                tokio::time::Instant::now() < deadline,
                "waited {limit:?} for {what}; last seen: {seen}"
            ),
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The lines a child writes to a pipe, collected by a thread as they come (so the child never
/// blocks on a full pipe), with terminal colour codes removed.
pub struct Lines {
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Lines {
    pub fn capture(pipe: impl std::io::Read + Send + 'static) -> Lines {
        use std::io::BufRead;
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = std::sync::Arc::clone(&lines);
        let reader = std::thread::spawn(move || {
            for line in std::io::BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(strip_ansi(&line));
            }
        });
        Lines {
            lines,
            reader: Some(reader),
        }
    }

    /// Every line so far.
    pub fn now(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Every line so far, as one text.
    pub fn text(&self) -> String {
        self.now().join("\n")
    }

    /// Waits until the pipe is closed (the child exited), then returns every line.
    pub fn finish(&mut self) -> String {
        if let Some(r) = self.reader.take() {
            r.join().unwrap();
        }
        self.text()
    }
}

/// `line` without ANSI escape sequences (`ESC [ … letter`).
pub fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// What `fgchaos check` said of stored runs: its exit code, its stdout and the verdicts it
/// wrote with `--json`.
pub struct Checked {
    pub code: Option<i32>,
    pub stdout: String,
    pub verdicts: serde_json::Value,
}

/// Runs `fgchaos check <run_dir> <extra…> --json <file>` and reads back what it wrote.
pub fn check(run_dir: &Path, extra: &[&str]) -> Checked {
    let out_dir = tempfile::tempdir().unwrap();
    let json = out_dir.path().join("check.json");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fgchaos"))
        .arg("check")
        .arg(run_dir)
        .args(extra)
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let verdicts = match std::fs::read(&json) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap(),
        Err(e) => panic!("fgchaos check wrote no {}: {e}\n{stdout}", json.display()),
    };
    Checked {
        code: out.status.code(),
        stdout,
        verdicts,
    }
}

/// The one `explore-<ts>` directory `fgchaos explore` made under `out`.
pub fn explore_session(out: &Path) -> std::path::PathBuf {
    let found: Vec<std::path::PathBuf> = std::fs::read_dir(out)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("explore-"))
        })
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    found[0].clone()
}
