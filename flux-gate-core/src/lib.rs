//! Flux-Gate: a flash-sale engine that keeps its promises while things break.
//!
//! ```text
//! client → api ──(Lua: reserve + outbox)──▶ Redis
//!            └──(idempotent produce)──▶ Kafka "orders" ──▶ worker ──(batched UNNEST)──▶ PostgreSQL
//! ```
//! The library holds the services and the contract the harness (`fgchaos`) reuses: HTTP types
//! ([`contract`]), Redis key names ([`keys`]), the Kafka message ([`message`]) and the database
//! schema ([`db`]).

pub mod api;
pub mod config;
pub mod contract;
pub mod db;
pub mod http;
pub mod kafka;
pub mod keys;
pub mod log_throttle;
pub mod message;
pub mod probe;
pub mod reconcile;
pub mod redis_link;
pub mod reservation;
pub mod sale;
pub mod shutdown;
pub mod stock_endpoint;
pub mod telemetry;
pub mod waiting_room;
pub mod worker;
