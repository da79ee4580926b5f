//! The load generator: order attempts over HTTP/1.1 keep-alive connections, each recorded as
//! one [`Op`] of the history.
//!
//! Open model: a dispatcher releases tickets at their [`Schedule`] times into a queue that
//! `connections` workers drain; a ticket waiting for a free connection keeps its intended
//! time, so queueing shows up as latency. Closed model: each worker is a virtual user. Either
//! way the load stops by itself at `duration` or `max_requests`, and goes only to the stack's
//! entry address.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use flux_gate_contract::http::{Answer, IDEMPOTENCY_HEADER};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::sync::{mpsc, watch};

use super::history::{classify, Op, Outcome, Recorder, SecondStats, Totals};
use super::out::Out;
use super::recent::Recent;
use super::schedule::Schedule;
use super::segment::Segment;
use crate::scenario::Load;

/// What to send and where.
#[derive(Debug, Clone)]
pub struct LoadPlan {
    /// The entry address (`127.0.0.1:port`).
    pub entry: SocketAddr,
    pub product: String,
    /// Prefix of every idempotency key (unique per run).
    pub key_prefix: String,
    pub seed: u64,
    pub load: Load,
    pub duration: Duration,
    /// The share of the load this generator sends ([`Segment::WHOLE`]: all of it).
    pub segment: Segment,
}

/// What others read while the load runs: counters for the progress bar, and the last seconds
/// of answers for the stop conditions.
#[derive(Debug, Default)]
pub struct Live {
    pub sent: AtomicU64,
    pub ok: AtomicU64,
    pub fail: AtomicU64,
    pub info: AtomicU64,
    pub recent: std::sync::Mutex<Recent>,
    /// Whether `recent` keeps anything: without a stop condition or a fault to gate, the
    /// history writer does not take its lock at all.
    keeps: bool,
}

impl Live {
    /// Counters, and the answers of the last `keep` seconds.
    pub fn keeping(keep: u64) -> Live {
        Live {
            recent: std::sync::Mutex::new(Recent::keeping(keep)),
            keeps: keep > 0,
            ..Live::default()
        }
    }

    /// Counts an answer a generator elsewhere heard (its op, come to the coordinator): what
    /// a generator in this process counts as it sends and records.
    pub fn observe(&self, op: &Op) {
        self.sent.fetch_add(1, Ordering::Relaxed);
        self.count(op);
        self.remember(op);
    }

    fn count(&self, op: &Op) {
        let counter = match op.outcome {
            Outcome::Ok => &self.ok,
            Outcome::Fail => &self.fail,
            Outcome::Info => &self.info,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn remember(&self, op: &Op) {
        if self.keeps {
            if let Ok(mut recent) = self.recent.lock() {
                recent.add(op);
            }
        }
    }
}

/// What the load did.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct LoadSummary {
    pub totals: Totals,
    pub seconds: Vec<SecondStats>,
    /// Tickets still queued when the load's time was up (the system could not keep up).
    pub not_sent: u64,
    pub elapsed_ms: u64,
    /// The generators that made the load together, when there were several (`generators:`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub generators: Vec<super::manifest::GeneratorRecord>,
    /// This machine's wall clock at the load's time zero, the instant its operations' times
    /// count from (a segment's manifest places them with it; not kept in the journal).
    #[serde(skip)]
    pub started_unix_us: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("writing the history {path}: {source}")]
    History {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// splitmix64: a fast, well-mixed hash for deterministic per-request choices.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The attempt a sequence number stands for: its own key and user, or — for a duplicate —
/// those of an earlier attempt (followed back to the original). Pure: same seed, same load.
pub fn attempt(
    plan_seed: u64,
    seq: u64,
    users: u32,
    duplicate_ratio: f64,
) -> (u64, Option<u64>, u64) {
    let mut origin = seq;
    let mut dup_of = None;
    // Each step goes strictly back, so this ends; bounded anyway.
    for _ in 0..64 {
        let r = mix(plan_seed ^ origin.wrapping_mul(0xD6E8_FEB8_6659_FD93));
        let unit = (r >> 11) as f64 / (1u64 << 53) as f64;
        let is_dup = origin > 0 && unit < duplicate_ratio;
        if !is_dup {
            break;
        }
        let earlier = mix(r) % origin;
        dup_of.get_or_insert(earlier);
        origin = earlier;
    }
    let user = mix(plan_seed.rotate_left(17) ^ origin) % u64::from(users.max(1));
    (origin, dup_of, user)
}

struct Shared {
    plan: LoadPlan,
    start: Instant,
    /// No request is sent after this (load end + timeout).
    hard_end: Instant,
    live: Arc<Live>,
    ops: mpsc::UnboundedSender<Op>,
    next_seq: AtomicU64,
}

/// Runs the load; returns once every worker stopped and the history is on disk.
///
/// Each attempt goes schedule → send → record: `release_tickets` (open model) or a
/// `virtual_user` (closed model) decides when it is due, `send` makes it, `record` counts it
/// and hands it to `write_history`.
pub async fn drive(
    plan: LoadPlan,
    history: &Out,
    live: Arc<Live>,
    cancel: watch::Receiver<bool>,
) -> Result<LoadSummary, LoadError> {
    let hist_err = |source| LoadError::History {
        path: history.describe(),
        source,
    };
    let recorder = history.recorder().map_err(hist_err)?;
    let (tx, rx) = mpsc::unbounded_channel::<Op>();
    let writer = tokio::spawn(write_history(recorder, rx, live.clone()));

    let start = Instant::now();
    let started_unix_us = super::clock::now_unix_us();
    let timeout = plan.load.timeout.get();
    let shared = Arc::new(Shared {
        hard_end: start + plan.duration + timeout,
        start,
        live,
        ops: tx,
        next_seq: AtomicU64::new(0),
        plan,
    });
    let not_sent = match Schedule::of(&shared.plan.load, shared.plan.duration) {
        Some(schedule) => open_model(&shared, &schedule, cancel).await,
        None => {
            closed_model(&shared, &cancel).await;
            0
        }
    };
    let elapsed_ms = start.elapsed().as_millis() as u64;
    // The workers' clones are gone: this drops the last sender, so the writer finishes.
    drop(shared);
    let (seconds, totals) = writer
        .await
        .map_err(|e| hist_err(std::io::Error::other(e.to_string())))?
        .map_err(hist_err)?;
    Ok(LoadSummary {
        totals,
        seconds,
        not_sent,
        elapsed_ms,
        generators: Vec::new(),
        started_unix_us,
    })
}

/// How often the history's buffer is written out: what a coordinator's live window lags a
/// placed generator's answers by, at most (decisions §69); ten small writes a second for a
/// file.
pub const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// Writes every op to the history as it arrives, and into the live window, until the last
/// sender is dropped. (One task does both: the window's lock is taken by one writer per
/// generator.)
async fn write_history(
    mut recorder: Recorder,
    mut ops: mpsc::UnboundedReceiver<Op>,
    live: Arc<Live>,
) -> std::io::Result<(Vec<SecondStats>, Totals)> {
    let mut flush = tokio::time::interval(FLUSH_EVERY);
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            op = ops.recv() => match op {
                Some(op) => {
                    recorder.record(&op)?;
                    live.remember(&op);
                }
                None => break,
            },
            _ = flush.tick() => recorder.flush()?,
        }
    }
    recorder.finish()
}

