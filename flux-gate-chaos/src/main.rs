//! `fgchaos`: the Flux-Gate chaos harness (YAML scenarios, local and Docker targets, fault
//! injection, invariant checkers, reports). Not built yet: the services it tests come first.

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!("fgchaos: not implemented yet; run `make demo` for the services' flash-sale demo");
    ExitCode::from(3)
}
