//! `fgchaos run --dry-run`: what a run of a prepared scenario would act on, when, with what
//! load, and what it needs to be allowed to do — resolved and printed, with nothing injected
//! and no load sent (AWS FIS's skip-all). On the docker target it reads the project and its
//! fault proxy (GETs only); on the local target nothing runs before a run starts, so it says
//! what the run would start.

use std::collections::BTreeSet;
use std::fmt;

use super::{Prepared, RunError, StackChoice};
use crate::nemesis::plan::{Change, Injection};
use crate::scenario::fault::is_role;
use crate::scenario::{validate, Scenario};
use crate::target::docker::project::{Project, Scope, State};
use crate::target::docker::stack::{probe, Probed};
use crate::target::LinkEnds;

/// A run resolved, not run.
#[derive(Debug)]
pub struct DryRun {
    pub name: String,
    pub seed: u64,
    /// What the faults act on: containers, processes, roles.
    pub touched: Vec<Touched>,
    /// The links the faults act on, with their ends (`None`: assigned when the stack starts).
    pub links: Vec<(String, Option<LinkEnds>)>,
    /// The planned faults, with this seed's choices made, in time order.
    pub timeline: Vec<Injection>,
    pub load: String,
    /// The guardrails the run holds to: the steady state, the stop conditions, the blast radius.
    pub guardrails: Vec<String>,
    /// Where the load goes (`None`: a loopback port assigned when the stack starts).
    pub entry: Option<String>,
    pub needs: Vec<Need>,
}

/// One thing a fault acts on.
#[derive(Debug, PartialEq, Eq)]
pub enum Touched {
    /// Docker: a container of the project — found by its compose labels, never by name.
    Container {
        instance: String,
        id: String,
        name: String,
        project: String,
        state: String,
    },
    /// Local: a process group the run starts (so there is no pid before it does).
    Process { instance: String },
    /// `redis-primary` / `redis-replica`: whichever instance holds the role when it fires —
    /// `now`, the one holding it at the dry run, when Sentinel could be asked.
    Role { role: String, now: Option<String> },
    /// Swarm: a node a drain takes out, with the stack's instances it runs now.
    Node {
        node: String,
        id: String,
        runs: Vec<String>,
    },
    /// Swarm: a service a `scale` sets the replica count of, with its tasks now.
    Service {
        service: String,
        stack: String,
        runs: Vec<String>,
    },
}

/// A permission an action needs, and whether it is there.
#[derive(Debug, PartialEq, Eq)]
pub struct Need {
    /// Not there: the run would fail when it needs it.
    pub missing: bool,
    pub what: String,
    /// How it was found granted. (What cannot be granted stops the dry run earlier: an engine
    /// or a proxy that does not answer is an error, exit 2.)
    pub granted: String,
}

/// Resolves `p` with `seed` on its stack. Reads only.
pub async fn resolve(p: &Prepared, seed: u64) -> Result<DryRun, RunError> {
    let s = &p.scenario;
    match &p.stack {
        StackChoice::Local(spec) => {
            let timeline = plan(s, seed, &|svc| spec.instances_of(svc))?;
            let ActedOn {
                instances, links, ..
            } = acted_on(&timeline);
            Ok(DryRun {
                touched: instances
                    .into_iter()
                    .map(|i| match is_role(&i) {
                        true => Touched::Role { role: i, now: None },
                        false => Touched::Process { instance: i },
                    })
                    .collect(),
                links: links.into_iter().map(|l| (l, None)).collect(),
                entry: None,
                needs: local_needs(&timeline),
                guardrails: guardrails(s, crate::target_kind::TargetKind::Local),
                ..dry(s, seed, timeline)
            })
        }
        StackChoice::Docker { spec, scope, .. } => {
            let probed = probe(spec, scope).await.map_err(RunError::Attach)?;
            let timeline = plan(s, seed, &|svc| probed.project.instances_of(svc))?;
            let acted = acted_on(&timeline);
            let (mut touched, links) = on_the_project(&probed, acted.instances, acted.links).await;
            touched.extend(acted.nodes.into_iter().map(|n| node(&probed, n)));
            touched.extend(acted.services.into_iter().map(|s| service(&probed, s)));
            Ok(DryRun {
                touched,
                links,
                entry: Some(probed.entry.clone()),
                needs: docker_needs(&timeline, &probed),
                guardrails: guardrails(s, kind_of(scope)),
                ..dry(s, seed, timeline)
            })
        }
    }
}

