//! Finding the server binaries that `scripts/bootstrap` installs.

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// `name` from `$PATH`, else from the extra directories given.
pub fn find(name: &str, extra_dirs: &[PathBuf]) -> Result<PathBuf> {
    let path_dirs = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    path_dirs
        .iter()
        .chain(extra_dirs)
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
        .ok_or_else(|| Error::Missing(name.to_owned()))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// PostgreSQL's server binaries live outside `$PATH` on Debian: `/usr/lib/postgresql/<v>/bin`.
/// `FG_PG_BIN` overrides; otherwise the newest installed version wins.
pub fn postgres_bin_dir() -> Vec<PathBuf> {
    if let Some(dir) = std::env::var_os("FG_PG_BIN") {
        return vec![PathBuf::from(dir)];
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .collect();
    versions.sort();
    versions.into_iter().rev().map(|(_, p)| p).collect()
}

/// Where `cargo install` puts binaries (tansu).
pub fn cargo_bin_dir() -> Vec<PathBuf> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    home.map(|h| vec![h.join("bin")]).unwrap_or_default()
}
