//! Turning a scenario's faults (and its nemesis) into a concrete, seeded schedule: every
//! `random:` choice and every replica pick is made here, once, from the run's seed — so the
//! same seed gives the same schedule, and the journal records exactly what was planned.

use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::scenario::{Action, Fault, Scenario, Stream};
use crate::target::Lifecycle;
use crate::toxiproxy::wire::Toxic;

/// Default SIGTERM grace of `stop`/`restart`.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);

/// One change to the system.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    Lifecycle { instance: String, op: Lifecycle },
    AddToxics { link: String, toxics: Vec<Toxic> },
    RemoveToxics { link: String, names: Vec<String> },
    SetLinks { links: Vec<String>, enabled: bool },
}

/// A planned fault: what it does, when, and how it heals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedFault {
    pub id: usize,
    pub action: Action,
    /// What it hits: an instance, a link, or links.
    pub target: String,
    pub at_ms: u64,
    pub apply: Change,
    /// When it heals itself (`duration`), and how.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heal_at_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heal: Option<Change>,
    /// How it could be undone if the run ends before its own heal (always known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undo: Option<Change>,
    /// What must hold during its window (from the scenario).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<crate::scenario::WindowExpect>,
}

/// Expands `s` into planned faults, ordered by time. `instances_of` maps a service or replica
/// group to its instances.
pub fn plan(
    s: &Scenario,
    seed: u64,
    instances_of: &dyn Fn(&str) -> Vec<String>,
) -> Result<Vec<PlannedFault>, String> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::new();
    for f in &s.faults {
        let at = f.at.map(|d| d.get()).unwrap_or_default();
        out.push(expand(
            f,
            at,
            f.duration.map(|d| d.get()),
            out.len(),
            &mut rng,
            instances_of,
        )?);
    }
    if let Some(n) = &s.nemesis {
        let mut t = n.start.get();
        while t < n.end.get() && !n.pool.is_empty() {
            let pick = &n.pool[rng.random_range(0..n.pool.len())];
            out.push(expand(
                pick,
                t,
                Some(n.duration.get()),
                out.len(),
                &mut rng,
                instances_of,
            )?);
            t += n.every.get();
        }
    }
    out.sort_by_key(|p| (p.at_ms, p.id));
    Ok(out)
}

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

fn expand(
    f: &Fault,
    at: Duration,
    duration: Option<Duration>,
    id: usize,
    rng: &mut ChaCha8Rng,
    instances_of: &dyn Fn(&str) -> Vec<String>,
) -> Result<PlannedFault, String> {
    let chosen: Option<String> = if f.random.is_empty() {
        None
    } else {
        Some(f.random[rng.random_range(0..f.random.len())].clone())
    };
    let a = f.action;
    let (target, apply, undo) = if a.is_lifecycle() {
        let service = chosen
            .or_else(|| f.service.clone())
            .ok_or("a lifecycle fault without a service")?;
        let instances = instances_of(&service);
        if instances.is_empty() {
            return Err(format!("the stack has no service `{service}`"));
        }
        let instance = instances[rng.random_range(0..instances.len())].clone();
        let grace_ms = ms(f.grace.map(|g| g.get()).unwrap_or(DEFAULT_GRACE));
        let (op, undo) = match a {
            Action::Kill => (Lifecycle::Kill, Some(Lifecycle::Start)),
            Action::Stop => (Lifecycle::Stop { grace_ms }, Some(Lifecycle::Start)),
            Action::Start => (Lifecycle::Start, None),
            Action::Restart => (Lifecycle::Restart { grace_ms }, None),
            Action::Pause => (Lifecycle::Pause, Some(Lifecycle::Resume)),
            _ => (Lifecycle::Resume, None),
        };
        let undo = undo.map(|op| Change::Lifecycle {
            instance: instance.clone(),
            op,
        });
        (instance.clone(), Change::Lifecycle { instance, op }, undo)
    } else if matches!(a, Action::Down | Action::Partition) {
        let links: Vec<String> = match (a, chosen) {
            (_, Some(c)) => vec![c],
            (Action::Partition, None) => f.links.clone(),
            (_, None) => f.link.iter().cloned().collect(),
        };
        (
            links.join("+"),
            Change::SetLinks {
                links: links.clone(),
                enabled: false,
            },
            Some(Change::SetLinks {
                links,
                enabled: true,
            }),
        )
    } else {
        let link = chosen
            .or_else(|| f.link.clone())
            .ok_or("a network fault without a link")?;
        let toxics = toxics(f, id);
        let names = toxics.iter().map(|t| t.name.clone()).collect();
        (
            link.clone(),
            Change::AddToxics {
                link: link.clone(),
                toxics,
            },
            Some(Change::RemoveToxics { link, names }),
        )
    };
    let heal = duration.and(undo.clone());
    Ok(PlannedFault {
        id,
        action: a,
        target,
        at_ms: ms(at),
        apply,
        heal_at_ms: heal.as_ref().and(duration).map(|d| ms(at + d)),
        heal,
        undo,
        expect: f.expect.clone(),
    })
}

/// Name prefix of every toxic fgchaos adds (cleanup removes exactly these).
pub const TOXIC_PREFIX: &str = "fgchaos-";

