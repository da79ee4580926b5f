//! Reading a fault from its flat mapping. Each key goes through [`KeySeed`], which knows the
//! action seen so far and the keys before, so a key of another action, a duplicate, or a target
//! given with `random` is refused while serde_yaml reads that key, and the error is placed there; each
//! value goes straight into its typed slot of [`Slots`], so a bad value is placed at the value.
//! Only what needs the whole mapping (a key written before `action`, a missing one) is checked
//! once it ends, and points at the fault. Why not `#[serde(tag = "action")]`: `mod.rs`.

use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::keys::Key;
use super::{
    Action, Fault, FaultAction, LinkTarget, LinksTarget, NodeTarget, ServiceTarget, Stream,
    ToxicOptions,
};
use crate::scenario::{Dur, WindowExpect};

impl FaultAction {
    /// Builds the variant of `a` from the values read; the keys were already checked to
    /// belong to `a`, so every slot this leaves behind is empty.
    fn build(a: Action, s: &mut Slots) -> Result<FaultAction, String> {
        Ok(match a {
            Action::Kill => FaultAction::Kill { on: s.service(a)? },
            Action::Stop => FaultAction::Stop {
                on: s.service(a)?,
                grace: s.grace,
            },
            Action::Start => FaultAction::Start { on: s.service(a)? },
            Action::Restart => FaultAction::Restart {
                on: s.service(a)?,
                grace: s.grace,
            },
            Action::Pause => FaultAction::Pause { on: s.service(a)? },
            Action::Resume => FaultAction::Resume { on: s.service(a)? },
            Action::Failover => FaultAction::Failover { on: s.service(a)? },
            Action::Latency => FaultAction::Latency {
                on: s.link(a)?,
                latency: need(a, Key::Latency, s.latency)?,
                jitter: s.jitter,
                toxic: s.toxic(),
            },
            Action::Bandwidth => FaultAction::Bandwidth {
                on: s.link(a)?,
                rate_kb: need(a, Key::RateKb, s.rate_kb)?,
                toxic: s.toxic(),
            },
            Action::Timeout => FaultAction::Timeout {
                on: s.link(a)?,
                timeout: s.timeout,
                toxic: s.toxic(),
            },
            Action::Blackhole => FaultAction::Blackhole {
                on: s.link(a)?,
                toxic: s.toxic(),
            },
            Action::ResetPeer => FaultAction::ResetPeer {
                on: s.link(a)?,
                timeout: s.timeout,
                toxic: s.toxic(),
            },
            Action::Slicer => FaultAction::Slicer {
                on: s.link(a)?,
                average_size: need(a, Key::AverageSize, s.average_size)?,
                size_variation: s.size_variation,
                delay: s.delay,
                toxic: s.toxic(),
            },
            Action::LimitData => FaultAction::LimitData {
                on: s.link(a)?,
                bytes: need(a, Key::Bytes, s.bytes)?,
                toxic: s.toxic(),
            },
            Action::SlowClose => FaultAction::SlowClose {
                on: s.link(a)?,
                delay: need(a, Key::Delay, s.delay)?,
                toxic: s.toxic(),
            },
            Action::Down => FaultAction::Down { on: s.link(a)? },
            Action::Partition => FaultAction::Partition { on: s.links(a)? },
            Action::Drain => FaultAction::Drain { on: s.node(a)? },
            Action::Activate => FaultAction::Activate { on: s.node(a)? },
            Action::Isolate => FaultAction::Isolate { on: s.node(a)? },
            Action::Rejoin => FaultAction::Rejoin { on: s.node(a)? },
            Action::Scale => FaultAction::Scale {
                on: s.service(a)?,
                replicas: need(a, Key::Replicas, s.replicas)?,
            },
        })
    }
}

