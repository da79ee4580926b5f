//! Command line and environment configuration of every `flux-gate` subcommand.
//!
//! Each setting is a `--flag` and an `FG_*` environment variable (the harness starts services
//! through the environment; the names are part of the contract). Defaults bind loopback only.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::redis_link::{Locator, RedisLink, SentinelConfig};

/// Environment variable names, shared with the harness that starts these services.
pub mod env {
    pub const LISTEN: &str = "FG_LISTEN";
    pub const REDIS_URL: &str = "FG_REDIS_URL";
    pub const REDIS_SENTINELS: &str = "FG_REDIS_SENTINELS";
    pub const REDIS_MASTER: &str = "FG_REDIS_MASTER";
    pub const REDIS_NAT_MAP: &str = "FG_REDIS_NAT_MAP";
    pub const REDIS_REPLICA_ACKS: &str = "FG_REDIS_REPLICA_ACKS";
    pub const REDIS_REPLICA_ACK_TIMEOUT_MS: &str = "FG_REDIS_REPLICA_ACK_TIMEOUT_MS";
    pub const KAFKA_BROKERS: &str = "FG_KAFKA_BROKERS";
    pub const DATABASE_URL: &str = "FG_DATABASE_URL";
    pub const ADMIN_TOKEN: &str = "FG_ADMIN_TOKEN";
    pub const WAITING_ROOM_URL: &str = "FG_WAITING_ROOM_URL";
    pub const RATE_LIMIT_RPS: &str = "FG_RATE_LIMIT_RPS";
    pub const REDIS_TIMEOUT_MS: &str = "FG_REDIS_TIMEOUT_MS";
    pub const PRODUCE_TIMEOUT_MS: &str = "FG_PRODUCE_TIMEOUT_MS";
    pub const KAFKA_PARTITIONS: &str = "FG_KAFKA_PARTITIONS";
    pub const KAFKA_DEBUG: &str = "FG_KAFKA_DEBUG";
    pub const LOG: &str = "FG_LOG";
    pub const LOG_FORMAT: &str = "FG_LOG_FORMAT";
}

#[derive(Debug, Parser)]
#[command(name = "flux-gate", version, about = "Flux-Gate flash-sale services", long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Ingestion API: reserves orders in Redis and produces them to Kafka.
    Api(ApiArgs),
    /// Inventory worker: persists orders from Kafka into PostgreSQL.
    Worker(WorkerArgs),
    /// Waiting-room page for buyers shed by the API.
    WaitingRoom(WaitingRoomArgs),
    /// Compare initial stock, Redis, the outbox and the database per product.
    Reconcile(ReconcileArgs),
    /// Create the database schema and the Kafka topics, then exit.
    Migrate(MigrateArgs),
    /// GET a URL: exit 0 on a 2xx answer, 1 otherwise (container healthchecks).
    Probe(ProbeArgs),
}

#[derive(Debug, Clone, Args)]
pub struct RedisArgs {
    /// Redis URL (ignored when Sentinels are given).
    #[arg(long, env = env::REDIS_URL, default_value = "redis://127.0.0.1:6379")]
    pub redis_url: String,
    /// Comma-separated `host:port` of Redis Sentinels: the primary is whatever they name, and
    /// a failover is followed without a restart.
    #[arg(long, env = env::REDIS_SENTINELS, default_value = "")]
    pub redis_sentinels: String,
    /// The name the Sentinels monitor the primary under.
    #[arg(long, env = env::REDIS_MASTER, default_value = "flux-gate")]
    pub redis_master: String,
    /// Addresses a Sentinel names that this process reaches elsewhere:
    /// `named-host:port=dialled-host:port,…` (a NAT or a proxy in between).
    #[arg(long, env = env::REDIS_NAT_MAP, default_value = "")]
    pub redis_nat_map: String,
}

