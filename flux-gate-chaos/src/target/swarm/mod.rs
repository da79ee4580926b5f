//! The swarm target, being built (issue 25): a Docker Swarm stack deployed from the project's
//! compose file, its services' tasks faulted on their nodes. What stands today: the engine made
//! a manager when it is in no swarm, refused with the reason when it cannot be one, and left as
//! it was found ([`membership`]).

pub mod membership;

pub use membership::{manage, restore, Membership, Standing, SwarmError};
