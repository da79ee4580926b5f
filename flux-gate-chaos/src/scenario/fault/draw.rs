//! Faults as data to search over: the fault `fgchaos explore` draws for an action, and the
//! weaker versions of a fault `fgchaos shrink` tries. They live beside the reader, the writer
//! and the rules because whatever explore draws must be what `ser.rs` writes and `rules.rs`
//! accepts; each is one more exhaustive `match` on the action, so a new action is a compile
//! error here until it says how it is drawn and weakened.

use std::time::Duration;

use super::keys::Key;
use super::{
    Action, FaultAction, LinkTarget, LinksTarget, ServiceTarget, ToxicOptions, PRIMARY_ROLE,
};
use crate::scenario::Dur;

/// Where a drawn fault's choices come from: the explore space, seeded. Every method may
/// answer `None` when the space offers nothing of that kind (no links, no Sentinel), and the
/// action is then not drawn.
pub trait Choices {
    /// A service, replica or role to act on.
    fn service(&mut self) -> Option<String>;
    /// A link (fault proxy) to act on.
    fn link(&mut self) -> Option<String>;
    /// Two or more distinct links to cut together.
    fn links(&mut self) -> Option<Vec<String>>;
    /// A delay for a latency toxic (often near one of the system's own timeouts).
    fn latency(&mut self) -> Dur;
    /// A whole number in `lo..=hi`.
    fn between(&mut self, lo: u64, hi: u64) -> u64;
    /// Whether Redis runs with Sentinel (`failover` needs it).
    fn redis_ha(&self) -> bool;
    /// Whether the fault proxy has the `reset_peer` toxic.
    fn reset_peer(&self) -> bool;
}

impl Action {
    /// Whether explore draws this action. `start`, `resume` and `activate` only end faults (a
    /// drawn fault heals through its `duration`), so drawing them alone would add nothing. A
    /// `drain` is not drawn: an explore space names services and links, not nodes, and on a
    /// single-node swarm a drain stops the whole stack — a scenario says it on purpose. Nor is
    /// a `scale`: it changes the stack's shape, which the rest of a drawn schedule was planned
    /// against (a replica it names may be gone).
    pub fn is_drawn(self) -> bool {
        match self {
            Action::Start
            | Action::Resume
            | Action::Activate
            | Action::Drain
            | Action::Isolate
            | Action::Rejoin
            | Action::Scale => false,
            Action::Kill
            | Action::Stop
            | Action::Restart
            | Action::Pause
            | Action::Latency
            | Action::Bandwidth
            | Action::Timeout
            | Action::Blackhole
            | Action::ResetPeer
            | Action::Slicer
            | Action::LimitData
            | Action::SlowClose
            | Action::Down
            | Action::Partition
            | Action::Failover => true,
        }
    }

    /// Whether this action breaks the fault proxy's links (a toxic, a cut, a partition)
    /// rather than an instance (a kill, a stop, a pause, a failover).
    pub fn hits_links(self) -> bool {
        self.takes(Key::Link) || self.takes(Key::Links)
    }

    /// Whether a fault of this action may say how long it lasts (`duration`).
    pub fn lasts(self) -> bool {
        self.takes(Key::Duration)
    }
}

impl FaultAction {
    /// A fault of `action` with its target and values drawn from `c`; `None` when the space
    /// has nothing it could act on.
    pub fn draw(action: Action, c: &mut dyn Choices) -> Option<FaultAction> {
        let toxic = ToxicOptions::default();
        let service = |c: &mut dyn Choices| c.service().map(ServiceTarget::Service);
        let link = |c: &mut dyn Choices| c.link().map(LinkTarget::Link);
        Some(match action {
            Action::Kill => FaultAction::Kill { on: service(c)? },
            Action::Stop => FaultAction::Stop {
                on: service(c)?,
                grace: None,
            },
            Action::Restart => FaultAction::Restart {
                on: service(c)?,
                grace: None,
            },
            Action::Pause => FaultAction::Pause { on: service(c)? },
            Action::Start | Action::Resume => return None,
            Action::Latency => FaultAction::Latency {
                on: link(c)?,
                latency: c.latency(),
                jitter: None,
                toxic,
            },
            Action::Bandwidth => FaultAction::Bandwidth {
                on: link(c)?,
                rate_kb: c.between(1, 256),
                toxic,
            },
            Action::Timeout => FaultAction::Timeout {
                on: link(c)?,
                timeout: None,
                toxic,
            },
            Action::Blackhole => FaultAction::Blackhole {
                on: link(c)?,
                toxic,
            },
            Action::ResetPeer if c.reset_peer() => FaultAction::ResetPeer {
                on: link(c)?,
                timeout: None,
                toxic,
            },
            Action::ResetPeer => return None,
            Action::Slicer => FaultAction::Slicer {
                on: link(c)?,
                average_size: c.between(1, 64),
                size_variation: None,
                delay: Some(Dur::millis(c.between(1, 20))),
                toxic,
            },
            Action::LimitData => FaultAction::LimitData {
                on: link(c)?,
                bytes: c.between(64, 65_536),
                toxic,
            },
            Action::SlowClose => FaultAction::SlowClose {
                on: link(c)?,
                delay: c.latency(),
                toxic,
            },
            Action::Down => FaultAction::Down { on: link(c)? },
            Action::Partition => FaultAction::Partition {
                on: LinksTarget::Links(c.links()?),
            },
            Action::Failover if c.redis_ha() => FaultAction::Failover {
                on: ServiceTarget::Service(PRIMARY_ROLE.to_owned()),
            },
            Action::Failover => return None,
            Action::Drain | Action::Activate | Action::Isolate | Action::Rejoin | Action::Scale => {
                return None
            }
        })
    }

