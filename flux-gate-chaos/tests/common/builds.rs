//! The builds the mutation suite and explore's proof run: the unbroken stack, or one with a
//! broken service (the `fg-mutant` fixture) or a broken setting, written as a stack file.

use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// How a build differs from the built-in stack.
pub enum Build {
    Unbroken,
    /// The inventory worker is `fg-mutant <name>`.
    Worker(&'static str),
    /// Both API instances are `fg-mutant <name>`.
    Api(&'static str),
    /// Redis keeps everything in memory only.
    RedisWithoutAof,
    /// The Sentinel stack (stacks/redis-ha.yaml) with plain asynchronous replication: the API
    /// answers without waiting for a replica, and a primary takes writes with none.
    AsyncReplication,
}

/// The checkers a failure of [`Build::RedisWithoutAof`] may name (those the mutation suite
/// accepts for it): a Redis that comes back empty shows in whichever of them the trial's timing
/// reaches first — stock counted again, an outbox entry gone, Redis and the database apart.
pub const REDIS_WITHOUT_AOF_CHECKERS: &[&str] =
    &["stock_conserved", "no_lost_acks", "db_matches_redis"];

/// The checkers a failure of [`Build::AsyncReplication`] may name: a promoted replica that
/// lacks acknowledged writes forgets reservations, outbox entries and buyers' counts.
pub const ASYNC_REPLICATION_CHECKERS: &[&str] = &[
    "no_lost_acks",
    "no_oversell",
    "stock_conserved",
    "per_user_limit",
];

/// The stack file of `build` in `dir` (`None` for the unbroken build: the built-in stack).
pub fn stack_file(build: &Build, dir: &Path) -> Option<PathBuf> {
    let builtin =
        std::fs::read_to_string(repo().join("flux-gate-chaos/stacks/flux-gate.yaml")).unwrap();
    let mutant = || {
        let bin = Path::new(env!("CARGO_BIN_EXE_fgchaos"))
            .parent()
            .unwrap()
            .join("fg-mutant"); // workspace binary: flux-gate-chaos/fixtures/mutants
        assert!(
            bin.exists(),
            "build it first: cargo build --workspace --bins"
        );
        bin.display().to_string()
    };
    let broken = match build {
        Build::Unbroken => return None,
        Build::Worker(name) => builtin.replace(
            "  inventory-worker:\n    command: flux-gate\n    args: [worker]",
            &format!(
                "  inventory-worker:\n    command: {}\n    args: [{name}]",
                mutant()
            ),
        ),
        Build::Api(name) => builtin.replace(
            "    replicas: 2\n    command: flux-gate\n    args: [api]",
            &format!(
                "    replicas: 2\n    command: {}\n    args: [{name}]",
                mutant()
            ),
        ),
        Build::RedisWithoutAof => builtin.replace("--appendonly, \"yes\"", "--appendonly, \"no\""),
        Build::AsyncReplication => return Some(async_replication(dir)),
    };
    assert_ne!(broken, builtin, "the stack change did not apply");
    let path = dir.join("stack.yaml");
    std::fs::write(&path, broken).unwrap();
    Some(path)
}

/// The stack `build` breaks, unbroken: the Sentinel stack for [`Build::AsyncReplication`],
/// else the built-in one (`None`).
pub fn unbroken_stack(build: &Build) -> Option<PathBuf> {
    matches!(build, Build::AsyncReplication)
        .then(|| repo().join("flux-gate-chaos/stacks/redis-ha.yaml"))
}

fn async_replication(dir: &Path) -> PathBuf {
    let ha = std::fs::read_to_string(repo().join("flux-gate-chaos/stacks/redis-ha.yaml")).unwrap();
    let acks = "FG_REDIS_REPLICA_ACKS: \"1\"";
    let min = "--min-replicas-to-write, \"1\"";
    assert_eq!(ha.matches(acks).count(), 1);
    assert_eq!(ha.matches(min).count(), 3);
    let stack = dir.join("redis-async.yaml");
    std::fs::write(
        &stack,
        ha.replace(acks, "FG_REDIS_REPLICA_ACKS: \"0\"")
            .replace(min, "--min-replicas-to-write, \"0\""),
    )
    .unwrap();
    stack
}
