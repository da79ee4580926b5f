//! Healing one run directory of a run that did not heal it: what the guardian does when
//! fgchaos dies, and what `fgchaos cleanup` does for every run directory it finds.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::target::docker::ledger::{repair, Ledger};
use crate::target::local::strays;
use crate::target_kind::TargetKind;
use crate::toxiproxy;

/// How many times the local stack's processes are looked for and killed.
const KILL_PASSES: usize = 5;

/// What a heal did. Each part is tried whatever the others did: one container that cannot
/// be started must not leave the next paused.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Healed {
    /// Local: the stack's processes, each resumed then killed — the fault proxy they talked
    /// through died with fgchaos, so nothing could heal their links.
    pub killed: usize,
    /// Swarm: nodes a node fault left drained, activated again (hostnames).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub activated: Vec<String>,
    /// Swarm: nodes an isolation left cut off, joined to the others again (hostnames).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rejoined: Vec<String>,
    /// Swarm: services a `scale` fault left changed, set back (`service to N`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scaled: Vec<String>,
    /// Swarm: the services of load generators a run placed on the nodes, removed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub generators: Vec<String>,
    /// Docker: containers of the project that were paused.
    pub resumed: Vec<String>,
    /// Docker: containers of the project that were stopped (a held-back instance too).
    pub started: Vec<String>,
    /// Docker: fgchaos toxics removed from the project's proxy (cut links enabled again).
    pub toxics_removed: usize,
    /// What could not be healed, and why.
    pub errors: Vec<String>,
}

/// Heals the stack of `target` whose run directory is `dir`:
/// - local: every process working under `dir` is resumed and killed;
/// - docker: every container the attach ledger in `dir` recorded as running is resumed or
///   started again (only while it still carries the project's label), every fgchaos toxic on
///   the project's proxy removed and every cut link enabled; then the ledger goes;
/// - swarm: the same from the ledger, except that every node an isolation cut off is joined to
///   the others again, every node that was active at the attach is activated again if drained,
///   every service a `scale` fault changed is set back to its count, every paused task of the
///   stack is resumed, and nothing is started — Swarm replaces an ended task itself.
pub async fn heal(dir: &Path, target: TargetKind) -> Healed {
    let mut healed = Healed::default();
    match target {
        TargetKind::Local => {
            // Again until none is left: a process may fork while its siblings are killed.
            for _ in 0..KILL_PASSES {
                match strays::kill_under(dir) {
                    Ok(0) => break,
                    Ok(n) => healed.killed += n,
                    Err(e) => {
                        healed.errors.push(format!("listing processes: {e}"));
                        break;
                    }
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
        TargetKind::Docker | TargetKind::Swarm => {
            let Some(ledger) = Ledger::read(dir) else {
                return healed;
            };
            match repair(&ledger).await {
                Ok(done) => {
                    healed.activated = done.activated;
                    healed.rejoined = done.rejoined;
                    healed.scaled = done.scaled;
                    healed.generators = done.generators;
                    healed.resumed = done.resumed;
                    healed.started = done.started;
                    healed.errors = done.errors;
                }
                Err(e) => healed.errors.push(e.to_string()),
            }
            if let Some(url) = &ledger.toxiproxy {
                match toxiproxy::Client::new(url).remove_fgchaos_toxics().await {
                    Ok(n) => healed.toxics_removed = n,
                    Err(e) => healed.errors.push(format!("toxics at {url}: {e}")),
                }
            }
            if healed.errors.is_empty() {
                Ledger::remove(dir);
            }
        }
    }
    healed
}
