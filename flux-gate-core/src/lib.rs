//! Flux-Gate: a flash-sale engine that keeps its promises while things break.
//!
//! ```text
//! client → api ──(Lua: reserve + outbox)──▶ Redis
//!            └──(idempotent produce)──▶ Kafka "orders" ──▶ worker ──(batched UNNEST)──▶ PostgreSQL
//! ```
//! The library holds the services: the ingestion API ([`api`]), the inventory worker
//! ([`worker`]), the waiting room ([`waiting_room`]) and the reconciler ([`reconcile`]), with
//! everything they write to the stores ([`db`]'s statements and migrations, [`sale`], the
//! reservation script in [`reservation`]).
//!
//! The contract the harness (`fgchaos`) and outside tools share with the services lives in its
//! own crate, `flux-gate-contract` (`flux-gate-contract/`), so they need not compile the
//! services: HTTP types ([`contract`]), Redis key names ([`keys`]), the Kafka message
//! ([`message`]), the base Kafka settings (used by [`kafka`]) and the read side of the stores
//! (re-exported by [`db`] and [`sale`]). The modules are re-exported here under their old
//! names, so code written against this library keeps compiling.

pub use flux_gate_contract::http as contract;
pub use flux_gate_contract::{keys, message};

pub mod api;
pub mod config;
pub mod db;
pub mod http;
pub mod kafka;
pub mod log_throttle;
pub mod probe;
pub mod reconcile;
pub mod redis_link;
pub mod replica_ack;
pub mod reservation;
pub mod sale;
pub mod shutdown;
pub mod stock_endpoint;
pub mod telemetry;
pub mod waiting_room;
pub mod worker;