/// Toxiproxy toxics for a network fault (Toxiproxy's attribute names and units).
fn toxics(f: &Fault, id: usize) -> Vec<Toxic> {
    use serde_json::json;
    let ms_of = |d: Option<crate::scenario::Dur>| d.map(|d| ms(d.get())).unwrap_or(0);
    let (kind, attrs) = match f.action {
        Action::Latency => (
            "latency",
            json!({ "latency": ms_of(f.latency), "jitter": ms_of(f.jitter) }),
        ),
        Action::Bandwidth => ("bandwidth", json!({ "rate": f.rate_kb.unwrap_or(0) })),
        Action::Timeout => ("timeout", json!({ "timeout": ms_of(f.timeout) })),
        Action::Blackhole => ("timeout", json!({ "timeout": 0 })),
        Action::ResetPeer => ("reset_peer", json!({ "timeout": ms_of(f.timeout) })),
        Action::Slicer => (
            "slicer",
            json!({
                "average_size": f.average_size.unwrap_or(1),
                "size_variation": f.size_variation.unwrap_or(0),
                "delay": f.delay.map(|d| d.get().as_micros() as u64).unwrap_or(0),
            }),
        ),
        Action::LimitData => ("limit_data", json!({ "bytes": f.bytes.unwrap_or(0) })),
        _ => ("slow_close", json!({ "delay": ms_of(f.delay) })),
    };
    // Blackholes and timeouts must stop both directions to cut a request/response protocol.
    let default_stream = if matches!(f.action, Action::Blackhole | Action::Timeout) {
        Stream::Both
    } else {
        Stream::Downstream
    };
    let streams: &[&str] = match f.stream.unwrap_or(default_stream) {
        Stream::Upstream => &["upstream"],
        Stream::Downstream => &["downstream"],
        Stream::Both => &["upstream", "downstream"],
    };
    streams
        .iter()
        .map(|s| {
            let mut t = Toxic::new(kind, s, attrs.clone());
            t.name = format!("{TOXIC_PREFIX}{id}-{kind}-{s}");
            t.toxicity = f.toxicity.unwrap_or(1.0);
            t
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::parse_str;

    fn scenario(extra: &str) -> Scenario {
        parse_str(
            &format!("name: t\nsale: {{ product: p, stock: 10 }}\nload: {{ model: arrival-rate, rate: 10/s, duration: 60s }}\n{extra}"),
            "t.yaml",
        )
        .unwrap()
    }

    fn instances(s: &str) -> Vec<String> {
        match s {
            "ingestion-api" => vec!["ingestion-api#1".into(), "ingestion-api#2".into()],
            "" => vec![],
            other => vec![other.to_owned()],
        }
    }

    #[test]
    fn kill_with_duration_heals_by_starting() {
        let p = plan(
            &scenario(
                "faults: [{ at: 5s, action: kill, service: inventory-worker, duration: 10s }]",
            ),
            1,
            &instances,
        )
        .unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].at_ms, 5000);
        assert_eq!(p[0].heal_at_ms, Some(15_000));
        assert_eq!(
            p[0].apply,
            Change::Lifecycle {
                instance: "inventory-worker".into(),
                op: Lifecycle::Kill
            }
        );
        assert_eq!(
            p[0].heal,
            Some(Change::Lifecycle {
                instance: "inventory-worker".into(),
                op: Lifecycle::Start
            })
        );
    }

    #[test]
    fn toxics_carry_toxiproxy_attributes_and_a_removable_name() {
        let p = plan(&scenario("faults: [{ at: 1s, action: latency, link: api-redis, latency: 100ms, jitter: 5ms }, { at: 2s, action: blackhole, link: api-redis, duration: 3s }]"), 1, &instances).unwrap();
        let Change::AddToxics { toxics, .. } = &p[0].apply else {
            panic!()
        };
        assert_eq!(toxics.len(), 1);
        assert_eq!(toxics[0].name, "fgchaos-0-latency-downstream");
        assert_eq!(toxics[0].attributes["latency"], 100);
        assert_eq!(toxics[0].attributes["jitter"], 5);
        assert_eq!(
            p[0].heal, None,
            "no duration: stays until the end of the run"
        );
        assert!(p[0].undo.is_some());
        let Change::AddToxics { toxics, .. } = &p[1].apply else {
            panic!()
        };
        assert_eq!(
            toxics.iter().map(|t| t.stream.as_str()).collect::<Vec<_>>(),
            ["upstream", "downstream"]
        );
        assert_eq!(toxics[0].attributes["timeout"], 0);
    }

    #[test]
    fn same_seed_same_schedule_and_replicas_are_picked() {
        let s = scenario("nemesis: { start: 2s, end: 50s, every: 6s, duration: 3s, pool: [{ action: kill, service: ingestion-api }, { action: latency, link: api-redis, latency: 50ms }, { action: partition, links: [api-redis, kafka] }] }");
        let a = plan(&s, 42, &instances).unwrap();
        let b = plan(&s, 42, &instances).unwrap();
        let c = plan(&s, 43, &instances).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.len(), 8); // 2, 8, …, 44
        assert!(a.iter().all(|f| f.heal_at_ms == Some(f.at_ms + 3000)));
        let kills: Vec<&str> = a
            .iter()
            .filter(|f| f.action == Action::Kill)
            .map(|f| f.target.as_str())
            .collect();
        assert!(
            kills.iter().all(|k| k.starts_with("ingestion-api#")),
            "{kills:?}"
        );
    }
}
