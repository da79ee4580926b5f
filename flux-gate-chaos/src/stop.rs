//! What stops a run, decided here and acted on by the drive (docs/safety.md):
//! - the steady-state gate ([`warm_up`]): the answers before the first fault must meet the
//!   scenario's hypothesis, or no fault is injected;
//! - the stop conditions' watch ([`watch`]): a scenario's `abort_when:`, read while the run
//!   drives, or `fgchaos halt` — then the drive heals every fault, stops the load, settles
//!   and judges.
//!
//! Oversell and a halt are looked at every 100 ms, since they stop at once; the windowed
//! conditions and the probe once a second, over the last `over` of answers — and only once the
//! load has run that long, so a first slow second does not stop a run alone.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::load::recent::WindowStats;
use crate::load::Live;
use crate::model::{Abort, Warmup};
use crate::observe::backlog::Latest;
use crate::scenario::steady::Hypothesis;
use crate::scenario::stop::{AbortWhen, Probe};

/// How often oversell and a halt are looked at.
const TICK: Duration = Duration::from_millis(100);

/// What the watch reads.
pub struct Inputs {
    pub live: Arc<Live>,
    /// The sampler's lowest stock read so far.
    pub lowest_stock: Option<Arc<AtomicI64>>,
    /// The load's time zero.
    pub zero: Instant,
    /// Turns true when `fgchaos halt` asks this run to stop.
    pub halt: watch::Receiver<bool>,
}

/// A halt that never comes: for runs nobody can halt.
pub fn never() -> watch::Receiver<bool> {
    watch::channel(false).1
}

/// Watches until a condition holds (or a halt comes), and says which; never returns when
/// there is nothing to watch — the caller ends it with the load.
pub async fn watch(conditions: Option<AbortWhen>, inputs: Inputs) -> Abort {
    // The probe runs on its own: its GET may take up to its timeout, which must not hold back
    // the looks at oversell and a halt every 100 ms.
    let mut probe = conditions
        .as_ref()
        .and_then(|c| c.probe.clone())
        .map(|p| Probing::start(ProbeState::new(p)));
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last_second = 0;
    loop {
        tick.tick().await;
        let at_ms = u64::try_from(inputs.zero.elapsed().as_millis()).unwrap_or(u64::MAX);
        if *inputs.halt.borrow() {
            return abort(
                "halt",
                at_ms,
                "`fgchaos halt` asked this run to stop".into(),
            );
        }
        let Some(c) = &conditions else { continue };
        if let Some(seen) = oversold(c, inputs.lowest_stock.as_deref()) {
            return abort("oversell", at_ms, seen);
        }
        if let Some(seen) = probe.as_mut().and_then(Probing::failed) {
            return abort("probe", at_ms, seen);
        }
        let second = at_ms / 1000;
        if second == last_second {
            continue;
        }
        last_second = second;
        if let Some((condition, seen)) = windowed(c, &inputs.live, second) {
            return abort(condition, at_ms, seen);
        }
    }
}

/// A probe checked once a second on a task of its own, which says when it failed enough; the
/// task ends with this value.
struct Probing {
    task: tokio::task::JoinHandle<()>,
    failed: tokio::sync::oneshot::Receiver<String>,
}

impl Probing {
    fn start(mut state: ProbeState) -> Probing {
        let (tx, failed) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(1));
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                if let Some(seen) = state.check().await {
                    let _ = tx.send(seen);
                    return;
                }
            }
        });
        Probing { task, failed }
    }

    fn failed(&mut self) -> Option<String> {
        self.failed.try_recv().ok()
    }
}

