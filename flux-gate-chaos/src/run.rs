//! One run of one scenario: validate, bring the stack up, start the sale, drive load while the
//! nemesis applies and heals faults, undo whatever is still broken, write the journal, tear
//! down. Every exit path — success, failure, Ctrl-C — undoes faults and tears the stack down.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::watch;

use crate::docker::{DockerSpec, DockerTarget};
use crate::fault::{self, Executor};
use crate::journal::{self, Journal};
use crate::load::{self, history, Live, LoadPlan};
use crate::record::{LogTails, Record};
use crate::report;
use crate::scenario::{self, validate, Scenario, ScenarioError};
use crate::stack::{LocalStack, StackSpec};
use crate::target::Target;
use crate::toxiproxy;
use crate::verdict::samples::{self, Sampler};
use crate::verdict::state::{self, Reader};
use crate::verdict::{self, Judgement};

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub seed: Option<u64>,
    /// Journals, histories and logs go to `<report_dir>/<run id>/`.
    pub report_dir: PathBuf,
    /// Run directories (data) go to `<work_dir>/<run id>/`.
    pub work_dir: PathBuf,
    pub keep: bool,
    /// Replaces the built-in stack description of the target (on the local target a
    /// scenario's own `stack:` wins over this).
    pub stack: Option<PathBuf>,
    pub target: TargetChoice,
    pub progress: bool,
}

/// Where a run runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetChoice {
    /// Starts the whole stack as processes on loopback, and stops it after.
    Local,
    /// Attaches to a running Docker Compose project; leaves it running after.
    Docker { project: String },
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    #[error(transparent)]
    Stack(#[from] Box<scenario::load::SyntaxError>),
    #[error("{0}")]
    Harness(String),
}

/// What a finished run left behind.
#[derive(Debug)]
pub struct RunOutcome {
    pub journal_path: PathBuf,
    pub journal: Journal,
    pub judgement: Judgement,
    /// The markdown report.
    pub report: PathBuf,
}

/// What a run starts (local) or attaches to (docker, with the project's name).
enum Spec {
    Local(StackSpec),
    Docker(DockerSpec, String),
}

/// Reads and parses a scenario file (no names checked yet).
pub fn load_scenario(path: &Path) -> Result<(Scenario, String), RunError> {
    let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
        file: path.display().to_string(),
        source,
    })?;
    let s = scenario::parse_str(&text, &path.display().to_string())?;
    Ok((s, text))
}