/// `` `a`, `b`, `c` ``
fn listed(keys: impl IntoIterator<Item = Key>) -> String {
    keys.into_iter()
        .map(|k| format!("`{}`", k.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn misplaced(key: Key, a: Action) -> String {
    format!(
        "`{}` does not apply to `{}`; remove it (`{}` takes {})",
        key.as_str(),
        a.as_str(),
        a.as_str(),
        listed(a.row().keys.iter().copied().filter(|k| *k != Key::Action)),
    )
}

fn need<T>(a: Action, key: Key, v: Option<T>) -> Result<T, String> {
    v.ok_or_else(|| {
        format!(
            "`{}` needs `{}`, like `{}: {}`",
            a.as_str(),
            key.as_str(),
            key.as_str(),
            key.example()
        )
    })
}

/// The values of a fault's keys as they are read, before its action's variant is built.
#[derive(Default)]
struct Slots {
    /// The keys read so far, in order.
    seen: Vec<Key>,
    at: Option<Dur>,
    action: Option<Action>,
    service: Option<String>,
    link: Option<String>,
    links: Option<Vec<String>>,
    node: Option<String>,
    random: Option<Vec<String>>,
    duration: Option<Dur>,
    grace: Option<Dur>,
    latency: Option<Dur>,
    jitter: Option<Dur>,
    rate_kb: Option<u64>,
    timeout: Option<Dur>,
    average_size: Option<u64>,
    size_variation: Option<u64>,
    delay: Option<Dur>,
    bytes: Option<u64>,
    replicas: Option<u32>,
    stream: Option<Stream>,
    toxicity: Option<f32>,
    expect: Option<WindowExpect>,
}

impl Slots {
    /// Reads the value of `key` into its slot. A null value counts as the key left out, as
    /// it did for the optional fields of the flat struct this replaced (lists excepted).
    fn read<'de, A: MapAccess<'de>>(&mut self, key: Key, map: &mut A) -> Result<(), A::Error> {
        match key {
            Key::At => self.at = map.next_value()?,
            Key::Action => self.action = Some(map.next_value()?),
            Key::Service => self.service = map.next_value()?,
            Key::Link => self.link = map.next_value()?,
            Key::Links => self.links = map.next_value_seed(NamesSeed(key))?,
            Key::Node => self.node = map.next_value()?,
            Key::Random => self.random = map.next_value_seed(NamesSeed(key))?,
            Key::Duration => self.duration = map.next_value()?,
            Key::Grace => self.grace = map.next_value()?,
            Key::Latency => self.latency = map.next_value()?,
            Key::Jitter => self.jitter = map.next_value()?,
            Key::RateKb => self.rate_kb = map.next_value()?,
            Key::Timeout => self.timeout = map.next_value()?,
            Key::AverageSize => self.average_size = map.next_value()?,
            Key::SizeVariation => self.size_variation = map.next_value()?,
            Key::Delay => self.delay = map.next_value()?,
            Key::Bytes => self.bytes = map.next_value()?,
            Key::Replicas => self.replicas = map.next_value()?,
            Key::Stream => self.stream = map.next_value()?,
            Key::Toxicity => self.toxicity = map.next_value()?,
            Key::Expect => self.expect = map.next_value()?,
        }
        Ok(())
    }

    /// After the mapping: the checks that need the whole of it. Raised here, an error carries
    /// the fault mapping's place.
    fn finish<E: de::Error>(mut self) -> Result<Fault, E> {
        let Some(action) = self.action else {
            return Err(E::missing_field("action"));
        };
        // Keys written before `action` could not be checked against it when they were read.
        if let Some(k) = self.seen.iter().find(|k| !action.takes(**k)) {
            return Err(E::custom(misplaced(*k, action)));
        }
        let built = FaultAction::build(action, &mut self).map_err(E::custom)?;
        Ok(Fault {
            at: self.at,
            duration: self.duration,
            expect: self.expect,
            action: built,
        })
    }

    fn service(&mut self, a: Action) -> Result<ServiceTarget, String> {
        match (self.service.take(), self.random.take()) {
            (Some(s), None) => Ok(ServiceTarget::Service(s)),
            (None, Some(r)) => Ok(ServiceTarget::Random(r)),
            (Some(_), Some(_)) => Err(both(Key::Service)),
            (None, None) => Err(format!(
                "`{}` needs a service, like `service: inventory-worker`",
                a.as_str()
            )),
        }
    }

    fn link(&mut self, a: Action) -> Result<LinkTarget, String> {
        match (self.link.take(), self.random.take()) {
            (Some(l), None) => Ok(LinkTarget::Link(l)),
            (None, Some(r)) => Ok(LinkTarget::Random(r)),
            (Some(_), Some(_)) => Err(both(Key::Link)),
            (None, None) => Err(format!(
                "`{}` needs a link, like `link: api-redis`",
                a.as_str()
            )),
        }
    }

    fn links(&mut self, a: Action) -> Result<LinksTarget, String> {
        match (self.links.take(), self.random.take()) {
            (Some(l), None) => Ok(LinksTarget::Links(l)),
            (None, Some(r)) => Ok(LinksTarget::Random(r)),
            (Some(_), Some(_)) => Err(both(Key::Links)),
            (None, None) => Err(format!(
                "`{}` needs the links it cuts, like `links: [api-redis, kafka]`",
                a.as_str()
            )),
        }
    }

    fn node(&mut self, a: Action) -> Result<NodeTarget, String> {
        match (self.node.take(), self.random.take()) {
            (Some(n), None) => Ok(NodeTarget::Node(n)),
            (None, Some(r)) => Ok(NodeTarget::Random(r)),
            (Some(_), Some(_)) => Err(both(Key::Node)),
            (None, None) => Err(format!(
                "`{}` needs a swarm node, like `node: worker-2` (a hostname or id of `docker node ls`)",
                a.as_str()
            )),
        }
    }

    fn toxic(&self) -> ToxicOptions {
        ToxicOptions {
            stream: self.stream,
            toxicity: self.toxicity,
        }
    }
}

fn both(target: Key) -> String {
    format!("give `{}` or `random`, not both", target.as_str())
}

impl<'de> Deserialize<'de> for Fault {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(FaultVisitor)
    }
}

struct FaultVisitor;

impl<'de> Visitor<'de> for FaultVisitor {
    type Value = Fault;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a fault, like `{ at: 5s, action: kill, service: inventory-worker }`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fault, A::Error> {
        let mut slots = Slots::default();
        while let Some(key) = map.next_key_seed(KeySeed {
            action: slots.action,
            seen: &slots.seen,
        })? {
            slots.seen.push(key);
            slots.read(key, &mut map)?;
        }
        slots.finish()
    }
}

/// Reads one key of a fault, knowing the action (if its key came first) and the keys before:
/// an error here is raised while serde_yaml reads the key, so it is placed at the key.
struct KeySeed<'a> {
    action: Option<Action>,
    seen: &'a [Key],
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Key;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
        d.deserialize_identifier(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a fault key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
        let Some(key) = Key::parse(v) else {
            // Worded as serde words it, so `yaml::suggest` offers the closest key — of this
            // action when it is known.
            let keys = self.action.map_or(&Key::ALL[..], |a| a.row().keys);
            return Err(E::custom(format!(
                "unknown field `{v}`, expected one of {}",
                listed(keys.iter().copied())
            )));
        };
        if let Some(a) = self.action.filter(|a| !a.takes(key)) {
            return Err(E::custom(misplaced(key, a)));
        }
        if self.seen.contains(&key) {
            return Err(E::duplicate_field(key.as_str()));
        }
        if let Some(other) = self.seen.iter().find(|k| k.excludes(key)) {
            let target = if key == Key::Random { *other } else { key };
            return Err(E::custom(both(target)));
        }
        Ok(key)
    }
}

/// A list of names (`links`, `random`). Empty is an error, placed at the list: `random: []` is
/// nothing to choose from, and `links: []` cuts nothing.
struct NamesSeed(Key);

impl<'de> DeserializeSeed<'de> for NamesSeed {
    type Value = Option<Vec<String>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for NamesSeed {
    type Value = Option<Vec<String>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a list of names, like `{}`", self.0.example())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut names = Vec::new();
        while let Some(n) = seq.next_element::<String>()? {
            names.push(n);
        }
        if names.is_empty() {
            return Err(de::Error::custom(format!(
                "`{}` is empty; list at least one name, like `{}: {}`",
                self.0.as_str(),
                self.0.as_str(),
                self.0.example()
            )));
        }
        Ok(Some(names))
    }
}