    /// How hard the fault hits, as the value [`FaultAction::weaker`] reduces (`250ms`,
    /// `64KB/s`), when it has one.
    pub fn strength(&self) -> Option<String> {
        match self {
            FaultAction::Latency { latency, .. } => Some(latency.to_string()),
            FaultAction::Bandwidth { rate_kb, .. } => Some(format!("{rate_kb}KB/s")),
            FaultAction::LimitData { bytes, .. } => Some(format!("{bytes}B")),
            FaultAction::SlowClose { delay, .. } => Some(delay.to_string()),
            FaultAction::Slicer { average_size, .. } => Some(format!("{average_size}B slices")),
            FaultAction::Kill { .. }
            | FaultAction::Stop { .. }
            | FaultAction::Start { .. }
            | FaultAction::Restart { .. }
            | FaultAction::Pause { .. }
            | FaultAction::Resume { .. }
            | FaultAction::Timeout { .. }
            | FaultAction::Blackhole { .. }
            | FaultAction::ResetPeer { .. }
            | FaultAction::Down { .. }
            | FaultAction::Partition { .. }
            | FaultAction::Failover { .. }
            | FaultAction::Drain { .. }
            | FaultAction::Activate { .. }
            | FaultAction::Isolate { .. }
            | FaultAction::Rejoin { .. }
            | FaultAction::Scale { .. } => None,
        }
    }

    /// Gentler versions of this fault, gentlest first: what shrink tries once it knows which
    /// faults matter. Half the delay or the cut data, a larger bandwidth, a partition of one
    /// link fewer, a stop in place of a kill. Empty when there is nothing gentler to try.
    pub fn weaker(&self) -> Vec<FaultAction> {
        let half = |d: Dur| Dur(d.get() / 2);
        let above_floor = |d: Dur| d.get() >= 2 * MIN_DELAY;
        match self {
            FaultAction::Kill { on } => vec![FaultAction::Stop {
                on: on.clone(),
                grace: None,
            }],
            FaultAction::Latency {
                on,
                latency,
                jitter,
                toxic,
            } if above_floor(*latency) => vec![FaultAction::Latency {
                on: on.clone(),
                latency: half(*latency),
                jitter: *jitter,
                toxic: *toxic,
            }],
            FaultAction::Bandwidth { on, rate_kb, toxic } if *rate_kb < 1 << 20 => {
                vec![FaultAction::Bandwidth {
                    on: on.clone(),
                    rate_kb: rate_kb * 2,
                    toxic: *toxic,
                }]
            }
            FaultAction::SlowClose { on, delay, toxic } if above_floor(*delay) => {
                vec![FaultAction::SlowClose {
                    on: on.clone(),
                    delay: half(*delay),
                    toxic: *toxic,
                }]
            }
            FaultAction::LimitData { on, bytes, toxic } if *bytes < 1 << 30 => {
                vec![FaultAction::LimitData {
                    on: on.clone(),
                    bytes: bytes * 2,
                    toxic: *toxic,
                }]
            }
            FaultAction::Partition {
                on: LinksTarget::Links(links),
            } if links.len() > 1 => (0..links.len())
                .map(|skip| {
                    let fewer = links
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| *i != skip)
                        .map(|(_, l)| l.clone())
                        .collect();
                    FaultAction::Partition {
                        on: LinksTarget::Links(fewer),
                    }
                })
                .collect(),
            FaultAction::Stop { .. }
            | FaultAction::Start { .. }
            | FaultAction::Restart { .. }
            | FaultAction::Pause { .. }
            | FaultAction::Resume { .. }
            | FaultAction::Latency { .. }
            | FaultAction::Bandwidth { .. }
            | FaultAction::Timeout { .. }
            | FaultAction::Blackhole { .. }
            | FaultAction::ResetPeer { .. }
            | FaultAction::Slicer { .. }
            | FaultAction::LimitData { .. }
            | FaultAction::SlowClose { .. }
            | FaultAction::Down { .. }
            | FaultAction::Partition { .. }
            | FaultAction::Failover { .. }
            | FaultAction::Drain { .. }
            | FaultAction::Activate { .. }
            | FaultAction::Isolate { .. }
            | FaultAction::Rejoin { .. }
            | FaultAction::Scale { .. } => Vec::new(),
        }
    }
}

/// The smallest delay shrink halves a latency down to: below it a toxic is noise.
const MIN_DELAY: Duration = Duration::from_millis(1);
