//! The docker target: a user's Docker Compose project, driven through the Docker API
//! (bollard). Containers are found by compose labels ([`project`]); what the harness needs to
//! know about the project is data ([`spec`]); faults are applied by container id and put back
//! on every exit ([`stack`]); a crashed run's changes are repaired from its [`record`].

pub mod engine;
pub mod project;
pub mod record;
pub mod spec;
pub mod stack;

pub use engine::DockerError;
pub use project::Container;
pub use spec::DockerSpec;
pub use stack::DockerTarget;
