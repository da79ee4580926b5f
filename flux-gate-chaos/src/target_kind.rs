//! Which kind of target a stack runs on: the one name the CLI (`--target`), scenarios
//! (`on: [local]`, `latency_on:`), run options and journals use for it.
//!
//! `auto` is not a kind: it is the CLI's rule for picking one (docker when the compose project
//! runs, else local), so it lives beside the flag in `cli.rs` as "no kind given".

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    JsonSchema,
    clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    /// The whole stack as process groups on loopback, started and stopped by the run.
    Local,
    /// The user's Docker Compose project, attached to through the Docker API and left running.
    Docker,
    /// A Docker Swarm stack (`docker stack deploy`), attached to through a manager's API; its
    /// tasks are faulted on their nodes and Swarm's rescheduling is part of the system.
    Swarm,
}

impl TargetKind {
    /// `local`, `docker` or `swarm`: the word scenarios, journals and the CLI spell.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::Local => "local",
            TargetKind::Docker => "docker",
            TargetKind::Swarm => "swarm",
        }
    }
}

impl fmt::Display for TargetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_is_the_same_word() {
        for k in [TargetKind::Local, TargetKind::Docker, TargetKind::Swarm] {
            let json = serde_json::to_string(&k).unwrap();
            assert_eq!(json, format!("\"{}\"", k.as_str()));
            let cli = <TargetKind as clap::ValueEnum>::to_possible_value(&k).unwrap();
            assert_eq!(cli.get_name(), k.as_str());
            assert_eq!(k.to_string(), k.as_str());
        }
    }
}