/// The containers and links of the project the faults act on; a role is asked of the
/// Sentinels, as the run will ask again when each fault fires.
async fn on_the_project(
    probed: &Probed,
    instances: BTreeSet<String>,
    links: BTreeSet<String>,
) -> (Vec<Touched>, Vec<(String, Option<LinkEnds>)>) {
    let mut touched = Vec::new();
    for i in instances {
        touched.push(match (is_role(&i), &probed.redis_ha) {
            (true, Some(t)) => Touched::Role {
                now: t.resolve(&i).await.ok(),
                role: i,
            },
            _ => container(&probed.project, i),
        });
    }
    let mut shown = Vec::new();
    for l in links {
        let resolved = match (is_role(&l), &probed.redis_ha) {
            (true, Some(t)) => t.resolve_peer_link(&l).await.ok().map(|(link, _)| link),
            _ => None,
        };
        shown.push(match resolved {
            Some(link) => {
                let ends = probed.links.get(&link).cloned();
                (format!("{l} (now {link})"), ends)
            }
            None => {
                let ends = probed.links.get(&l).cloned();
                (l, ends)
            }
        });
    }
    (touched, shown)
}

fn dry(s: &Scenario, seed: u64, timeline: Vec<Injection>) -> DryRun {
    DryRun {
        name: s.name.clone(),
        seed,
        touched: Vec::new(),
        links: Vec::new(),
        timeline,
        load: load_of(s),
        guardrails: Vec::new(),
        entry: None,
        needs: Vec::new(),
    }
}

/// The target kind a scope is attached to as.
fn kind_of(scope: &Scope) -> crate::target_kind::TargetKind {
    match scope {
        Scope::Compose(_) => crate::target_kind::TargetKind::Docker,
        Scope::Stack(_) => crate::target_kind::TargetKind::Swarm,
    }
}

/// The guardrails of `s` on `target`, one line each.
fn guardrails(s: &Scenario, target: crate::target_kind::TargetKind) -> Vec<String> {
    let h = crate::scenario::steady::Hypothesis::of(s, target);
    let l = &h.latency;
    let bounds: Vec<String> = [("p50", l.p50), ("p95", l.p95), ("p99", l.p99)]
        .into_iter()
        .filter_map(|(n, b)| b.map(|b| format!("{n} {b}")))
        .chain(h.backlog_age.map(|b| format!("backlog age {b}")))
        .collect();
    let mut out = vec![format!(
        "steady state before the first fault: availability {}{}",
        h.availability,
        bounds.iter().map(|b| format!(", {b}")).collect::<String>()
    )];
    out.push(match &s.abort_when {
        Some(a) => format!(
            "stop when: {}",
            serde_json::to_string(a).unwrap_or_default()
        ),
        None => "stop when: no condition (`abort_when:`); `fgchaos halt` still stops it".into(),
    });
    out.push(format!(
        "blast radius: {}{}",
        if s.allow_total_outage {
            "may take down every instance of a service"
        } else {
            "never every instance of a service at once"
        },
        s.max_concurrent_faults
            .map(|m| format!(", at most {m} fault(s) at once"))
            .unwrap_or_default()
    ));
    out
}

fn plan(
    s: &Scenario,
    seed: u64,
    instances_of: &dyn Fn(&str) -> Vec<String>,
) -> Result<Vec<Injection>, RunError> {
    Ok(crate::nemesis::plan(s, seed, instances_of)?)
}

/// What the planned faults change, each kind in order of name.
#[derive(Default)]
struct ActedOn {
    instances: BTreeSet<String>,
    links: BTreeSet<String>,
    nodes: BTreeSet<String>,
    /// Swarm services a `scale` sets the replica count of.
    services: BTreeSet<String>,
}

