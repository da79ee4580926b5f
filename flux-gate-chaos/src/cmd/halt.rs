//! `fgchaos halt`: the safety lever. Every fgchaos that runs experiments registers in a
//! directory of this machine (`$FGCHAOS_RUNTIME_DIR`, else `$XDG_RUNTIME_DIR/fgchaos`, else
//! `/tmp/fgchaos-<uid>`): one file per process, naming its pid, its command and where its
//! runs write. `halt` sends each (or the one running the id it is given) SIGUSR1; a run hears
//! it as a stop condition — heal, stop the load, settle, judge: ABORTED — and an explore or
//! shrink session as a Ctrl-C.

use std::path::{Path, PathBuf};

use fgchaos::cli::HaltArgs;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::Exit;

/// One registered process.
#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    pid: i32,
    /// `run`, `explore` or `shrink`.
    command: String,
    /// Where its runs write (`<report dir>/<run id>/`) — for `explore`/`shrink`, the session's
    /// own directory, whose name is the session id.
    report_dir: PathBuf,
}

/// The registry's directory.
fn registry() -> PathBuf {
    if let Some(dir) = std::env::var_os("FGCHAOS_RUNTIME_DIR") {
        return PathBuf::from(dir);
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) => PathBuf::from(dir).join("fgchaos"),
        None => std::env::temp_dir().join(format!("fgchaos-{}", nix::unistd::getuid())),
    }
}

/// This process in the registry, until dropped.
pub struct Registered(PathBuf);

impl Drop for Registered {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Registers this process as running `command` with runs under `report_dir`, and returns the
/// signal `halt` sends: true once it came. A registry that cannot be written is a warning —
/// `halt` will not find this process — not a reason to refuse the run.
pub fn register(command: &str, report_dir: &Path) -> (Option<Registered>, watch::Receiver<bool>) {
    let (tx, rx) = watch::channel(false);
    if let Ok(mut usr1) =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1())
    {
        tokio::spawn(async move {
            if usr1.recv().await.is_some() {
                errln!("fgchaos: halted — healing every fault, then stopping the load");
                let _ = tx.send(true);
            }
        });
    }
    let entry = Entry {
        pid: std::process::id() as i32,
        command: command.to_owned(),
        report_dir: std::path::absolute(report_dir).unwrap_or_else(|_| report_dir.to_owned()),
    };
    let dir = registry();
    let path = dir.join(format!("{}.json", entry.pid));
    let written = std::fs::create_dir_all(&dir).and_then(|()| {
        std::fs::write(
            &path,
            serde_json::to_vec(&entry).map_err(std::io::Error::other)?,
        )
    });
    match written {
        Ok(()) => (Some(Registered(path)), rx),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "not registered: `fgchaos halt` will not find this run");
            (None, rx)
        }
    }
}

pub fn halt(args: &HaltArgs) -> anyhow::Result<Exit> {
    if args.id.as_deref().is_some_and(|id| id.trim().is_empty()) {
        anyhow::bail!("an empty id names no run; leave it out to halt every experiment");
    }
    let dir = registry();
    let mut halted = 0;
    for (path, e) in live_entries(&dir)? {
        if !args.id.as_deref().is_none_or(|id| runs(&e, id)) {
            continue;
        }
        match kill(Pid::from_raw(e.pid), Signal::SIGUSR1) {
            Ok(()) => {
                outln!(
                    "halted fgchaos {} (pid {}, {})",
                    e.command,
                    e.pid,
                    e.report_dir.display()
                );
                halted += 1;
            }
            Err(err) => errln!("fgchaos: pid {} ({}): {err}", e.pid, path.display()),
        }
    }
    if halted == 0 {
        match &args.id {
            Some(id) => outln!("no running experiment has the id `{id}`"),
            None => outln!("no experiment is running"),
        }
    }
    Ok(Exit::Success)
}

/// The registered processes still alive; the files of dead ones are removed.
fn live_entries(dir: &Path) -> anyhow::Result<Vec<(PathBuf, Entry)>> {
    let Ok(files) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for f in files.flatten() {
        let path = f.path();
        let Some(e) = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<Entry>(&b).ok())
        else {
            continue;
        };
        if is_fgchaos(e.pid) {
            out.push((path, e));
        } else {
            // Its process is gone (or its pid now belongs to another program, which must never
            // get the signal): the entry is stale. Another halt may be removing it too.
            let _ = std::fs::remove_file(&path);
        }
    }
    Ok(out)
}

/// Whether `pid` is alive and is an fgchaos.
fn is_fgchaos(pid: i32) -> bool {
    kill(Pid::from_raw(pid), None).is_ok()
        && std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
            c.split(|b| *b == 0)
                .next()
                .is_some_and(|exe| exe.ends_with(b"fgchaos"))
        })
}

/// Whether `e` runs `id`: its session is `id`, or a run of it is in progress under that id
/// (its directory exists and holds no journal yet — the journal is written at the end).
fn runs(e: &Entry, id: &str) -> bool {
    let run = e.report_dir.join(id);
    e.report_dir.file_name().is_some_and(|n| n == id)
        || (run.is_dir() && !run.join("journal.json").exists())
}
