//! The command line of `fgchaos`.

use std::path::PathBuf;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand};

use crate::target_kind::TargetKind;

#[derive(Debug, Parser)]
#[command(
    name = "fgchaos",
    version,
    about = "Chaos-engineering harness: proves a Flux-Gate stack keeps its promises while things break"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log filter (tracing syntax), e.g. `info` or `fgchaos=debug`. The fault proxy engine's
    /// per-connection messages (`noxious`: one error per connection attempt while a fault has a
    /// service down) are off unless named, e.g. `warn,noxious=debug`.
    #[arg(
        long,
        global = true,
        env = "FGCHAOS_LOG",
        default_value = "warn,noxious=off"
    )]
    pub log: String,
    /// Run without a guardian: if fgchaos dies without healing (SIGKILL, OOM), what it broke
    /// stays broken until `fgchaos cleanup` (docs/safety.md).
    #[arg(long, global = true)]
    pub no_guard: bool,
}

/// The compose project name this repository's `.env` gives `docker compose`.
pub const DEFAULT_PROJECT: &str = "fluxgate";

/// `--target`: `local`, `docker`, `swarm`, or `auto` (the default), which is no kind but the command's
/// rule for picking one — docker when an engine answers and the compose project is up, else
/// local — and so parses to `None`. Spelt with its full path so that clap's derive takes it as
/// a value with a default, not as an optional flag.
pub type TargetFlag = ::std::option::Option<TargetKind>;

