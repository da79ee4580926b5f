//! The stack under test: its description as data ([`spec`]), placeholder expansion
//! ([`template`]) and the local target that runs it as supervised processes ([`local`]).

pub mod local;
pub mod spec;
pub mod template;

pub use local::LocalStack;
pub use spec::StackSpec;