/// Open model: `connections` workers send the tickets [`release_tickets`] puts in a queue.
/// Returns how many tickets were still queued when the workers stopped (not sent).
async fn open_model(
    shared: &Arc<Shared>,
    schedule: &Schedule,
    cancel: watch::Receiver<bool>,
) -> u64 {
    let connections = shared.plan.load.connections.max(1) as usize;
    let (tickets_tx, tickets_rx) = async_channel::unbounded::<(u64, Duration)>();
    let mut workers = Vec::with_capacity(connections);
    for _ in 0..connections {
        workers.push(tokio::spawn(send_tickets(
            shared.clone(),
            tickets_rx.clone(),
        )));
    }
    release_tickets(shared, schedule, &tickets_tx, cancel).await;
    tickets_tx.close();
    for w in workers {
        let _ = w.await;
    }
    tickets_rx.len() as u64
}

/// Puts each ticket in the queue at its intended time, which travels with it: however long
/// it then waits for a free connection, its op records the intended time, not the actual.
async fn release_tickets(
    s: &Shared,
    schedule: &Schedule,
    tickets: &async_channel::Sender<(u64, Duration)>,
    mut cancel: watch::Receiver<bool>,
) {
    let max = s.plan.load.max_requests.unwrap_or(u64::MAX);
    let segment = s.plan.segment;
    let mut seq = segment.first();
    while seq < max {
        let Some(due) = schedule.due(seq) else { break };
        tokio::select! {
            _ = tokio::time::sleep_until((s.start + due).into()) => {}
            _ = crate::cancel::cancelled(&mut cancel) => break,
        }
        if tickets.send((seq, due)).await.is_err() {
            break;
        }
        seq = seq.saturating_add(segment.step());
    }
}

/// One connection of the open model: sends tickets until the queue closes or the hard end.
async fn send_tickets(s: Arc<Shared>, tickets: async_channel::Receiver<(u64, Duration)>) {
    let mut conn = None;
    while let Ok((seq, due)) = tickets.recv().await {
        if Instant::now() >= s.hard_end {
            break;
        }
        let op = send(&s, &mut conn, seq, due).await;
        record(&s, op);
    }
}

/// Closed model: `vus` virtual users — this segment's share of them — until the load's
/// duration is over.
async fn closed_model(shared: &Arc<Shared>, cancel: &watch::Receiver<bool>) {
    let vus = shared
        .plan
        .segment
        .share(shared.plan.load.vus.unwrap_or(1).max(1)) as usize;
    let end = shared.start + shared.plan.duration;
    let mut workers = Vec::with_capacity(vus);
    for _ in 0..vus {
        workers.push(tokio::spawn(virtual_user(
            shared.clone(),
            end,
            cancel.clone(),
        )));
    }
    for w in workers {
        let _ = w.await;
    }
}

