//! Running a server as an unprivileged system user when this process is root (PostgreSQL
//! refuses to run as root).

use std::path::Path;

use nix::unistd::{chown, Gid, Uid, User};

use crate::{io, Error, Result};

/// `Some(user)` when running as root, `None` otherwise (run as ourselves).
pub fn run_as(name: &str) -> Result<Option<(Uid, Gid)>> {
    if !Uid::effective().is_root() {
        return Ok(None);
    }
    match User::from_name(name) {
        Ok(Some(u)) => Ok(Some((u.uid, u.gid))),
        _ => Err(Error::Setup(format!(
            "running as root but there is no `{name}` user to run it as: run scripts/bootstrap"
        ))),
    }
}

/// Gives the user the directory, and lets it traverse the parents (a temp dir is 0700 root by
/// default).
pub fn make_reachable(dir: &Path, uid: Uid, gid: Gid) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    chown(dir, Some(uid), Some(gid))
        .map_err(|e| Error::Setup(format!("chown {}: {e}", dir.display())))?;
    for parent in dir.ancestors().skip(1) {
        let Ok(meta) = parent.metadata() else {
            continue;
        };
        let mode = meta.permissions().mode();
        if mode & 0o001 == 0 {
            std::fs::set_permissions(parent, std::fs::Permissions::from_mode(mode | 0o711))
                .map_err(io(format!("letting {uid} traverse {}", parent.display())))?;
        }
    }
    Ok(())
}
