//! The swarm target: a Docker Swarm stack deployed from the project's stack file, its
//! services' tasks faulted on their nodes. The engine is made a manager when it is in no swarm,
//! refused with the reason when it cannot be one, and left as it was found ([`membership`]);
//! a stack is deployed and taken away by `fgchaos up`/`down --target swarm` ([`deploy`]); its
//! nodes are drained and activated ([`nodes`]), and lost and joined again ([`isolation`]), by
//! node faults; its services' replica counts are set by `scale` faults ([`replicas`]); a run's
//! load generators are spread over its nodes as a service of their own ([`generators`]).
//!
//! Attaching and faulting is the docker target's own code on a stack's scope
//! (`target::docker::project::Scope::Stack`): tasks are containers found by the stack's
//! labels, and the one difference Swarm makes — an ended task is replaced, not started again —
//! is held in `target::docker::stack`.

pub mod deploy;
pub mod generators;
pub mod isolation;
pub mod membership;
pub mod nodes;
pub mod replicas;

pub use deploy::Deployment;
pub use membership::{manage, restore, Membership, Standing, SwarmError};