/// Sends its next attempt as soon as the last is answered: each is due when it is sent.
async fn virtual_user(s: Arc<Shared>, end: Instant, mut cancel: watch::Receiver<bool>) {
    let max = s.plan.load.max_requests.unwrap_or(u64::MAX);
    let mut conn = None;
    loop {
        if Instant::now() >= end || *cancel.borrow_and_update() {
            break;
        }
        let seq = s
            .plan
            .segment
            .seq(s.next_seq.fetch_add(1, Ordering::Relaxed));
        if seq >= max {
            break;
        }
        let due = s.start.elapsed();
        let op = send(&s, &mut conn, seq, due).await;
        record(&s, op);
    }
}

type Conn = SendRequest<Full<Bytes>>;

async fn connect(addr: SocketAddr) -> Result<Conn, String> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let _ = stream.set_nodelay(true);
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// Sends attempt `seq` (due at `due` after the start): the op it makes, answered or not.
async fn send(s: &Shared, conn: &mut Option<Conn>, seq: u64, due: Duration) -> Op {
    let p = &s.plan;
    let (origin, dup_of, user) = attempt(p.seed, seq, p.load.users, p.load.duplicate_ratio);
    let key = format!("{}-{origin}", p.key_prefix);
    let user = format!("u{user}");
    let body = format!(r#"{{"productId":"{}","userId":"{}"}}"#, p.product, user);
    let sent_at = s.start.elapsed();
    s.live.sent.fetch_add(1, Ordering::Relaxed);
    let deadline = s.start + due + p.load.timeout.get();
    let result =
        tokio::time::timeout_at(deadline.into(), exchange(p.entry, conn, &key, body)).await;
    let done = s.start.elapsed();
    let (http, answer, order_id, error) = match result {
        Ok(Ok((code, bytes))) => {
            let parsed: Option<Answer> = serde_json::from_slice(&bytes).ok();
            (
                Some(code),
                parsed.as_ref().map(|a| a.status.as_str().to_owned()),
                parsed.and_then(|a| a.order_id).map(|id| id.to_string()),
                None,
            )
        }
        Ok(Err(e)) => {
            *conn = None;
            (None, None, None, Some(e))
        }
        Err(_) => {
            // The connection may still deliver the late answer; never reuse it.
            *conn = None;
            (
                None,
                None,
                None,
                Some(format!("timeout after {:?}", p.load.timeout.get())),
            )
        }
    };
    let outcome = match http {
        Some(code) => classify(code, order_id.is_some()),
        None => Outcome::Info,
    };
    Op {
        seq,
        key,
        user,
        dup_of,
        intended_us: due.as_micros() as u64,
        sent_us: sent_at.as_micros() as u64,
        done_us: done.as_micros() as u64,
        http,
        outcome,
        answer,
        order_id,
        error,
    }
}

/// Counts the op for the progress bar and hands it to [`write_history`].
fn record(s: &Shared, op: Op) {
    s.live.count(&op);
    let _ = s.ops.send(op);
}

async fn exchange(
    entry: SocketAddr,
    conn: &mut Option<Conn>,
    key: &str,
    body: String,
) -> Result<(u16, Bytes), String> {
    if conn.as_ref().is_none_or(|c| c.is_closed()) {
        *conn = Some(connect(entry).await?);
    }
    let Some(sender) = conn.as_mut() else {
        return Err("no connection".into());
    };
    sender
        .ready()
        .await
        .map_err(|e| format!("connection: {e}"))?;
    let req = Request::post("/order")
        .header(hyper::header::HOST, entry.to_string())
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header(IDEMPOTENCY_HEADER, key)
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| format!("request: {e}"))?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| format!("send: {e}"))?;
    let code = resp.status().as_u16();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("body: {e}"))?
        .to_bytes();
    Ok((code, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_are_deterministic_and_duplicates_point_back() {
        let a: Vec<_> = (0..2000).map(|i| attempt(7, i, 100, 0.2)).collect();
        let b: Vec<_> = (0..2000).map(|i| attempt(7, i, 100, 0.2)).collect();
        assert_eq!(a, b);
        let dups = a.iter().filter(|(_, d, _)| d.is_some()).count();
        assert!(
            (300..500).contains(&dups),
            "about 20% duplicates, got {dups}"
        );
        for (seq, (origin, dup_of, user)) in a.iter().enumerate() {
            match dup_of {
                None => assert_eq!(*origin, seq as u64),
                Some(_) => {
                    assert!(*origin < seq as u64);
                    // A duplicate carries its origin's user, so the body is identical.
                    assert_eq!(*user, a[*origin as usize].2);
                }
            }
            assert!(*user < 100);
        }
        assert!((0..2000).all(|i| attempt(7, i, 100, 0.0).1.is_none()));
        assert_ne!(attempt(7, 5, 1000, 0.0), attempt(8, 5, 1000, 0.0));
    }
}
