//! A scenario's `scale:` on a compose project. Compose owns how many containers a service has,
//! so the harness does not change it: it checks that the project already has the shape the
//! scenario was written for, and holds back the instances the scenario starts later
//! (`started:`) — stopped when the run attaches, started again when it ends.

use std::collections::BTreeMap;

use super::project::{Project, Scope};
use crate::scenario::parse::Problem;
use crate::scenario::Scale;

/// Whether every scaled service runs exactly `replicas` containers, and `started` is 1 to
/// `replicas`.
pub fn check(scale: &BTreeMap<String, Scale>, project: &Project) -> Result<(), Problem> {
    for (service, sc) in scale {
        let have = project.instances_of(service).len();
        let problem = |key: String, message: String| Problem { key, message };
        if have == 0 {
            return Err(problem(
                format!("scale.{service}"),
                crate::scenario::validate::unknown("service", service, &project.services()),
            ));
        }
        if have != sc.replicas as usize {
            return Err(problem(
                format!("scale.{service}.replicas"),
                format!(
                    "{} has {have} container(s) of `{service}`, the scenario needs {replicas}: \
                     fgchaos attaches to it as it runs — scale it there ({how})",
                    project.scope.describe(),
                    replicas = sc.replicas,
                    how = match &project.scope {
                        Scope::Compose(_) =>
                            format!("`docker compose up -d --scale {service}={}`", sc.replicas),
                        Scope::Stack(stack) =>
                            format!("`docker service scale {stack}_{service}={}`", sc.replicas),
                    }
                ),
            ));
        }
        if let (Scope::Stack(_), Some(_)) = (&project.scope, sc.started) {
            return Err(problem(
                format!("scale.{service}.started"),
                "a swarm stack cannot hold a task back for a fault to start: Swarm starts \
                 every replica it is asked for. Scale the service instead \
                 (`docker service scale`)"
                    .to_owned(),
            ));
        }
        if let Some(why) = sc
            .started
            .and_then(|started| crate::scenario::started_out_of_range(started, sc.replicas))
        {
            return Err(problem(format!("scale.{service}.started"), why));
        }
    }
    Ok(())
}

/// The instances a run keeps stopped until a fault starts them: `SERVICE#N` for N > `started`.
pub fn held_back(scale: &BTreeMap<String, Scale>, project: &Project) -> Vec<String> {
    scale
        .iter()
        .flat_map(|(service, sc)| {
            let skip = sc.started.map_or(usize::MAX, |s| s as usize);
            project.instances_of(service).into_iter().skip(skip)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::docker::project::{container, name_instances};

    fn project(workers: u32) -> Project {
        let mut found = vec![container("nginx", 1)];
        found.extend((1..=workers).map(|n| container("inventory-worker", n)));
        Project {
            scope: Scope::Compose("shop".into()),
            containers: name_instances(found),
        }
    }

    fn scale(replicas: u32, started: Option<u32>) -> BTreeMap<String, Scale> {
        BTreeMap::from([("inventory-worker".to_owned(), Scale { replicas, started })])
    }

    #[test]
    fn the_instances_past_started_are_held_back() {
        let p = project(4);
        assert_eq!(check(&scale(4, Some(3)), &p), Ok(()));
        assert_eq!(held_back(&scale(4, Some(3)), &p), ["inventory-worker#4"]);
        assert_eq!(
            held_back(&scale(4, Some(2)), &p),
            ["inventory-worker#3", "inventory-worker#4"]
        );
        assert!(held_back(&scale(4, None), &p).is_empty());
        assert!(held_back(&BTreeMap::new(), &p).is_empty());
    }

    #[test]
    fn a_project_of_another_shape_is_refused_with_the_command_that_fixes_it() {
        let e = check(&scale(4, Some(3)), &project(3)).unwrap_err();
        assert_eq!(e.key, "scale.inventory-worker.replicas");
        assert_eq!(
            e.message,
            "compose project `shop` has 3 container(s) of `inventory-worker`, the scenario needs \
             4: fgchaos attaches to it as it runs — scale it there \
             (`docker compose up -d --scale inventory-worker=4`)"
        );
        // A swarm stack: the command is Swarm's, and no task can be held back.
        let mut stack = project(3);
        stack.scope = Scope::Stack("shop".into());
        let e = check(&scale(4, None), &stack).unwrap_err();
        assert!(
            e.message
                .starts_with("swarm stack `shop` has 3 container(s)")
                && e.message
                    .ends_with("(`docker service scale shop_inventory-worker=4`)"),
            "{}",
            e.message
        );
        let e = check(&scale(3, Some(2)), &stack).unwrap_err();
        assert_eq!(e.key, "scale.inventory-worker.started");
        assert!(e
            .message
            .starts_with("a swarm stack cannot hold a task back"));
        let e = check(&scale(4, Some(5)), &project(4)).unwrap_err();
        assert_eq!(e.key, "scale.inventory-worker.started");
        assert_eq!(e.message, "5 of 4 replicas: start 1 to 4 of them");
        let e = check(&scale(1, None), &project(0)).unwrap_err();
        assert_eq!(e.key, "scale.inventory-worker");
        assert!(
            e.message.starts_with("the stack has no service"),
            "{}",
            e.message
        );
    }
}