fn acted_on(timeline: &[Injection]) -> ActedOn {
    let mut on = ActedOn::default();
    let changes = timeline
        .iter()
        .flat_map(|i| [Some(&i.apply), i.heal.as_ref(), i.undo.as_ref()])
        .flatten();
    for c in changes {
        match c {
            Change::Lifecycle { instance, .. } => {
                on.instances.insert(instance.clone());
            }
            Change::AddToxics { link, .. } | Change::RemoveToxics { link, .. } => {
                on.links.insert(link.clone());
            }
            Change::SetLinks { links: l, .. } => on.links.extend(l.iter().cloned()),
            Change::Node { node, .. } => {
                on.nodes.insert(node.clone());
            }
            Change::Scale { service, .. } => {
                on.services.insert(service.clone());
            }
        }
    }
    on
}

/// A swarm service a `scale` fault names, with the tasks it runs now.
fn service(probed: &Probed, service: String) -> Touched {
    Touched::Service {
        runs: probed.project.instances_of(&service),
        stack: probed.project.name().to_owned(),
        service,
    }
}

/// A swarm node a fault names, with what it runs now (validation refused one the swarm has not).
fn node(probed: &Probed, name: String) -> Touched {
    let found = probed.names.nodes.iter().find(|n| n.is(&name));
    Touched::Node {
        id: found
            .map(|n| n.id.chars().take(12).collect())
            .unwrap_or_default(),
        runs: found.map(|n| n.runs.clone()).unwrap_or_default(),
        node: name,
    }
}

fn container(project: &Project, instance: String) -> Touched {
    if is_role(&instance) {
        return Touched::Role {
            role: instance,
            now: None,
        };
    }
    let c = project.containers.get(&instance);
    Touched::Container {
        id: c
            .map(|c| c.id.chars().take(12).collect())
            .unwrap_or_default(),
        name: c.map(|c| c.name.clone()).unwrap_or_default(),
        project: project.name().to_owned(),
        state: match c.map(|c| &c.state) {
            Some(State::Running { .. }) => "running",
            Some(State::Paused) => "paused",
            Some(State::Stopped) => "stopped",
            None => "missing",
        }
        .to_owned(),
        instance,
    }
}

fn load_of(s: &Scenario) -> String {
    let l = &s.load;
    let how = match (l.rate, l.vus, l.stages.is_empty()) {
        (_, Some(vus), _) => format!("{vus} virtual users"),
        (rate, None, false) => {
            let to: Vec<String> = l.stages.iter().map(|st| st.to.to_string()).collect();
            let from = rate.map_or("0/s".to_owned(), |r| r.to_string());
            format!("{from} ramping to {}", to.join(" → "))
        }
        (Some(rate), None, true) => rate.to_string(),
        (None, None, true) => "no rate".to_owned(),
    };
    let dur = validate::load_duration(l)
        .map(|d| humantime::format_duration(d).to_string())
        .unwrap_or_default();
    format!(
        "{} at {how} for {dur}, {} buyers, on `{}` ({} units)",
        l.model.as_str(),
        l.users,
        s.sale.product,
        s.sale.stock
    )
}

fn local_needs(timeline: &[Injection]) -> Vec<Need> {
    let mut needs = vec![Need {
        missing: false,
        what: "signals to the stack's own process groups".to_owned(),
        granted: "the run starts them, as this user".to_owned(),
    }];
    if timeline.iter().any(changes_links) {
        needs.push(Need {
            missing: false,
            what: "the fault proxy's API".to_owned(),
            granted: "embedded: started with the stack".to_owned(),
        });
    }
    needs
}

