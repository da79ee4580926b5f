//! Step 3 of a run: start the sale, then drive the load while the nemesis applies and heals
//! the planned faults, then undo whatever is still broken and put the stack back as it began.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::together::Together;
use super::{now_utc, placed, progress_bar, Run, Times};
use crate::load::{Live, LoadPlan, LoadSummary};
use crate::model::{Abort, Warmup};
use crate::nemesis::plan::PlanError;
use crate::nemesis::{self, EventKind, Executor, Injection, TimelineEvent};
use crate::observe::lag::{self, LagSource};
use crate::observe::{BacklogWatch, ObserveError, RedisSource, Sampler};
use crate::scenario::steady::Hypothesis;
use crate::scenario::stop::AbortWhen;
use crate::scenario::{validate, Scenario};
use crate::stop;
use crate::target::placement::GeneratorHost;
use crate::target::{Endpoints, TargetError};
use crate::toxiproxy;

/// Why a drive could not complete: the journal records it and the verdict is `harness error`.
#[derive(Debug, thiserror::Error)]
pub enum DriveError {
    #[error("starting the sale at {entry}/init: {reason}")]
    StartSale { entry: String, reason: String },
    #[error("planning the faults: {0}")]
    Plan(#[from] PlanError),
    #[error("entry address {entry}: {source}")]
    Entry {
        entry: String,
        #[source]
        source: std::net::AddrParseError,
    },
    #[error("sampling the stock: {0}")]
    Sampler(#[source] ObserveError),
    #[error("watching the backlog: {0}")]
    Backlog(#[source] ObserveError),
    #[error("the load: {0}")]
    Load(String),
    #[error("restoring the stack after the faults: {0}")]
    Restore(#[source] TargetError),
    #[error("fault {fault} `{label}` ({kind}) did not land: {error}")]
    NotLanded {
        fault: usize,
        label: String,
        kind: EventKind,
        error: String,
    },
    #[error("some faults could not be undone")]
    NotUndone,
    #[error("the load's generators on the stack's nodes: {0}")]
    Generators(String),
}

/// What step 3 returned: the plan, the timeline and the load's summary — kept when the drive
/// failed part way too, so the journal shows how far it got.
#[derive(Debug, Default)]
pub struct Driven {
    /// Unix ms of the load's time zero (0 when the load never started).
    pub load_zero_unix_ms: u64,
    pub faults: Vec<Injection>,
    pub timeline: Vec<TimelineEvent>,
    pub load: Option<LoadSummary>,
    /// Ctrl-C stopped the load and the nemesis.
    pub interrupted: bool,
    /// A stop condition held (or `fgchaos halt` asked): every fault was healed, then the load
    /// stopped; the run still settles and is judged.
    pub aborted: Option<Abort>,
    /// The warm-up, held against the steady-state hypothesis (when there was one to read).
    pub warm_up: Option<Warmup>,
    /// Settle's clocks, when the drive completed.
    times: Option<Times>,
    failure: Option<DriveError>,
}

impl Driven {
    /// Why the drive did not complete: a harness error.
    pub fn error(&self) -> Option<String> {
        self.failure.as_ref().map(ToString::to_string)
    }

    /// Settle's clocks, when there is something to settle: the drive completed, uninterrupted,
    /// and its faults were injected (a system not in its steady state had none).
    pub fn completed(&self) -> Option<&Times> {
        let not_run = self.warm_up.as_ref().is_some_and(|w| !w.held);
        if self.interrupted || not_run || self.failure.is_some() {
            None
        } else {
            self.times.as_ref()
        }
    }

    /// Recovery counts from the last change: the end of the load or the last heal.
    fn last_change_ms(&self) -> u64 {
        let load_ms = self.load.as_ref().map_or(0, |l| l.elapsed_ms);
        self.timeline
            .iter()
            .map(|e| e.finished_ms)
            .max()
            .unwrap_or(0)
            .max(load_ms)
    }
}

impl Run {
    /// Starts the sale, plans the faults, runs load and faults together, undoes and restores.
    pub async fn drive(
        &mut self,
        progress: bool,
        interrupt: watch::Receiver<bool>,
        halt: watch::Receiver<bool>,
    ) -> Driven {
        let mut driven = Driven::default();
        let mut placed = None;
        match self
            .drive_into(&mut driven, &mut placed, progress, interrupt, halt)
            .await
        {
            Ok(times) => driven.times = Some(times),
            Err(e) => driven.failure = Some(e),
        }
        if let Some(host) = placed {
            if let Err(e) = placed::remove(host, driven.load.as_mut()).await {
                driven.failure.get_or_insert(e);
            }
        }
        driven
    }

    async fn drive_into(
        &mut self,
        d: &mut Driven,
        placed: &mut Option<Box<dyn GeneratorHost>>,
        progress: bool,
        interrupt: watch::Receiver<bool>,
        halt: watch::Receiver<bool>,
    ) -> Result<Times, DriveError> {
        let ep = self.target.endpoints().clone();
        d.faults = self.open_sale(&ep).await?;
        let plan = self.load_plan(&ep)?;
        let conditions = self.opened.scenario.abort_when.clone();
        let gate = (!d.faults.is_empty())
            .then(|| Hypothesis::of(&self.opened.scenario, self.opened.target));
        let keep = keep_seconds(conditions.as_ref(), gate.as_ref().and(d.faults.first()));
        let live = Arc::new(Live::keeping(keep));
        let history = self.out_dir.join(&self.opened.history);
        let (run_id, target) = (self.opened.run_id.as_str(), self.target.as_ref());
        let what = (run_id, &plan, history.as_path());
        let coordinator = placed::place(target, what, live.clone(), placed, &interrupt).await?;
        let start = Instant::now();
        d.load_zero_unix_ms = (now_utc().unix_timestamp_nanos() / 1_000_000) as u64;
        // The target's endpoints as faults and the restore change them (a container started
        // or restarted can come back at another address), for the backlog watch.
        let endpoints = watch::Sender::new(ep.clone());
        self.start_observers(&endpoints, start).await?;
        let active = Arc::new(Mutex::new(Vec::new()));
        let bar = progress
            .then(|| progress_bar::show(plan.duration, live.clone(), active.clone(), start));
        let proxy = toxiproxy::Client::new(ep.toxiproxy.clone());
        let watch = stop::Inputs {
            live: live.clone(),
            lowest_stock: self.sampler.as_ref().map(Sampler::lowest),
            zero: start,
            halt: halt.clone(),
        };
        let executor = Executor::new(self.target.as_mut(), proxy, start, active, &endpoints);
        let ended = Together {
            executor: &executor,
            faults: &d.faults,
            plan,
            coordinator,
            history: &history,
            live,
            conditions,
            watch,
            gate,
            backlog: self.backlog.as_ref().map(BacklogWatch::latest),
        }
        .run(interrupt.clone())
        .await;
        let load_result = ended.load;
        d.aborted = ended.abort;
        d.warm_up = ended.warm_up;
        let undone = executor.undo_all().await;
        d.timeline = executor.into_timeline();
        d.interrupted = *interrupt.borrow();
        if let Some(bar) = bar {
            bar.finish();
        }
        d.load = Some(load_result.map_err(|e| DriveError::Load(e.to_string()))?);
        self.target.restore().await.map_err(DriveError::Restore)?;
        endpoints.send_replace(self.target.endpoints().clone());
        every_step_landed(&d.timeline)?;
        if !(undone && ended.undone_at_abort) {
            return Err(DriveError::NotUndone);
        }
        Ok(Times {
            zero: start,
            last_change: start + Duration::from_millis(d.last_change_ms()),
        })
    }

    /// Starts the sale, and plans the faults on the instances the stack runs now.
    async fn open_sale(&self, ep: &Endpoints) -> Result<Vec<Injection>, DriveError> {
        group_at_rest(ep).await;
        let (product, scenario) = (&self.opened.product, &self.opened.scenario);
        start_sale(&ep.entry, &ep.admin_token, product, scenario).await?;
        let t = self.target.as_ref();
        Ok(nemesis::plan(scenario, self.opened.seed, &|svc| {
            t.instances_of(svc)
        })?)
    }

    /// The open-model load the scenario asks for, at the stack's entry.
    fn load_plan(&self, ep: &Endpoints) -> Result<LoadPlan, DriveError> {
        let entry: SocketAddr =
            ep.entry
                .trim_start_matches("http://")
                .parse()
                .map_err(|source| DriveError::Entry {
                    entry: ep.entry.clone(),
                    source,
                })?;
        let s = &self.opened.scenario;
        Ok(LoadPlan {
            entry,
            product: self.opened.product.clone(),
            key_prefix: self.opened.run_id.clone(),
            seed: self.opened.seed,
            load: s.load.clone(),
            duration: validate::load_duration(&s.load).unwrap_or_default(),
            segment: crate::load::Segment::WHOLE,
        })
    }

    /// The stock sampler and the backlog watch, from the load's time zero to the end of
    /// settle (step 5 stops them).
    async fn start_observers(
        &mut self,
        endpoints: &watch::Sender<Endpoints>,
        start: Instant,
    ) -> Result<(), DriveError> {
        let ep = endpoints.borrow().clone();
        let source = RedisSource::new(&ep).map_err(DriveError::Sampler)?;
        self.sampler = Some(
            Sampler::start(source, &self.opened.product, start)
                .await
                .map_err(DriveError::Sampler)?,
        );
        self.backlog =
            Some(BacklogWatch::start(endpoints.subscribe(), start).map_err(DriveError::Backlog)?);
        Ok(())
    }
}

/// How many seconds of answers the live window keeps: the stop conditions' window, and the
/// warm-up before the first fault the gate reads.
fn keep_seconds(conditions: Option<&AbortWhen>, first: Option<&Injection>) -> u64 {
    let window = conditions.map_or(0, |c| c.over.get().as_secs() + 1);
    let warm_up = first.map_or(0, |f| f.at_ms / 1000 + 1);
    window.max(warm_up)
}

/// A step that did not land makes the run a harness error: its first one, named.
fn every_step_landed(timeline: &[TimelineEvent]) -> Result<(), DriveError> {
    match timeline.iter().find(|e| !e.ok) {
        Some(bad) => Err(DriveError::NotLanded {
            fault: bad.fault,
            label: bad.label.clone(),
            kind: bad.kind,
            error: bad.error.clone().unwrap_or_default(),
        }),
        None => Ok(()),
    }
}

/// The longest wait for the consumer group to be at rest before the sale starts.
const GROUP_AT_REST_LIMIT: Duration = Duration::from_secs(30);

/// Waits until the consumer lag reads known — every partition held by a worker that reports
/// it — before the sale starts, so the run begins from a group at rest. Attaching to a compose
/// project stops the instances a scenario starts later (`scale: … started:`), and the group
/// rebalances without them: on tansu that takes 3-4 s (a rejoining follower waits 3 s), which
/// fell inside the baseline, an unnamed fault of the harness's own. Reading the broker (the
/// local target) the lag is known at once. Not fatal: a group that never reads known leaves a
/// warning, and settle, which needs the lag too, says so in the verdict.
async fn group_at_rest(ep: &Endpoints) {
    let http = match lag::metrics_client(Duration::from_secs(1)) {
        Ok(http) => http,
        Err(e) => {
            tracing::warn!(error = %e, "not waiting for the consumer group to be at rest");
            return;
        }
    };
    match lag::wait_known(&LagSource::of(ep), &http, GROUP_AT_REST_LIMIT).await {
        Ok(waited) => tracing::info!(?waited, "consumer group at rest"),
        Err(e) => tracing::warn!(
            error = %e,
            limit = ?GROUP_AT_REST_LIMIT,
            "the consumer lag is still unknown; starting the sale anyway"
        ),
    }
}

/// `POST /init` through the entry: (re)starts the sale the load buys from.
pub async fn start_sale(
    entry: &str,
    token: &str,
    product: &str,
    s: &Scenario,
) -> Result<(), DriveError> {
    let failed = |reason: String| DriveError::StartSale {
        entry: entry.to_owned(),
        reason,
    };
    let body = flux_gate_contract::http::InitRequest {
        product_id: product.to_owned(),
        quantity: i64::from(s.sale.stock),
        per_user_limit: s.sale.per_user_limit.map(i64::from),
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .no_proxy()
        .build()
        .map_err(|e| failed(e.to_string()))?;
    let resp = client
        .post(format!("{entry}/init"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .map_err(|e| failed(e.to_string()))?;
    let status = resp.status();
    if !status.is_success() {
        let text = resp.text().await.unwrap_or_default();
        return Err(failed(format!("{status} {text}")));
    }
    Ok(())
}
