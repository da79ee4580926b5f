//! The docker target: a user's Docker Compose project, driven through the Docker API
//! (bollard). Containers are found by compose labels ([`project`]); what the harness needs to
//! know about the project is data ([`spec`]); faults are applied by container id and put back
//! on every exit ([`stack`]); a crashed run's changes are repaired from its [`ledger`]; a
//! project running Redis with Sentinel is read as such ([`redis_ha`]); a scenario's `scale:`
//! is checked against the project, not applied to it ([`scale`]); a started container is ready
//! when its own healthcheck command passes, run by the harness ([`readiness`]), waited for
//! without holding the target ([`handle`]).

pub mod engine;
pub mod fleet;
pub mod gwbridge;
pub mod handle;
pub mod ledger;
pub mod project;
pub mod readiness;
pub mod redis_ha;
pub mod scale;
pub mod spec;
pub mod stack;

pub use engine::DockerError;
pub use project::Container;
pub use spec::DockerSpec;
pub use stack::DockerTarget;