/// What the docker target's actions need. Probing got this far, so the engine and the proxy
/// answered; the Docker API has no narrower grant than its socket.
fn docker_needs(timeline: &[Injection], probed: &Probed) -> Vec<Need> {
    let mut needs = Vec::new();
    if timeline
        .iter()
        .any(|i| matches!(i.apply, Change::Node { .. }))
    {
        needs.push(Need {
            missing: false,
            what: "the swarm manager's API: node availability (drain, active) of the nodes above; \
                   for an isolation, the node's own engine: a container on its host network \
                   (NET_ADMIN) that sets its firewall"
                .to_owned(),
            granted: format!("{} answers as a swarm manager", probed.engine),
        });
    }
    if timeline
        .iter()
        .any(|i| matches!(i.apply, Change::Scale { .. }))
    {
        let docker = on_path("docker");
        needs.push(Need {
            missing: docker.is_none(),
            what: "`docker service scale` of the services above: the docker command line, \
                   pointed at this engine (`DOCKER_HOST`)"
                .to_owned(),
            granted: match docker {
                Some(at) => format!(
                    "{} at {}; {} answers as a swarm manager",
                    at.display(),
                    crate::target::docker::engine::address(),
                    probed.engine
                ),
                None => "no `docker` on PATH: the scale would fail".to_owned(),
            },
        });
    }
    if timeline
        .iter()
        .any(|i| matches!(i.apply, Change::Lifecycle { .. }))
    {
        needs.push(Need {
            missing: false,
            what: "the Docker API: kill, stop, start, pause and unpause of the containers above"
                .to_owned(),
            granted: format!(
                "{} answers; its socket grants every container operation",
                probed.engine
            ),
        });
    }
    if timeline.iter().any(changes_links) {
        needs.push(Need {
            missing: false,
            what: "the fault proxy's API: add and remove toxics, disable and enable links"
                .to_owned(),
            granted: format!(
                "{} answers, with {} link(s)",
                probed.toxiproxy,
                probed.links.len()
            ),
        });
    }
    needs
}

/// Where `command` is on `PATH`, if it is.
fn on_path(command: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(command))
        .find(|p| p.is_file())
}

fn changes_links(i: &Injection) -> bool {
    !matches!(
        i.apply,
        Change::Lifecycle { .. } | Change::Node { .. } | Change::Scale { .. }
    )
}

impl fmt::Display for DryRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}: dry run with seed {} — nothing injected, no load sent (`--seed {}` runs exactly this)",
            self.name, self.seed, self.seed
        )?;
        writeln!(f, "  acts on:")?;
        if self.touched.is_empty() && self.links.is_empty() {
            writeln!(f, "    nothing (no faults)")?;
        }
        for t in &self.touched {
            writeln!(f, "    {t}")?;
        }
        for (name, ends) in &self.links {
            match ends {
                Some(e) => writeln!(
                    f,
                    "    link      {name:<18} listen {}  upstream {}",
                    e.listen, e.upstream
                )?,
                None => writeln!(
                    f,
                    "    link      {name:<18} through the fault proxy (its ends are known once the stack runs)"
                )?,
            }
        }
        writeln!(f, "  timeline (from the start of the load):")?;
        if self.timeline.is_empty() {
            writeln!(f, "    no faults")?;
        }
        for i in &self.timeline {
            writeln!(f, "    {}", step(i))?;
        }
        writeln!(f, "  load: {}", self.load)?;
        match &self.entry {
            Some(e) => writeln!(f, "    to POST {e}/init (once) and POST {e}/order")?,
            None => writeln!(
                f,
                "    to POST /init and /order on the stack's load balancer (a loopback port assigned at start)"
            )?,
        }
        writeln!(f, "  guardrails:")?;
        for g in &self.guardrails {
            writeln!(f, "    {g}")?;
        }
        writeln!(f, "  needs:")?;
        for n in &self.needs {
            let word = if n.missing { "MISSING" } else { "ok" };
            writeln!(f, "    {word:<8} {} — {}", n.what, n.granted)?;
        }
        Ok(())
    }
}

