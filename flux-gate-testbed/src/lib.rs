//! Real infrastructure for tests, benchmarks and the harness's local target: Redis,
//! PostgreSQL and tansu (a Kafka-protocol broker), each a supervised private process on a free
//! loopback port, with its data and log in a directory of the caller's.
//!
//! Nothing here is a mock: every component is the real server, and every fault a test needs
//! (kill, stop, pause, restart) is a real signal to a real process group.

pub mod binaries;
pub mod ports;
pub mod postgres;
pub mod process;
pub mod procfs;
pub mod ready;
pub mod redis;
pub mod tansu;
pub mod user;

pub use postgres::Postgres;
pub use process::{Spec, Supervised, Watch};
pub use redis::Redis;
pub use tansu::Tansu;

/// Everything that can go wrong bringing a component up or down.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error(
        "{0} is not installed: run scripts/bootstrap (it installs every server the tests use)"
    )]
    Missing(String),
    #[error("{name} did not become ready within {waited:?}; its log is {log}{tail}")]
    NotReady {
        name: String,
        waited: std::time::Duration,
        log: String,
        /// The log's last lines, indented, after a newline (empty when the log is).
        tail: String,
    },
    #[error("{0}")]
    Setup(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}
