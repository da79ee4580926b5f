//! What Flux-Gate promises to the outside, as code: the shapes that clients, the chaos harness
//! (`fgchaos`) and outside tools rely on, without the services that implement them.
//!
//! It is a crate of its own, not modules of `flux-gate-core`, so that whoever only needs the
//! shapes does not compile (or link) a web server, a Kafka client and an allocator for them:
//! the harness judges the services through these definitions and must agree with them exactly,
//! so it takes them from the same source rather than keeping copies (docs/decisions.md, 32).
//!
//! - [`http`]: the ingestion API's request and answer bodies, status words, headers and the
//!   validation of every identifier (`parse_order`, `parse_init`).
//! - [`keys`]: the Redis key names of a sale.
//! - [`message`]: the Kafka message that carries an order, and the topic names.
//! - [`kafka`]: the base settings of every Kafka client, as data, so this crate needs no Kafka
//!   client library; each side builds its own client from them.
//! - [`db_reads`]: the PostgreSQL read side (products with their order count, a product's
//!   orders) and the lazy pool, which the services, the reconciler and the checkers share.
//! - [`redis_reads`]: the Redis read side: a sale as Redis sees it.
//!
//! Everything that writes (starting a sale, persisting orders, the reservation script, repairs)
//! stays in `flux-gate-core`: only the services may change the stores.

pub mod db_reads;
pub mod http;
pub mod kafka;
pub mod keys;
pub mod message;
pub mod redis_reads;