impl fmt::Display for Touched {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Touched::Container {
                instance,
                id,
                name,
                project,
                state,
            } => write!(
                f,
                "container {instance:<18} id {id}  name {name}  project {project}  ({state})"
            ),
            Touched::Process { instance } => write!(
                f,
                "process   {instance:<18} started by the run (no pid before it starts)"
            ),
            Touched::Role {
                role,
                now: Some(now),
            } => write!(
                f,
                "role      {role:<18} now {now}; resolved again when each fault fires"
            ),
            Touched::Role { role, now: None } => write!(
                f,
                "role      {role:<18} resolved to an instance when each fault fires"
            ),
            Touched::Node { node, id, runs } => write!(
                f,
                "node      {node:<18} id {id}  runs {} task(s) of the stack now: {}",
                runs.len(),
                runs.join(", ")
            ),
            Touched::Service {
                service,
                stack,
                runs,
            } => write!(
                f,
                "service   {service:<18} swarm service {stack}_{service}  runs {} task(s) now: {}",
                runs.len(),
                runs.join(", ")
            ),
        }
    }
}

/// One line of the timeline: when, what, and when it heals.
fn step(i: &Injection) -> String {
    let back = match &i.undo {
        Some(Change::Scale { replicas, .. }) => format!(" (back to {replicas})"),
        _ => String::new(),
    };
    let heal = match (i.heal_at_ms, &i.undo) {
        (Some(ms), _) => format!("heals at +{}{back}", secs(ms)),
        (None, Some(_)) => {
            format!("on until the end of the load unless a later step reverses it{back}")
        }
        (None, None) => String::new(),
    };
    format!(
        "+{:<9} {:<36} {heal}",
        secs(i.at_ms),
        crate::nemesis::executor::label(i)
    )
    .trim_end()
    .to_owned()
}

fn secs(ms: u64) -> String {
    format!("{}.{:03}s", ms / 1000, ms % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn local(faults: &str) -> DryRun {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.yaml");
        std::fs::write(
            &path,
            format!(
                "name: dry\nsale: {{ product: phone, stock: 100 }}\n\
                 load: {{ model: arrival-rate, rate: 50/s, duration: 20s }}\n\
                 allow_total_outage: true\nfaults:\n{faults}"
            ),
        )
        .unwrap();
        let p = super::super::prepare::local(&path, None).unwrap();
        resolve(&p, 7).await.unwrap()
    }

    #[tokio::test]
    async fn a_local_dry_run_names_what_the_run_would_start_and_cut() {
        let dry = local(
            "  - { at: 2s, action: kill, service: ingestion-api, duration: 3s }\n\
             \x20 - { at: 5s, action: latency, link: api-redis, latency: 20ms }\n",
        )
        .await;
        // One replica of the two, chosen by the seed; the link with no address yet.
        assert_eq!(dry.touched.len(), 1, "{dry:?}");
        assert!(
            matches!(&dry.touched[0], Touched::Process { instance } if instance.starts_with("ingestion-api#")),
            "{dry:?}"
        );
        let links: Vec<(&str, bool)> = dry
            .links
            .iter()
            .map(|(name, ends)| (name.as_str(), ends.is_none()))
            .collect();
        assert_eq!(links, [("api-redis", true)]);
        assert_eq!(
            dry.timeline
                .iter()
                .map(|i| (i.at_ms, i.heal_at_ms))
                .collect::<Vec<_>>(),
            [(2000, Some(5000)), (5000, None)]
        );
        let text = dry.to_string();
        for want in [
            "dry: dry run with seed 7",
            "+2.000s",
            "heals at +5.000s",
            "latency api-redis",
            "arrival-rate at 50/s for 20s, ",
            "the fault proxy's API",
        ] {
            assert!(text.contains(want), "{want}: {text}");
        }
        // The same seed, the same choices: the run `--seed 7` starts is this one.
        let again = local(
            "  - { at: 2s, action: kill, service: ingestion-api, duration: 3s }\n\
             \x20 - { at: 5s, action: latency, link: api-redis, latency: 20ms }\n",
        )
        .await;
        assert_eq!(again.touched, dry.touched);
    }

    #[tokio::test]
    async fn an_instance_fault_needs_signals_and_no_proxy() {
        let dry = local("  - { at: 1s, action: pause, service: redis }\n").await;
        assert_eq!(
            dry.touched,
            [Touched::Process {
                instance: "redis".to_owned()
            }]
        );
        assert_eq!(
            dry.needs.len(),
            1,
            "no link fault, no proxy needed: {dry:?}"
        );
    }
}