impl RedisArgs {
    /// The link these settings describe; a malformed setting is an error naming it.
    pub fn link(&self) -> anyhow::Result<RedisLink> {
        use anyhow::Context;
        let locator = if self.redis_sentinels.trim().is_empty() {
            Locator::Fixed(self.redis_url.clone())
        } else {
            Locator::Sentinel(
                SentinelConfig::parse(
                    &self.redis_sentinels,
                    &self.redis_master,
                    &self.redis_nat_map,
                )
                .with_context(|| {
                    format!(
                        "{}/{}/{} describe no usable Sentinel setup",
                        env::REDIS_SENTINELS,
                        env::REDIS_MASTER,
                        env::REDIS_NAT_MAP
                    )
                })?,
            )
        };
        RedisLink::with_locator(locator)
            .with_context(|| format!("{} {:?} is not a Redis URL", env::REDIS_URL, self.redis_url))
    }
}

#[derive(Debug, Clone, Args)]
pub struct KafkaArgs {
    /// Comma-separated Kafka bootstrap brokers.
    #[arg(long, env = env::KAFKA_BROKERS, default_value = "127.0.0.1:9092")]
    pub kafka_brokers: String,
    /// Partitions of the `orders` topic when this service has to create it. 6: workers of a
    /// group of 1, 2, 3 or 6 get equal shares, and up to 6 all get one (docs/decisions.md §37).
    #[arg(long, env = env::KAFKA_PARTITIONS, default_value_t = 6, value_parser = clap::value_parser!(i32).range(1..=1024))]
    pub kafka_partitions: i32,
}

#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// PostgreSQL URL.
    #[arg(long, env = env::DATABASE_URL, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pub database_url: String,
}

impl DatabaseArgs {
    /// A lazily connecting pool of at most `connections`; a malformed URL is an error naming
    /// the setting (nothing is dialled here, so a database that is down is not an error yet).
    pub fn pool(&self, connections: u32) -> anyhow::Result<sqlx::PgPool> {
        use anyhow::Context;
        crate::db::pool(&self.database_url, connections).with_context(|| {
            format!(
                "{} {:?} is not a PostgreSQL URL",
                env::DATABASE_URL,
                self.database_url
            )
        })
    }
}

#[derive(Debug, Clone, Args)]
pub struct ApiArgs {
    /// Address to serve HTTP on.
    #[arg(long, env = env::LISTEN, default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub redis: RedisArgs,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Bearer token that `POST /init` requires.
    #[arg(long, env = env::ADMIN_TOKEN, hide_env_values = true)]
    pub admin_token: String,
    /// Where shed buyers are redirected (302); `?product=<id>` is appended.
    #[arg(long, env = env::WAITING_ROOM_URL, default_value = "http://127.0.0.1:3002/")]
    pub waiting_room_url: String,
    /// Order attempts per second this instance admits before shedding to the waiting room
    /// (0 = never shed).
    #[arg(long, env = env::RATE_LIMIT_RPS, default_value_t = 0)]
    pub rate_limit_rps: u32,
    /// How long an order waits for Redis before answering 503.
    #[arg(long, env = env::REDIS_TIMEOUT_MS, default_value_t = 250, value_parser = clap::value_parser!(u64).range(1..))]
    pub redis_timeout_ms: u64,
    /// Replicas that must hold a reservation before it is acknowledged (Redis `WAIT`,
    /// group-committed); 0 = asynchronous replication: a failover can lose acknowledged orders.
    #[arg(long, env = env::REDIS_REPLICA_ACKS, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=16))]
    pub redis_replica_acks: u32,
    /// How long a reservation waits for its replica acknowledgements before answering 503.
    #[arg(long, env = env::REDIS_REPLICA_ACK_TIMEOUT_MS, default_value_t = 250, value_parser = clap::value_parser!(u64).range(1..))]
    pub redis_replica_ack_timeout_ms: u64,
    /// How long an order waits for Kafka's acknowledgement before answering 202 pending.
    #[arg(long, env = env::PRODUCE_TIMEOUT_MS, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..))]
    pub produce_timeout_ms: u64,
}

