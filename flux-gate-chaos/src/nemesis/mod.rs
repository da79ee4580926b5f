//! The nemesis side of a run: a seeded plan of faults ([`plan`]) and its execution against a
//! target and the fault proxy ([`executor`]), with every apply and heal timed in a timeline.

pub mod executor;
pub mod plan;

pub use executor::{EventKind, Executor, TimelineEvent};
pub use plan::{plan, Change, Injection};
