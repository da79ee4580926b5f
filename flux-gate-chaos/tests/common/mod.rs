//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::Path;

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

/// The process state letter from /proc (R, S, T = stopped, Z …).
pub fn state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit(')').next()?.trim().chars().next()
}

/// A loopback port free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