impl Drop for Probing {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn abort(condition: &str, at_ms: u64, seen: String) -> Abort {
    Abort {
        condition: condition.to_owned(),
        at_ms,
        seen,
        healed_in_ms: None,
    }
}

fn oversold(c: &AbortWhen, lowest: Option<&AtomicI64>) -> Option<String> {
    let lowest = lowest?.load(Ordering::Relaxed);
    (c.oversell && lowest < 0)
        .then(|| format!("Redis stock sampled at {lowest} (stop when below 0)"))
}

/// The first windowed condition that holds over the `over` seconds before `second`.
fn windowed(c: &AbortWhen, live: &Live, second: u64) -> Option<(&'static str, String)> {
    let over = c.over.get().as_secs_f64().ceil() as u64;
    if second < over.max(1) {
        return None;
    }
    let w: WindowStats = live.recent.lock().ok()?.window(second - over, second);
    let last = format!("over the last {} ({} answers)", c.over, w.ops);
    if let Some(t) = c.availability {
        if w.ops > 0 && t.cmp.holds(w.availability * 100.0, t.percent) {
            let seen = format!(
                "availability {:.2}% {last} (stop when {t})",
                w.availability * 100.0
            );
            return Some(("availability", seen));
        }
    }
    if let Some(t) = c.p99 {
        if w.ops > 0 && t.holds(Duration::from_micros(w.p99_us())) {
            let seen = format!(
                "p99 {:.1} ms {last} (stop when {t})",
                w.p99_us() as f64 / 1000.0
            );
            return Some(("p99", seen));
        }
    }
    if let Some(most) = c.errors_5xx {
        if w.errors_5xx > most {
            let seen = format!(
                "{} 5xx answers {last} (stop when more than {most})",
                w.errors_5xx
            );
            return Some(("errors_5xx", seen));
        }
    }
    None
}

/// A probe and its failures in a row.
struct ProbeState {
    probe: Probe,
    http: Option<reqwest::Client>,
    failed: u32,
}

impl ProbeState {
    fn new(probe: Probe) -> Self {
        let http = reqwest::Client::builder()
            .timeout(probe.timeout.get())
            .no_proxy()
            .build()
            .ok();
        ProbeState {
            probe,
            http,
            failed: 0,
        }
    }

    /// One GET; `Some` once the probe has failed `fails` times in a row.
    async fn check(&mut self) -> Option<String> {
        let p = &self.probe;
        let why = match &self.http {
            None => Some("no HTTP client".to_owned()),
            Some(http) => match http.get(&p.url).send().await {
                Ok(r) if r.status().as_u16() == p.status => None,
                Ok(r) => Some(format!("answered {}", r.status().as_u16())),
                Err(e) if e.is_timeout() => Some(format!("no answer within {}", p.timeout)),
                Err(e) => Some(e.to_string()),
            },
        };
        match why {
            None => {
                self.failed = 0;
                None
            }
            Some(why) => {
                self.failed += 1;
                (self.failed >= p.fails).then(|| {
                    format!(
                        "{} failed {} time(s) in a row, last: {why} (want {})",
                        p.url, self.failed, p.status
                    )
                })
            }
        }
    }
}

/// Waits for the first fault's time (`first_at_ms` from `zero`), then holds the answers of the
/// whole seconds before it against `h`. `None` when `cancel` came first.
pub async fn warm_up(
    h: &Hypothesis,
    first_at_ms: u64,
    (live, backlog): (&Live, Option<&Latest>),
    zero: Instant,
    cancel: &mut watch::Receiver<bool>,
) -> Option<Warmup> {
    tokio::select! {
        () = crate::cancel::cancelled(cancel) => return None,
        () = tokio::time::sleep_until((zero + Duration::from_millis(first_at_ms)).into()) => {}
    }
    let seconds = first_at_ms / 1000;
    if seconds == 0 {
        return Some(Warmup {
            seconds,
            ops: 0,
            held: true,
            summary: "the first fault fires within the first second: no warm-up to read".into(),
        });
    }
    let w = live.recent.lock().ok()?.window(0, seconds);
    if w.ops == 0 {
        return Some(Warmup {
            seconds,
            ops: 0,
            held: false,
            summary: format!("no answer completed in the {seconds} s before the first fault"),
        });
    }
    let age_ms = backlog
        .and_then(|b| b.lock().ok().and_then(|p| *p))
        .and_then(|p| p.age_ms);
    let (held, summary) = match (
        h.holds(w.availability, w.quantiles_us),
        h.backlog_holds(age_ms),
    ) {
        (Ok(seen), Ok(backlog)) if backlog.is_empty() => (true, seen),
        (Ok(seen), Ok(backlog)) => (true, format!("{seen}, {backlog}")),
        (Err(missed), _) | (_, Err(missed)) => (false, missed),
    };
    Some(Warmup {
        seconds,
        ops: w.ops,
        held,
        summary,
    })
}
