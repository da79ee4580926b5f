//! The kept stack at the size the next scenario asks for. Shrink's last pass tries fewer
//! replicas of a service (a scenario's `scale:`), and a stack has the one size it started
//! with: a scenario of another size first brings up a stack of that size, and the one before
//! is stopped. Only the local target can do that; on docker the project's size is the user's
//! (`scale:` is checked against it, never applied), so every scenario there runs at one size.

use std::collections::BTreeMap;

use crate::run::{KeptStack, RunError, RunOptions, StackChoice};
use crate::scenario::validate::Names;
use crate::scenario::{Scale, Scenario};
use crate::target::local::spec::StackSpec;

pub struct SizedStack {
    /// The stack at the failing run's size; every other size is this one rescaled.
    base: StackChoice,
    /// The names of `base` (on docker, the project's).
    base_names: Names,
    opts: RunOptions,
    kept: KeptStack,
    /// The `scale:` the kept stack runs at.
    scale: BTreeMap<String, Scale>,
}

impl SizedStack {
    /// Brings up `base`, the stack at the size of a scenario whose `scale:` is `scale`.
    pub async fn up(
        base: StackChoice,
        base_names: Names,
        opts: &RunOptions,
        scale: &BTreeMap<String, Scale>,
    ) -> Result<SizedStack, RunError> {
        let kept = KeptStack::up(base.clone(), opts).await?;
        Ok(SizedStack {
            base,
            base_names,
            opts: opts.clone(),
            kept,
            scale: scale.clone(),
        })
    }

    /// The names `s` may use at its size; `None` when no stack of that size can be had.
    pub fn names_for(&self, s: &Scenario) -> Option<Names> {
        match &self.base {
            StackChoice::Local(spec) => spec
                .clone()
                .scaled(&s.scale)
                .ok()
                .map(|spec| spec.names(false)),
            StackChoice::Docker { .. } => (s.scale == self.scale).then(|| self.base_names.clone()),
        }
    }

    /// Each service that runs more than one instance at `s`'s size (see [`sizes_of`]). Empty
    /// on docker, whose size is not changed.
    pub fn sizes(&self, s: &Scenario) -> Vec<(String, Scale)> {
        match &self.base {
            StackChoice::Local(spec) => sizes_of(spec, s),
            StackChoice::Docker { .. } => Vec::new(),
        }
    }

    /// The kept stack, at `s`'s size: restarted at that size first if it runs at another.
    pub async fn for_scenario(&mut self, s: &Scenario) -> Result<&mut KeptStack, RunError> {
        if s.scale != self.scale {
            let StackChoice::Local(spec) = &self.base else {
                return Err(RunError::Start {
                    logs: self.opts.work_dir.clone(),
                    source: crate::target::TargetError::Setup(
                        "a docker project's size is not changed by fgchaos".into(),
                    ),
                });
            };
            let spec = spec.clone().scaled(&s.scale).map_err(|p| RunError::Start {
                logs: self.opts.work_dir.clone(),
                source: crate::target::TargetError::Setup(format!("`scale:` {p}")),
            })?;
            tracing::info!(scale = ?s.scale, "a stack of another size for the next candidate");
            let next = KeptStack::up(StackChoice::Local(spec), &self.opts).await?;
            std::mem::replace(&mut self.kept, next).down().await;
            self.scale = s.scale.clone();
        }
        Ok(&mut self.kept)
    }

    pub async fn down(self) {
        self.kept.down().await;
    }
}

/// Each service of `spec` that runs more than one instance at `s`'s size: its name, replicas
/// and how many start with the stack. The Sentinels are left out: their number and quorum are
/// how the stack fails over, not a load the scenario chose.
fn sizes_of(spec: &StackSpec, s: &Scenario) -> Vec<(String, Scale)> {
    let Ok(spec) = spec.clone().scaled(&s.scale) else {
        return Vec::new();
    };
    let sentinels = spec.redis_ha.as_ref().map(|h| h.sentinels.clone());
    spec.services
        .iter()
        .filter(|(name, svc)| svc.replicas > 1 && Some(*name) != sentinels.as_ref())
        .map(|(name, svc)| {
            let scale = Scale {
                replicas: svc.replicas,
                started: svc.started,
            };
            (name.clone(), scale)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(scale: &str) -> Scenario {
        let text = format!(
            "name: s\nsale: {{ product: p, stock: 10 }}\n\
             load: {{ model: arrival-rate, rate: 10/s, duration: 2s, users: 10, timeout: 1s }}\n{scale}"
        );
        crate::scenario::parse_str(&text, "s.yaml").unwrap()
    }

    #[test]
    fn every_service_with_more_than_one_instance_may_be_made_smaller_but_the_sentinels() {
        let built_in = StackSpec::built_in().unwrap();
        let two = Scale {
            replicas: 2,
            started: None,
        };
        assert_eq!(
            sizes_of(&built_in, &scenario("")),
            [("ingestion-api".to_owned(), two)]
        );
        let scaled = scenario("scale: { inventory-worker: { replicas: 4, started: 3 } }\n");
        let four = Scale {
            replicas: 4,
            started: Some(3),
        };
        assert_eq!(
            sizes_of(&built_in, &scaled),
            [
                ("ingestion-api".to_owned(), two),
                ("inventory-worker".to_owned(), four)
            ]
        );
        let ha = StackSpec::read(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("stacks/redis-ha.yaml"),
        )
        .unwrap();
        assert!(sizes_of(&ha, &scenario(""))
            .iter()
            .all(|(name, _)| name != "redis-sentinel"));
    }
}