/// Every service and link the scenario names must exist on the target.
pub fn check_names(path: &Path, s: &Scenario, names: &validate::Names) -> Result<(), RunError> {
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

/// The local stack a scenario runs on: its own `stack:`, else `stack_override`, else built in.
fn local_spec(
    path: &Path,
    s: &Scenario,
    stack_override: Option<&Path>,
) -> Result<StackSpec, RunError> {
    Ok(match (&s.stack, stack_override) {
        (Some(rel), _) => StackSpec::load(&path.parent().unwrap_or(Path::new(".")).join(rel))?,
        (None, Some(p)) => StackSpec::load(p)?,
        (None, None) => StackSpec::built_in()?,
    })
}

/// How the docker target reads a compose project: `stack` or the built-in description.
pub fn docker_spec(stack: Option<&Path>) -> Result<DockerSpec, RunError> {
    Ok(match stack {
        Some(p) => DockerSpec::load(p)?,
        None => DockerSpec::built_in()?,
    })
}

/// Loads and validates a scenario against the local stack it runs on, before anything starts.
pub fn prepare(
    path: &Path,
    stack_override: Option<&Path>,
) -> Result<(Scenario, String, StackSpec), RunError> {
    let (s, text) = load_scenario(path)?;
    let spec = local_spec(path, &s, stack_override)?;
    check_names(path, &s, &spec.names(false))?;
    Ok((s, text, spec))
}

fn now_utc() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

/// `worker-crash-20261127T031500Z-3fa2`: sortable, unique, readable.
pub fn run_id(name: &str) -> String {
    let t = now_utc();
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..4];
    format!(
        "{name}-{:04}{:02}{:02}T{:02}{:02}{:02}Z-{suffix}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Runs one scenario file on the chosen target.
pub async fn run(
    path: &Path,
    opts: &RunOptions,
    interrupt: watch::Receiver<bool>,
) -> Result<RunOutcome, RunError> {
    let (s, text) = load_scenario(path)?;
    // The local stack's names are known before it starts; the docker project's only once
    // attached (checked below).
    let stack_spec = match &opts.target {
        TargetChoice::Local => {
            let spec = local_spec(path, &s, opts.stack.as_deref())?;
            check_names(path, &s, &spec.names(false))?;
            Spec::Local(spec)
        }
        TargetChoice::Docker { project } => {
            Spec::Docker(docker_spec(opts.stack.as_deref())?, project.clone())
        }
    };
    let id = run_id(&s.name);
    let seed = opts.seed.unwrap_or_else(rand::random);
    let out_dir = opts.report_dir.join(&id);
    std::fs::create_dir_all(&out_dir)
        .map_err(|e| RunError::Harness(format!("creating {}: {e}", out_dir.display())))?;
    let run_dir = opts.work_dir.join(&id);
    let admin_token = uuid::Uuid::new_v4().simple().to_string();
    let product = if s.sale.exact {
        s.sale.product.clone()
    } else {
        format!("{}-{}", s.sale.product, &id[id.len() - 4..])
    };

    let mut journal = Journal {
        format: journal::FORMAT,
        run_id: id.clone(),
        fgchaos_version: env!("CARGO_PKG_VERSION").to_owned(),
        scenario_file: path.display().to_string(),
        scenario_hash: journal::fingerprint(&text),
        scenario: s.clone(),
        seed,
        target: match opts.target {
            TargetChoice::Local => "local".into(),
            TargetChoice::Docker { .. } => "docker".into(),
        },
        product: product.clone(),
        stock: s.sale.stock,
        per_user_limit: s.sale.per_user_limit,
        started_at: now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        load_zero_unix_ms: 0,
        endpoints: Default::default(),
        environment: Default::default(),
        faults: Vec::new(),
        timeline: Vec::new(),
        history: PathBuf::from("history.jsonl"),
        samples: None,
        sampling: None,
        load: None,
        logs: None,
        harness_error: None,
        interrupted: false,
        settled: None,
    };
    let journal_path = out_dir.join("journal.json");

    let started: Result<Box<dyn Target>, String> = match stack_spec {
        Spec::Docker(spec, project) => {
            tracing::info!(run = %id, project, "attaching to the compose project");
            match DockerTarget::attach(spec, &project, &run_dir).await {
                Ok(t) => Ok(Box::new(t)),
                Err(e) => Err(e.to_string()),
            }
        }
        Spec::Local(spec) => {
            tracing::info!(run = %id, dir = %run_dir.display(), "starting the local stack");
            match LocalStack::start(spec, &run_dir, &admin_token).await {
                Ok(t) => Ok(Box::new(t)),
                Err(e) => Err(format!(
                    "the stack did not start: {e} (logs in {})",
                    run_dir.join("logs").display()
                )),
            }
        }
    };
    let mut stack = match started {
        Ok(t) => t,
        Err(e) => {
            journal.harness_error = Some(e.clone());
            let _ = journal.write(&journal_path);
            return Err(RunError::Harness(e));
        }
    };
    if let Err(e) = check_names(path, &s, &stack.names()) {
        let _ = stack.teardown(false).await;
        let _ = std::fs::remove_dir_all(&run_dir);
        let _ = std::fs::remove_dir_all(&out_dir);
        return Err(e);
    }
    journal.endpoints = stack.endpoints().clone();
    journal.environment = stack.environment();
    let mut sampler = None;
    let result = drive(
        &s,
        seed,
        &product,
        &out_dir,
        stack.as_mut(),
        &mut journal,
        opts,
        interrupt,
        &mut sampler,
    )
    .await;
    match result {
        Err(e) => {
            journal.harness_error.get_or_insert(e);
        }
        Ok(_) if journal.interrupted => {}
        Ok(times) => {
            let ep = stack.endpoints();
            match Reader::new(ep, &ep.consumer_group, &product, i64::from(s.sale.stock)) {
                Ok(reader) => {
                    let settled = state::settle(
                        &reader,
                        times.zero,
                        times.last_change,
                        s.settle.timeout.get(),
                        s.settle.quiet.get(),
                    )
                    .await;
                    journal.settled = Some(settled);
                }
                Err(e) => journal.harness_error = Some(format!("reading the final state: {e}")),
            }
        }
    }
    // Sampling spans sale start to the end of settle.
    let samples = match sampler {
        Some(sampler) => {
            let (samples, sampling) = sampler.stop().await;
            let file = PathBuf::from("samples.jsonl");
            match samples::write(&out_dir.join(&file), &samples) {
                Ok(()) => {
                    journal.samples = Some(file);
                    journal.sampling = Some(sampling);
                }
                Err(e) => tracing::warn!(error = %e, "stock samples not written"),
            }
            samples
        }
        None => Vec::new(),
    };
    let keep = opts.keep || journal.harness_error.is_some();
    if let Err(e) = stack.teardown(keep).await {
        tracing::warn!(error = %e, "teardown");
    }
    // Keep the service logs with the journal.
    let logs_to = out_dir.join("logs");
    if let Some(logs) = stack.logs() {
        if std::fs::rename(&logs, &logs_to).is_ok() {
            journal.logs = Some(PathBuf::from("logs"));
        }
    }
    if !keep {
        let _ = std::fs::remove_dir_all(&run_dir);
    }
    // An unreadable history cannot be judged: a harness error, not "every row unsent".
    let history_path = out_dir.join(&journal.history);
    let ops = match history::read(&history_path) {
        Ok(ops) => ops,
        Err(e) => {
            journal.harness_error.get_or_insert_with(|| {
                format!("reading the history {}: {e}", history_path.display())
            });
            Vec::new()
        }
    };
    journal
        .write(&journal_path)
        .map_err(|e| RunError::Harness(format!("writing {}: {e}", journal_path.display())))?;
    let logs = journal
        .logs
        .as_ref()
        .map(|rel| LogTails::read_dir(&out_dir.join(rel)))
        .unwrap_or_default();
    let record = Record {
        journal,
        ops,
        samples,
        logs,
    };
    let judgement = verdict::judge(&record);
    let report = report::write(&opts.report_dir, &record, &judgement)
        .map_err(|e| RunError::Harness(format!("writing the report: {e}")))?;
    Ok(RunOutcome {
        journal_path,
        journal: record.journal,
        judgement,
        report,
    })
}

/// When the load started and when the last thing changed (the end of the load or the last
/// heal): settle's clocks.
struct Times {
    zero: Instant,
    last_change: Instant,
}

#[allow(clippy::too_many_arguments)]
async fn drive(
    s: &Scenario,
    seed: u64,
    product: &str,
    out_dir: &Path,
    target: &mut dyn Target,
    journal: &mut Journal,
    opts: &RunOptions,
    interrupt: watch::Receiver<bool>,
    sampler: &mut Option<Sampler>,
) -> Result<Times, String> {
    let ep = target.endpoints().clone();
    start_sale(&ep.entry, &ep.admin_token, product, s).await?;
    let faults = {
        let t: &dyn Target = target;
        fault::plan(s, seed, &|svc| t.instances_of(svc))?
    };
    journal.faults = faults.clone();
    let entry: SocketAddr = ep
        .entry
        .trim_start_matches("http://")
        .parse()
        .map_err(|e| format!("entry address {}: {e}", ep.entry))?;
    let duration = validate::load_duration(&s.load).unwrap_or_default();
    let plan = LoadPlan {
        entry,
        product: product.to_owned(),
        key_prefix: journal.run_id.clone(),
        seed,
        load: s.load.clone(),
        duration,
    };
    let live = Arc::new(Live::default());
    let active = Arc::new(Mutex::new(Vec::new()));
    let proxy = toxiproxy::Client::new(ep.toxiproxy.clone());
    let start = Instant::now();
    journal.load_zero_unix_ms = (now_utc().unix_timestamp_nanos() / 1_000_000) as u64;
    *sampler = Some(Sampler::start(&ep.redis, product, start)?);
    let bar = opts
        .progress
        .then(|| progress(duration, live.clone(), active.clone(), start));

    let mut executor = Executor::new(target, proxy, start, active.clone());
    let history = out_dir.join("history.jsonl");
    let (load_result, ()) = tokio::join!(
        load::run(plan, &history, live.clone(), interrupt.clone()),
        executor.run(&faults, interrupt.clone()),
    );
    let undone = executor.undo_all().await;
    journal.timeline = std::mem::take(&mut executor.timeline);
    journal.interrupted = *interrupt.borrow();
    drop(executor);
    if let Some((bar, ticker)) = bar {
        ticker.abort();
        bar.finish_and_clear();
    }
    let summary = load_result.map_err(|e| e.to_string())?;
    journal.load = Some(summary);
    target
        .restore()
        .await
        .map_err(|e| format!("restoring the stack after the faults: {e}"))?;
    if let Some(bad) = journal.timeline.iter().find(|e| !e.ok) {
        return Err(format!(
            "fault {} `{}` ({}) did not land: {}",
            bad.fault,
            bad.label,
            bad.phase,
            bad.error.clone().unwrap_or_default()
        ));
    }
    if !undone {
        return Err("some faults could not be undone".into());
    }
    // Recovery counts from the last change: the end of the load or the last heal.
    let load_ms = journal.load.as_ref().map_or(0, |l| l.elapsed_ms);
    let last_ms = journal
        .timeline
        .iter()
        .map(|e| e.finished_ms)
        .max()
        .unwrap_or(0)
        .max(load_ms);
    Ok(Times {
        zero: start,
        last_change: start + Duration::from_millis(last_ms),
    })
}

/// `POST /init` through the entry: (re)starts the sale the load buys from.
pub async fn start_sale(
    entry: &str,
    token: &str,
    product: &str,
    s: &Scenario,
) -> Result<(), String> {
    let body = flux_gate_contract::http::InitRequest {
        product_id: product.to_owned(),
        quantity: i64::from(s.sale.stock),
        per_user_limit: s.sale.per_user_limit.map(i64::from),
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .no_proxy()
        .build()
        .map_err(|e| e.to_string())?;
    let resp = client
        .post(format!("{entry}/init"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .map_err(|e| format!("starting the sale at {entry}/init: {e}"))?;
    let status = resp.status();
    if !status.is_success() {
        let text = resp.text().await.unwrap_or_default();
        return Err(format!("starting the sale: {status} {text}"));
    }
    Ok(())
}

fn progress(
    duration: Duration,
    live: Arc<Live>,
    active: Arc<Mutex<Vec<String>>>,
    start: Instant,
) -> (ProgressBar, tokio::task::JoinHandle<()>) {
    let bar = ProgressBar::new(duration.as_secs().max(1));
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len}s {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let b = bar.clone();
    let ticker = tokio::spawn(async move {
        let mut last = (0u64, Instant::now());
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let sent = live.sent.load(Ordering::Relaxed);
            let rate = (sent - last.0) as f64 / last.1.elapsed().as_secs_f64().max(0.001);
            last = (sent, Instant::now());
            let faults = active.lock().map(|a| a.join(", ")).unwrap_or_default();
            b.set_position(start.elapsed().as_secs());
            b.set_message(format!(
                "{rate:>7.0} req/s  ok {} fail {} info {}  faults: {}",
                live.ok.load(Ordering::Relaxed),
                live.fail.load(Ordering::Relaxed),
                live.info.load(Ordering::Relaxed),
                if faults.is_empty() {
                    "none".into()
                } else {
                    faults
                }
            ));
        }
    });
    (bar, ticker)
}