fn target_flag() -> impl TypedValueParser<Value = TargetFlag> {
    PossibleValuesParser::new(["auto", "local", "docker", "swarm"])
        .map(|s| <TargetKind as clap::ValueEnum>::from_str(&s, false).ok())
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run scenarios: bring the stack up, drive load, inject faults, record everything.
    Run(RunArgs),
    /// Judge stored runs again with this fgchaos's checkers and the scenario's expectations as
    /// recorded: prints the same tables and verdict as `run`, exits with the worst verdict's
    /// code. A run directory is `<report dir>/<run id>/` (journal.json, history.jsonl,
    /// samples.jsonl, logs/).
    Check(CheckArgs),
    /// Search fault schedules for a failure nobody wrote a scenario for: seeded trials drawn
    /// from a search space, run on one stack, judged by every checker (docs/explore.md).
    /// Exits 1 when any failure was found, 0 when nothing was.
    Explore(ExploreArgs),
    /// Reduce a failing run to the smallest scenario that still fails the same way: fewer
    /// faults, gentler ones, a shorter load (docs/explore.md).
    Shrink(ShrinkArgs),
    /// Drive order attempts at a running stack and record the history (no faults, no stack);
    /// with --segment, one generator's share of a load made by several.
    Load(LoadArgs),
    /// Merge the histories of a load's segments into one on the coordinator's timeline.
    /// Refuses histories of different loads, a segment missing or given twice, and a
    /// generator whose clock is skewed past --max-skew.
    Merge(MergeArgs),
    /// Serve this machine's clock to generators on other machines (`fgchaos load --clock`),
    /// until Ctrl-C.
    Clock(ClockArgs),
    /// Be one generator of a run's load, placed by the run on another node (`generators: n` on
    /// a swarm stack): join its coordinator for a segment, drive that segment from the agreed
    /// start, and stream the history back as it is made.
    Join(JoinArgs),
    /// Check scenario files without running anything.
    Validate(ValidateArgs),
    /// List the scenarios of a directory: name, description, faults, duration.
    List(ListArgs),
    /// Print the JSON Schema of scenario files, or of explore's space files (for editor
    /// completion).
    Schema {
        #[arg(default_value = "scenario", value_parser = ["scenario", "space"])]
        of: String,
    },
    /// Start the local stack and keep it running until Ctrl-C (or `fgchaos down`); with
    /// `--target swarm`, deploy the stack on Swarm (making this engine a single-node swarm if
    /// it is in none) and return once it serves.
    Up(UpArgs),
    /// Stop a stack started with `fgchaos up`; with `--target swarm`, remove the deployed stack
    /// and leave the swarm `up` initialised.
    Down(DownArgs),
    /// Serve Toxiproxy's REST API (the embedded fault proxy).
    Proxy(ProxyArgs),
    /// Heal what a killed run left behind when its guardian could not (`--no-guard`, or the
    /// guardian killed too): stray service processes, stopped or paused containers, fgchaos
    /// toxics.
    Cleanup(CleanupArgs),
    /// The safety lever: stop every running experiment of this machine, or one by its run id
    /// (or explore/shrink session id). Each run heals every fault, stops its load, settles and
    /// ends ABORTED (exit 4); an explore or shrink session stops as on Ctrl-C.
    Halt(HaltArgs),
    /// Print shell completions.
    Completions { shell: clap_complete::Shell },
    /// The guardian a run arms before its stack starts: heals the run directory if fgchaos
    /// dies without saying it is done (docs/safety.md). Not for users.
    #[command(hide = true)]
    Guard(GuardArgs),
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Scenario files.
    #[arg(required = true)]
    pub scenarios: Vec<PathBuf>,
    #[arg(long, default_value = "auto", value_parser = target_flag())]
    pub target: TargetFlag,
    /// Docker target: the compose project to attach to; swarm target: the stack.
    #[arg(long, env = "COMPOSE_PROJECT_NAME", default_value = DEFAULT_PROJECT)]
    pub project: String,
    /// Seed for every random choice (same seed, same schedule and load).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Where journals, histories and logs go.
    #[arg(long, default_value = "reports")]
    pub report_dir: PathBuf,
    /// Where run directories (service data) go.
    #[arg(long, env = "FGCHAOS_WORK_DIR", default_value = ".fgchaos/runs")]
    pub work_dir: PathBuf,
    /// Keep the run directory (data of every service) after a successful run.
    #[arg(long)]
    pub keep: bool,
    /// Replace the built-in stack description: a stack file on the local target, a
    /// compose-project description (like flux-gate-chaos/stacks/docker.yaml) on docker.
    #[arg(long)]
    pub stack: Option<PathBuf>,
    /// Also write every run's journal and verdict as one JSON array to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Also write JUnit XML: one test case per checker per scenario.
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// Stop conditions for every scenario, in place of their own `abort_when:` — the same
    /// keys, as YAML: `--abort-when '{ p99: "> 500ms", oversell: true }'` (docs/scenarios.md).
    #[arg(long, value_name = "YAML")]
    pub abort_when: Option<String>,
    /// The steady-state hypothesis for every scenario, in place of its own `steady_state:` and
    /// the default — the same keys, as YAML. `--steady-state '{ latency: {} }'` gates on
    /// availability alone: an empty `latency` has no bound (docs/safety.md).
    #[arg(long, value_name = "YAML")]
    pub steady_state: Option<String>,
    /// Resolve and print what each run would act on — containers or processes, links, the
    /// timeline, the load, the permissions it needs — and run nothing: no fault, no load.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ExploreArgs {
    #[arg(long, default_value = "auto", value_parser = target_flag())]
    pub target: TargetFlag,
    /// Docker target: the compose project to attach to; swarm target: the stack.
    #[arg(long, env = "COMPOSE_PROJECT_NAME", default_value = DEFAULT_PROJECT)]
    pub project: String,
    /// Replace the built-in stack description (as for `run`).
    #[arg(long)]
    pub stack: Option<PathBuf>,
    /// Stop starting trials after this long, like `20m` (default 10m unless `--trials`).
    #[arg(long, conflicts_with = "trials")]
    pub budget: Option<String>,
    /// Run this many trials.
    #[arg(long)]
    pub trials: Option<usize>,
    /// Stop at the first failing trial that fails again when rerun (the budget is then the most
    /// it may take); a failure that never does is kept, and the search goes on.
    #[arg(long)]
    pub stop_on_failure: bool,
    /// The search's seed: the same seed and space draw the same trials (random when absent;
    /// the index says which).
    #[arg(long)]
    pub seed: Option<u64>,
    /// A space file narrowing or widening what trials are drawn from (default: everything the
    /// stack offers).
    #[arg(long)]
    pub space: Option<PathBuf>,
    /// How the next trial is chosen: `uniform` draws every trial fresh; `guided` draws half
    /// the trials near one that showed something new (measured slower to a first failure:
    /// docs/explore.md, "Guided against uniform").
    #[arg(long, default_value = "uniform", value_parser = ["uniform", "guided"])]
    pub strategy: String,
    /// Where `explore-<ts>/` (the index, the trials' scenarios, the failing runs) goes.
    #[arg(long, default_value = "reports")]
    pub out: PathBuf,
    /// Where the stack's directory goes.
    #[arg(long, env = "FGCHAOS_WORK_DIR", default_value = ".fgchaos/runs")]
    pub work_dir: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct ShrinkArgs {
    /// A failing run's directory (from `explore` or `run`).
    pub run: PathBuf,
    /// The target to shrink on (default: the one the run recorded).
    #[arg(long, value_enum)]
    pub target: Option<TargetKind>,
    /// Docker target: the compose project to attach to; swarm target: the stack.
    #[arg(long, env = "COMPOSE_PROJECT_NAME", default_value = DEFAULT_PROJECT)]
    pub project: String,
    /// Replace the built-in stack description (as for `run`).
    #[arg(long)]
    pub stack: Option<PathBuf>,
    /// Stop trying candidates after this long (default 15m).
    #[arg(long, default_value = "15m")]
    pub budget: String,
    /// Write the minimal scenario here too, as a regression scenario of the suite, like
    /// `scenarios/found-lost-ack.yaml`.
    #[arg(long)]
    pub save: Option<PathBuf>,
    /// Where `shrink-<ts>/` (minimal.yaml, the candidates' runs) goes.
    #[arg(long, default_value = "reports")]
    pub out: PathBuf,
    #[arg(long, env = "FGCHAOS_WORK_DIR", default_value = ".fgchaos/runs")]
    pub work_dir: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    #[arg(required = true, value_name = "RUN_DIR")]
    pub runs: Vec<PathBuf>,
    /// Rewrite each run's markdown report and charts (`<report dir>/<run id>.md`).
    #[arg(long)]
    pub write_report: bool,
    /// Also write every run's verdict as one JSON array to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    /// `host:port` of the entry (load balancer or one API instance); loopback only.
    #[arg(long)]
    pub entry: std::net::SocketAddr,
    /// Product id of a running sale.
    #[arg(long)]
    pub product: String,
    /// Open model: arrival rate, like `2000/s`.
    #[arg(long, conflicts_with = "vus")]
    pub rate: Option<String>,
    /// Closed model: concurrent virtual users.
    #[arg(long)]
    pub vus: Option<u32>,
    #[arg(long, default_value = "10s")]
    pub duration: String,
    /// Open model: most requests in flight.
    #[arg(long, default_value_t = 64)]
    pub connections: u32,
    #[arg(long, default_value_t = 1_000_000)]
    pub users: u32,
    /// Where the history goes.
    #[arg(long, default_value = "history.jsonl")]
    pub history: PathBuf,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// This generator's share of a load made by several: `i/n` sends every n-th attempt of
    /// the one schedule, from the i-th (1/2 and 2/2 make the whole load). Every segment needs
    /// the same --run-id, --seed, load and --start-at; `fgchaos merge` joins their histories.
    #[arg(long, requires_all = ["run_id", "start_at"])]
    pub segment: Option<String>,
    /// The load's id, the same for every segment (its idempotency keys' prefix). Default: a
    /// new one.
    #[arg(long)]
    pub run_id: Option<String>,
    /// When every segment starts: Unix time in milliseconds on the coordinator's clock, like
    /// `$(( $(date +%s%3N) + 3000 ))`.
    #[arg(long)]
    pub start_at: Option<u64>,
    /// The coordinator's clock (`host:port` of `fgchaos clock`), read at start and end to place
    /// this history on its timeline. Default: this machine's clock.
    #[arg(long, requires = "start_at")]
    pub clock: Option<std::net::SocketAddr>,
}

#[derive(Debug, Clone, Args)]
pub struct MergeArgs {
    /// The history of every segment (`fgchaos load --segment`), each with its manifest beside
    /// it.
    #[arg(required = true)]
    pub histories: Vec<PathBuf>,
    /// Where the merged history goes (refused if it exists, unless --force).
    #[arg(long, default_value = "history.jsonl")]
    pub out: PathBuf,
    /// Replace --out if it exists.
    #[arg(long)]
    pub force: bool,
    /// The most clock skew of a generator against the coordinator that is merged (default
    /// 5 ms: `load::merge::MAX_SKEW`).
    #[arg(long)]
    pub max_skew: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct JoinArgs {
    /// `host:port` of the run's coordinator.
    #[arg(long)]
    pub coordinator: std::net::SocketAddr,
    /// This generator's segment of the load, `i/n`.
    #[arg(long)]
    pub segment: String,
    /// `host:port` of the entry this generator sends to; loopback only.
    #[arg(long)]
    pub entry: std::net::SocketAddr,
}

#[derive(Debug, Clone, Args)]
pub struct ClockArgs {
    /// Where to serve the clock (`GET /clock`).
    #[arg(long, default_value = "127.0.0.1:7478")]
    pub listen: std::net::SocketAddr,
}

#[derive(Debug, Clone, Args)]
pub struct ValidateArgs {
    #[arg(required = true)]
    pub scenarios: Vec<PathBuf>,
    /// Validate against this stack file instead of the built-in one.
    #[arg(long)]
    pub stack: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    #[arg(default_value = "scenarios")]
    pub dir: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct UpArgs {
    /// `local` (processes on loopback) or `swarm` (a stack deployed on Docker Swarm).
    #[arg(long, default_value = "local", value_parser = up_target())]
    pub target: TargetKind,
    /// Local: replace the built-in stack description.
    #[arg(long)]
    pub stack: Option<PathBuf>,
    /// Swarm: the stack's name.
    #[arg(long, env = "COMPOSE_PROJECT_NAME", default_value = DEFAULT_PROJECT)]
    pub project: String,
    /// Swarm: the stack file to deploy; given again, files merged onto it in order, as
    /// `docker stack deploy -c` does (docker/swarm/placement.yml spreads it over nodes).
    #[arg(long = "compose-file", default_value = "docker/swarm/stack.yml")]
    pub compose_files: Vec<PathBuf>,
    /// Swarm: the address a swarm initialised here advertises.
    #[arg(long, default_value = "127.0.0.1")]
    pub advertise_addr: String,
    /// Where the stack's directory (local) or the record of what `up` changed (swarm) goes.
    #[arg(long, env = "FGCHAOS_WORK_DIR", default_value = ".fgchaos/runs")]
    pub work_dir: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct DownArgs {
    /// `local` or `swarm`, as given to `up`.
    #[arg(long, default_value = "local", value_parser = up_target())]
    pub target: TargetKind,
    /// Swarm: the stack's name.
    #[arg(long, env = "COMPOSE_PROJECT_NAME", default_value = DEFAULT_PROJECT)]
    pub project: String,
    #[arg(long, env = "FGCHAOS_WORK_DIR", default_value = ".fgchaos/runs")]
    pub work_dir: PathBuf,
}

/// The targets `up` and `down` bring a stack up on: a compose project is compose's own.
fn up_target() -> impl TypedValueParser<Value = TargetKind> {
    PossibleValuesParser::new(["local", "swarm"])
        .map(|s| <TargetKind as clap::ValueEnum>::from_str(&s, false).unwrap_or(TargetKind::Local))
}

#[derive(Debug, Clone, Args)]
pub struct ProxyArgs {
    #[arg(long, default_value = "127.0.0.1:8474")]
    pub listen: std::net::SocketAddr,
    /// Create these proxies at start: a Toxiproxy `-config` file, a JSON array of
    /// `{"name", "listen", "upstream", "enabled"?}`.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct CleanupArgs {
    /// `local`: stray processes; `docker`: the compose project's containers and toxics;
    /// `swarm`: the stack's paused tasks and toxics; `auto`: local and docker (docker when an
    /// engine answers).
    #[arg(long, default_value = "auto", value_parser = target_flag())]
    pub target: TargetFlag,
    /// Docker target: the compose project to repair; swarm target: the stack.
    #[arg(long, env = "COMPOSE_PROJECT_NAME", default_value = DEFAULT_PROJECT)]
    pub project: String,
    #[arg(long, env = "FGCHAOS_WORK_DIR", default_value = ".fgchaos/runs")]
    pub work_dir: PathBuf,
    /// Also remove fgchaos toxics and re-enable proxies on this Toxiproxy API.
    #[arg(long)]
    pub toxiproxy: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct HaltArgs {
    /// The run id (`worker-crash-20261206T130000Z-3fa2`) or session id to stop; every running
    /// experiment when absent.
    pub id: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct GuardArgs {
    /// The run directory to heal.
    #[arg(long)]
    pub run_dir: PathBuf,
    #[arg(long)]
    pub target: TargetKind,
    /// The second stage, detached by the first: watch the pipe on stdin.
    #[arg(long)]
    pub watch: bool,
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn target_of(args: &[&str]) -> TargetFlag {
        let cli = Cli::try_parse_from([&["fgchaos", "run", "s.yaml"], args].concat()).unwrap();
        match cli.command {
            Command::Run(run) => run.target,
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn target_is_a_kind_or_auto() {
        assert_eq!(target_of(&[]), None);
        assert_eq!(target_of(&["--target", "auto"]), None);
        assert_eq!(target_of(&["--target", "local"]), Some(TargetKind::Local));
        assert_eq!(target_of(&["--target", "docker"]), Some(TargetKind::Docker));
        assert_eq!(target_of(&["--target", "swarm"]), Some(TargetKind::Swarm));
        let err = Cli::try_parse_from(["fgchaos", "run", "s.yaml", "--target", "k8s"]).unwrap_err();
        assert!(
            err.to_string()
                .contains("possible values: auto, local, docker, swarm"),
            "{err}"
        );
        // `up` and `down` bring a stack up locally or on Swarm; a compose project is compose's.
        let err = Cli::try_parse_from(["fgchaos", "up", "--target", "docker"]).unwrap_err();
        assert!(
            err.to_string().contains("possible values: local, swarm"),
            "{err}"
        );
    }
}
