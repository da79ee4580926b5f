//! Writing a fault back as the flat mapping the file uses, key for key in the order of the flat
//! struct the enum replaced: journals store faults this way, and a journal written today must
//! read, and diff, like one written before.

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use super::keys::Key;
use super::{
    Fault, FaultAction, LinkTarget, LinksTarget, NodeTarget, On, ServiceTarget, ToxicOptions,
};

/// The flat mapping the file and the journal use: `at`, `action`, the target, `duration`, the
/// action's own keys, `expect` — the order of the flat struct this type replaced, so journals
/// serialize byte for byte as before.
impl Serialize for Fault {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        opt(&mut m, Key::At, &self.at)?;
        m.serialize_entry(Key::Action.as_str(), &self.action.kind())?;
        self.action.on().write(&mut m)?;
        opt(&mut m, Key::Duration, &self.duration)?;
        self.action.write_keys(&mut m)?;
        opt(&mut m, Key::Expect, &self.expect)?;
        m.end()
    }
}

impl FaultAction {
    /// Writes the action's own keys other than its target, in the order of the old flat
    /// struct (`grace`, `latency`, `jitter`, `rate_kb`, `timeout`, `average_size`,
    /// `size_variation`, `delay`, `bytes`, `stream`, `toxicity`), so journals read the same;
    /// `replicas`, which came later, last.
    fn write_keys<M: SerializeMap>(&self, m: &mut M) -> Result<(), M::Error> {
        match self {
            FaultAction::Kill { .. }
            | FaultAction::Start { .. }
            | FaultAction::Pause { .. }
            | FaultAction::Resume { .. }
            | FaultAction::Failover { .. }
            | FaultAction::Down { .. }
            | FaultAction::Partition { .. }
            | FaultAction::Drain { .. }
            | FaultAction::Activate { .. }
            | FaultAction::Isolate { .. }
            | FaultAction::Rejoin { .. } => Ok(()),
            FaultAction::Stop { grace, .. } | FaultAction::Restart { grace, .. } => {
                opt(m, Key::Grace, grace)
            }
            FaultAction::Latency {
                latency,
                jitter,
                toxic,
                ..
            } => {
                m.serialize_entry(Key::Latency.as_str(), latency)?;
                opt(m, Key::Jitter, jitter)?;
                toxic.write(m)
            }
            FaultAction::Bandwidth { rate_kb, toxic, .. } => {
                m.serialize_entry(Key::RateKb.as_str(), rate_kb)?;
                toxic.write(m)
            }
            FaultAction::Timeout { timeout, toxic, .. }
            | FaultAction::ResetPeer { timeout, toxic, .. } => {
                opt(m, Key::Timeout, timeout)?;
                toxic.write(m)
            }
            FaultAction::Blackhole { toxic, .. } => toxic.write(m),
            FaultAction::Slicer {
                average_size,
                size_variation,
                delay,
                toxic,
                ..
            } => {
                m.serialize_entry(Key::AverageSize.as_str(), average_size)?;
                opt(m, Key::SizeVariation, size_variation)?;
                opt(m, Key::Delay, delay)?;
                toxic.write(m)
            }
            FaultAction::LimitData { bytes, toxic, .. } => {
                m.serialize_entry(Key::Bytes.as_str(), bytes)?;
                toxic.write(m)
            }
            FaultAction::SlowClose { delay, toxic, .. } => {
                m.serialize_entry(Key::Delay.as_str(), delay)?;
                toxic.write(m)
            }
            FaultAction::Scale { replicas, .. } => {
                m.serialize_entry(Key::Replicas.as_str(), replicas)
            }
        }
    }
}

impl On<'_> {
    /// Writes the target key (`service`, `link`, `links` or `random`).
    fn write<M: SerializeMap>(self, m: &mut M) -> Result<(), M::Error> {
        match self {
            On::Service(ServiceTarget::Service(s)) => m.serialize_entry(Key::Service.as_str(), s),
            On::Link(LinkTarget::Link(l)) => m.serialize_entry(Key::Link.as_str(), l),
            On::Links(LinksTarget::Links(l)) => m.serialize_entry(Key::Links.as_str(), l),
            On::Node(NodeTarget::Node(n)) => m.serialize_entry(Key::Node.as_str(), n),
            On::Service(ServiceTarget::Random(r))
            | On::Link(LinkTarget::Random(r))
            | On::Links(LinksTarget::Random(r))
            | On::Node(NodeTarget::Random(r)) => m.serialize_entry(Key::Random.as_str(), r),
        }
    }
}

impl ToxicOptions {
    fn write<M: SerializeMap>(&self, m: &mut M) -> Result<(), M::Error> {
        opt(m, Key::Stream, &self.stream)?;
        opt(m, Key::Toxicity, &self.toxicity)
    }
}

fn opt<M: SerializeMap, T: Serialize>(m: &mut M, k: Key, v: &Option<T>) -> Result<(), M::Error> {
    match v {
        Some(v) => m.serialize_entry(k.as_str(), v),
        None => Ok(()),
    }
}
