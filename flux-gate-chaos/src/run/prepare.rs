//! Step 1 of a run: everything that can be checked before anything starts. Each scenario file
//! is read once and its names checked once: against the local stack description it will run
//! on, or against the compose project's services and proxies (probed through the Docker API).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{RunError, RunOptions};
use crate::scenario::parse::Problem;
use crate::scenario::{self, validate, Scale, Scenario, ScenarioError};
use crate::target::docker::project::Scope;
use crate::target::docker::DockerSpec;
use crate::target::local::StackSpec;
use crate::target_kind::TargetKind;

/// A scenario ready to run: parsed, checked, with the stack it runs on.
#[derive(Debug)]
pub struct Prepared {
    pub path: PathBuf,
    pub scenario: Scenario,
    /// The file's text (its fingerprint goes into the journal).
    pub text: String,
    pub stack: StackChoice,
}

/// What a run starts (local) or attaches to (docker, swarm).
#[derive(Debug, Clone)]
pub enum StackChoice {
    Local(StackSpec),
    Docker {
        spec: DockerSpec,
        /// The compose project or the swarm stack.
        scope: Scope,
        /// The scenario's `scale:`, checked against the project (see `target::docker::scale`).
        scale: BTreeMap<String, Scale>,
    },
}

/// Prepares every file before any runs: one bad file stops the whole command before a stack
/// starts.
pub async fn prepare_all(paths: &[PathBuf], opts: &RunOptions) -> Result<Vec<Prepared>, RunError> {
    match opts.target {
        TargetKind::Local => paths
            .iter()
            .map(|p| local(p, opts.stack.as_deref()))
            .collect(),
        TargetKind::Docker | TargetKind::Swarm => {
            let scope = scope_of(opts);
            let spec = docker_spec(opts.stack.as_deref())?;
            let probed = crate::target::docker::stack::probe(&spec, &scope)
                .await
                .map_err(RunError::Attach)?;
            paths
                .iter()
                .map(|path| {
                    let (scenario, text) = read(path)?;
                    // `stack:` names the local stack file; on docker the project is the stack
                    // and the names the faults use are checked against it.
                    crate::target::docker::scale::check(&scenario.scale, &probed.project)
                        .map_err(|problem| invalid(path, problem))?;
                    check_names(path, &scenario, &probed.names)?;
                    Ok(Prepared {
                        path: path.clone(),
                        stack: StackChoice::Docker {
                            spec: spec.clone(),
                            scope: scope.clone(),
                            scale: scenario.scale.clone(),
                        },
                        scenario,
                        text,
                    })
                })
                .collect()
        }
    }
}

/// The stack runs of `opts` use, with no scenario yet: what explore starts once for all its
/// trials, and the names the trials may use on it. (A scenario's own `stack:` and `scale:`
/// have no part here: the stack is the one given, as it is.)
pub async fn stack_of(opts: &RunOptions) -> Result<(StackChoice, validate::Names), RunError> {
    match opts.target {
        TargetKind::Local => {
            let spec = match opts.stack.as_deref() {
                Some(p) => StackSpec::read(p)?,
                None => StackSpec::built_in()?,
            };
            let names = spec.names(false);
            Ok((StackChoice::Local(spec), names))
        }
        TargetKind::Docker | TargetKind::Swarm => {
            let spec = docker_spec(opts.stack.as_deref())?;
            let scope = scope_of(opts);
            let probed = crate::target::docker::stack::probe(&spec, &scope)
                .await
                .map_err(RunError::Attach)?;
            let choice = StackChoice::Docker {
                spec,
                scope,
                scale: BTreeMap::new(),
            };
            Ok((choice, probed.names))
        }
    }
}

/// The compose project (docker) or swarm stack (swarm) `opts` names.
fn scope_of(opts: &RunOptions) -> Scope {
    match opts.target {
        TargetKind::Swarm => Scope::Stack(opts.project.clone()),
        TargetKind::Local | TargetKind::Docker => Scope::Compose(opts.project.clone()),
    }
}

/// Reads a scenario for the local target and checks it against the stack it runs on: its own
/// `stack:`, else `stack_override`, else the built-in one — scaled by its `scale:`.
pub fn local(path: &Path, stack_override: Option<&Path>) -> Result<Prepared, RunError> {
    let (scenario, text) = read(path)?;
    let spec = match (&scenario.stack, stack_override) {
        (Some(rel), _) => StackSpec::read(&path.parent().unwrap_or(Path::new(".")).join(rel))?,
        (None, Some(p)) => StackSpec::read(p)?,
        (None, None) => StackSpec::built_in()?,
    };
    let spec = spec
        .scaled(&scenario.scale)
        .map_err(|problem| invalid(path, problem))?;
    check_names(path, &scenario, &spec.names(false))?;
    Ok(Prepared {
        path: path.to_owned(),
        scenario,
        text,
        stack: StackChoice::Local(spec),
    })
}

/// Reads and parses a scenario file (names not checked yet).
fn read(path: &Path) -> Result<(Scenario, String), RunError> {
    let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
        file: path.display().to_string(),
        source,
    })?;
    let s = scenario::parse_str(&text, &path.display().to_string())?;
    Ok((s, text))
}

/// Every service and link the scenario names must exist on the target.
fn check_names(path: &Path, s: &Scenario, names: &validate::Names) -> Result<(), RunError> {
    let problems = validate::validate(s, names);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ScenarioError::Invalid {
            file: path.display().to_string(),
            problems,
        }
        .into())
    }
}

/// A scenario that cannot run as written, with the one reason.
fn invalid(path: &Path, problem: Problem) -> RunError {
    ScenarioError::Invalid {
        file: path.display().to_string(),
        problems: vec![problem],
    }
    .into()
}

/// How the docker target reads a compose project: `stack` or the built-in description.
fn docker_spec(stack: Option<&Path>) -> Result<DockerSpec, RunError> {
    Ok(match stack {
        Some(p) => DockerSpec::read(p)?,
        None => DockerSpec::built_in()?,
    })
}
