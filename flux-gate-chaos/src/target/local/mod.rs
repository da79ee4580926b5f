//! The local target: the whole stack as supervised processes on loopback ([`stack`]), from a
//! description that is data ([`spec`]) with placeholders ([`template`]); plus what `fgchaos up`
//! / `down` share ([`session`]) and what `fgchaos cleanup` kills ([`strays`]).

pub mod groups;
pub mod session;
pub mod spec;
pub mod stack;
pub mod strays;
pub mod template;

pub use groups::ProcessGroups;
pub use spec::StackSpec;
pub use stack::LocalTarget;