impl ApiArgs {
    pub fn redis_timeout(&self) -> Duration {
        Duration::from_millis(self.redis_timeout_ms)
    }
    pub fn replica_ack_timeout(&self) -> Duration {
        Duration::from_millis(self.redis_replica_ack_timeout_ms)
    }
    pub fn produce_timeout(&self) -> Duration {
        Duration::from_millis(self.produce_timeout_ms)
    }
}

#[derive(Debug, Clone, Args)]
pub struct WorkerArgs {
    /// Address to serve `/health` and `/metrics` on.
    #[arg(long, env = env::LISTEN, default_value = "127.0.0.1:3001")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Kafka consumer group.
    #[arg(long, env = "FG_CONSUMER_GROUP", default_value = "flux-gate-inventory")]
    pub group: String,
    /// Most orders persisted in one database transaction.
    #[arg(long, env = "FG_BATCH_SIZE", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub batch_size: u64,
    /// How long a batch waits to fill before it is persisted anyway.
    #[arg(long, env = "FG_BATCH_LINGER_MS", default_value_t = 5)]
    pub batch_linger_ms: u64,
    /// librdkafka's `debug` contexts for the consumer, e.g. `cgrp` (its group joins, syncs and
    /// heartbeats, logged at debug under the `librdkafka` target). Off by default: it is for
    /// finding out why a worker is not consuming, and it is verbose.
    #[arg(long, env = env::KAFKA_DEBUG)]
    pub kafka_debug: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct WaitingRoomArgs {
    /// Address to serve the page on.
    #[arg(long, env = env::LISTEN, default_value = "127.0.0.1:3002")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub redis: RedisArgs,
    /// Seconds the page counts down before sending the buyer back.
    #[arg(long, env = "FG_RETRY_AFTER_SECS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub retry_after_secs: u64,
    /// Where the buyer is sent back to when no `return` path is given.
    #[arg(long, env = "FG_SHOP_PATH", default_value = "/")]
    pub shop_path: String,
}

#[derive(Debug, Clone, Args)]
pub struct ReconcileArgs {
    #[command(flatten)]
    pub redis: RedisArgs,
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Only this product (default: every product in the database).
    #[arg(long)]
    pub product: Option<String>,
    /// Repair Redis (and `products.stock`) from the database's orders. Only when quiet.
    #[arg(long)]
    pub fix: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Only the database schema; leave Kafka alone.
    #[arg(long)]
    pub skip_kafka: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ProbeArgs {
    /// URL to GET, e.g. `http://127.0.0.1:8080/ready`.
    pub url: String,
    /// Give up after this long (`500ms`, `2s`, `1m`).
    #[arg(long, default_value = "2s", value_parser = crate::probe::parse_timeout)]
    pub timeout: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn api_requires_an_admin_token() {
        let err = Cli::try_parse_from(["flux-gate", "api"]).unwrap_err();
        assert!(err.to_string().contains("--admin-token"), "{err}");
        let ok = Cli::try_parse_from(["flux-gate", "api", "--admin-token", "s"]).unwrap();
        let Command::Api(a) = ok.command else {
            panic!()
        };
        assert_eq!(a.listen.to_string(), "127.0.0.1:3000");
        assert_eq!(a.redis_timeout(), Duration::from_millis(250));
    }

    #[test]
    fn probe_takes_a_url_and_a_timeout() {
        let ok = Cli::try_parse_from(["flux-gate", "probe", "http://x/health"]).unwrap();
        let Command::Probe(p) = ok.command else {
            panic!()
        };
        assert_eq!(p.url, "http://x/health");
        assert_eq!(p.timeout, Duration::from_secs(2));
        let ok =
            Cli::try_parse_from(["flux-gate", "probe", "http://x/", "--timeout", "300ms"]).unwrap();
        let Command::Probe(p) = ok.command else {
            panic!()
        };
        assert_eq!(p.timeout, Duration::from_millis(300));
        assert!(Cli::try_parse_from(["flux-gate", "probe"]).is_err());
        assert!(
            Cli::try_parse_from(["flux-gate", "probe", "http://x/", "--timeout", "2h"]).is_err()
        );
    }
}
