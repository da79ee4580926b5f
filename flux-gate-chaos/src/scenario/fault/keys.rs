//! Every key a fault may have, across actions. The per-action table (`KeyRow` in
//! `mod.rs`) lists these rather than strings, so a key it names is one the reader, the writer
//! and the schema all know, and a misspelt one does not compile.

/// Every key a fault may have, across actions, in the order a fault is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Key {
    At,
    Action,
    Service,
    Link,
    Links,
    Node,
    Random,
    Duration,
    Grace,
    Latency,
    Jitter,
    RateKb,
    Timeout,
    AverageSize,
    SizeVariation,
    Delay,
    Bytes,
    Replicas,
    Stream,
    Toxicity,
    Expect,
}

impl Key {
    pub(super) const ALL: [Key; 21] = [
        Key::At,
        Key::Action,
        Key::Service,
        Key::Link,
        Key::Links,
        Key::Node,
        Key::Random,
        Key::Duration,
        Key::Grace,
        Key::Latency,
        Key::Jitter,
        Key::RateKb,
        Key::Timeout,
        Key::AverageSize,
        Key::SizeVariation,
        Key::Delay,
        Key::Bytes,
        Key::Replicas,
        Key::Stream,
        Key::Toxicity,
        Key::Expect,
    ];

    pub(super) fn as_str(self) -> &'static str {
        match self {
            Key::At => "at",
            Key::Action => "action",
            Key::Service => "service",
            Key::Link => "link",
            Key::Links => "links",
            Key::Node => "node",
            Key::Random => "random",
            Key::Duration => "duration",
            Key::Grace => "grace",
            Key::Latency => "latency",
            Key::Jitter => "jitter",
            Key::RateKb => "rate_kb",
            Key::Timeout => "timeout",
            Key::AverageSize => "average_size",
            Key::SizeVariation => "size_variation",
            Key::Delay => "delay",
            Key::Bytes => "bytes",
            Key::Replicas => "replicas",
            Key::Stream => "stream",
            Key::Toxicity => "toxicity",
            Key::Expect => "expect",
        }
    }

    pub(super) fn parse(s: &str) -> Option<Key> {
        Key::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// A value to show in "needs" messages (and the tests' sample faults).
    pub(super) fn example(self) -> &'static str {
        match self {
            Key::At => "5s",
            Key::Action => "kill",
            Key::Service => "inventory-worker",
            Key::Link => "api-redis",
            Key::Links | Key::Random => "[api-redis, kafka]",
            Key::Node => "worker-2",
            Key::Duration => "10s",
            Key::Grace => "5s",
            Key::Latency => "100ms",
            Key::Jitter => "10ms",
            Key::RateKb => "64",
            Key::Timeout => "1s",
            Key::AverageSize => "64",
            Key::SizeVariation => "16",
            Key::Delay => "500ms",
            Key::Bytes => "1024",
            Key::Replicas => "2",
            Key::Stream => "both",
            Key::Toxicity => "0.5",
            Key::Expect => "{ p99: \"< 1s\" }",
        }
    }

    /// `random` stands in for the target key; the two together are ambiguous.
    pub(super) fn excludes(self, other: Key) -> bool {
        let target = |k: Key| matches!(k, Key::Service | Key::Link | Key::Links | Key::Node);
        (self == Key::Random && target(other)) || (other == Key::Random && target(self))
    }
}
