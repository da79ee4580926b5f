//! `fgchaos explore`: a seeded search over fault schedules for the failure nobody wrote a
//! scenario for. Each trial is a whole scenario drawn from a search space — several faults,
//! overlapping, with values across the system's own timeouts, against loads that sell out —
//! run on one stack started for the whole session, and judged by every checker. Failing
//! trials are grouped by their signature, one failure found per signature, and `fgchaos shrink` reduces one.
//!
//! | file | what it holds |
//! |---|---|
//! | `space.rs` | the search space: the space file, its defaults, its checks against the stack |
//! | `between.rs` | `{ min, max }` ranges of a space file, refused inverted where written |
//! | `anchors.rs` | the system's own timeouts, which durations and delays are drawn across |
//! | `draw.rs` | a trial's scenario from the space and a seed; a neighbour of a trial |
//! | `search.rs` | which trial comes next: uniform, or guided by what earlier trials showed |
//! | `novelty.rs` | the behaviour a trial showed, as features: guided search's coverage |
//! | `signature.rs` | a failure's signature: failed checkers and fault kinds; one per failure found |
//! | `reproduce.rs` | whether a failure shows again: k of m reruns, the rule shrink shares |
//! | `session.rs` | the session: one stack, trial after trial on it, within a budget |
//! | `index.rs` | `index.md`: a row per trial, a section per failure found |

pub mod anchors;
pub mod between;
pub mod draw;
pub mod index;
pub mod novelty;
pub mod reproduce;
pub mod search;
pub mod session;
pub mod signature;
pub mod space;

pub use search::Strategy;
pub use session::{Budget, Explored, SessionOptions};
pub use signature::Signature;
pub use space::{Resolved, Space, SpaceError};
