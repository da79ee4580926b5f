//! Toxiproxy's REST API: the embedded server (on the `noxious` proxy engine) for machines
//! without Toxiproxy, and one async client that drives it and real Toxiproxy alike.

pub mod client;
pub mod server;
pub mod wire;

pub use client::{Client, ClientError};
pub use server::ProxyServer;
