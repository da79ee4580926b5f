//! What a run watches besides the answers: the stock, sampled every 100 ms from the start of
//! the load to the end of settle ([`sampler`]), the backlog (consumer lag and the age of the
//! oldest unpersisted order) once a second over the same span ([`backlog`], read through
//! [`lag`]), and the settle phase that waits for the system to converge and reads its final
//! state ([`settle`]). All read the stores and services directly, never through a fault proxy,
//! and produce plain data ([`crate::model`]).

pub mod backlog;
pub mod lag;
pub mod redis_source;
pub mod sampler;
pub mod settle;

pub use backlog::BacklogWatch;
pub use redis_source::RedisSource;
pub use sampler::Sampler;

/// Why a store could not be read. The settle phase records these as text (a pending reason, the
/// consumer lag's `lag_error`); the words name the store so a report says which one failed.
#[derive(Debug, thiserror::Error)]
pub enum ObserveError {
    #[error("Redis URL {url}: {source}")]
    RedisUrl {
        url: String,
        #[source]
        source: redis::RedisError,
    },
    #[error("database URL {url}: {source}")]
    DatabaseUrl {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("HTTP client: {0}")]
    Http(#[source] reqwest::Error),
    #[error("product id: {0}")]
    Product(String),
    #[error("Redis: no connection in time")]
    RedisTimeout,
    #[error("Redis: no instance is primary now (Sentinels and instances asked)")]
    NoPrimary,
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] sqlx::Error),
    #[error("{what}: {source}")]
    Kafka {
        what: &'static str,
        #[source]
        source: rdkafka::error::KafkaError,
    },
    #[error("Kafka: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("worker metrics {url}: {source}")]
    WorkerMetrics {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("no worker reports a partition yet")]
    NoPartitions,
    #[error(
        "no live worker reports partition(s) {partitions:?} (a worker down and the group not rebalanced yet, or a fresh assignment){}",
        silent.as_ref().map(|e| format!("; not answering: {e}")).unwrap_or_default()
    )]
    PartitionsUnowned {
        partitions: Vec<i32>,
        /// The first worker that did not answer, if any.
        silent: Option<String>,
    },
}
