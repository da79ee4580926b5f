//! The base settings of every Kafka client, as librdkafka property names and values.
//!
//! The services' producers, consumers and admin clients (`flux_gate_core::kafka`) and the
//! harness's lag reader all start from these, so the harness sees the broker the way the
//! services do. They are plain data rather than a client builder so that this crate needs no
//! Kafka client library: each side turns them into its own configuration
//! (`rdkafka::ClientConfig` collects [`client_settings`] directly).

/// The librdkafka property that names the brokers; [`client_settings`] sets it.
pub const BOOTSTRAP_SERVERS: &str = "bootstrap.servers";

/// Settings every client gets, whatever its brokers and its role.
///
/// - `socket.keepalive.enable=true`: TCP keepalive on broker connections, so a broker that
///   vanished without closing its sockets (a killed container, a cut network) is eventually
///   noticed by the kernel instead of leaving an idle connection open for ever.
/// - `reconnect.backoff.ms=50`, `reconnect.backoff.max.ms=250`: notice a dead broker quickly
///   and find it again within a fraction of a second of its return (the API promises 200s
///   again within 1 s); the chaos scenarios kill it on purpose. Reconnecting to a loopback or
///   LAN broker four times a second is cheap.
/// - `topic.metadata.refresh.interval.ms=10000`: librdkafka's default is 5 minutes; partitions
///   and leaders that change while a client runs (a broker restarted, topics created by
///   `migrate` after a service started) are picked up within 10 s.
/// - `socket.timeout.ms=10000`: how long a request may go unanswered (librdkafka's default is
///   60 s). A request lost on a connection that stays open — a link that swallows bytes for a
///   moment and then carries them again — is answered by nothing: a worker whose fetch was
///   lost in a one-second Kafka blackhole consumed nothing for a minute after the link healed
///   (found by `fgchaos explore`, docs/explore.md). Every request the broker answers at once
///   is far inside 10 s; group joins and syncs have timeouts of their own.
pub const CLIENT_SETTINGS: &[(&str, &str)] = &[
    ("socket.keepalive.enable", "true"),
    ("reconnect.backoff.ms", "50"),
    ("reconnect.backoff.max.ms", "250"),
    ("topic.metadata.refresh.interval.ms", "10000"),
    ("socket.timeout.ms", "10000"),
];

/// [`CLIENT_SETTINGS`] for a client of `brokers`, as owned pairs: the shape
/// `rdkafka::ClientConfig`'s `FromIterator` takes, so a client is
/// `client_settings(brokers).collect::<ClientConfig>()` plus its own role's settings.
pub fn client_settings(brokers: &str) -> impl Iterator<Item = (String, String)> + '_ {
    std::iter::once((BOOTSTRAP_SERVERS, brokers))
        .chain(CLIENT_SETTINGS.iter().copied())
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brokers_come_first_then_the_base_settings() {
        let s: Vec<(String, String)> = client_settings("h:9092").collect();
        assert_eq!(s[0], ("bootstrap.servers".to_owned(), "h:9092".to_owned()));
        assert_eq!(s.len(), 1 + CLIENT_SETTINGS.len());
        assert!(s
            .iter()
            .any(|(k, v)| k == "reconnect.backoff.max.ms" && v == "250"));
    }
}
