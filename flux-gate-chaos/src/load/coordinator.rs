//! The run's side of generators it placed elsewhere (`generators: n` on a swarm stack): one
//! HTTP server on the coordinator's machine that every generator of the load talks to.
//!
//! - `GET /clock`: the coordinator's clock ([`super::clock`]).
//! - `POST /join/{i}/{n}`: the generator of segment `i/n` is there. It is answered once every
//!   generator is and the run has named the start ([`Coordinator::release`]), with the load and
//!   that start ([`Assignment`]): a generator is given nothing it could get wrong.
//! - `GET /stop`: answered when the run stops its load early (Ctrl-C, a stop condition).
//! - `POST /history/{i}/{n}`: the segment's history as it is made, one op per line and its
//!   manifest last ([`super::out`]). Each op is written to `history-i-of-n.jsonl` beside the
//!   run's history and counted into the run's [`Live`] as it comes, so stop conditions and the
//!   steady gate see a remote answer as they see a local one.
//!
//! What it leaves is what in-process generators leave — a history and a manifest per segment —
//! and they are merged the same way ([`super::generators::merge_segments`]).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::clock::now_unix_us;
use super::generator::{Live, LoadPlan, LoadSummary};
use super::generators::{history_of, merge_segments, GeneratorsError};
use super::history::Op;
use super::manifest::Manifest;
use super::out::{ManifestLine, MANIFEST_LINE};
use super::segment::Segment;
use crate::scenario::Load;

/// What a generator is given when it joins: the load, and when to start it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assignment {
    pub product: String,
    /// The run's id: the prefix of every idempotency key.
    pub key_prefix: String,
    pub seed: u64,
    pub load: Load,
    pub duration_ms: u64,
    /// The agreed start, on the coordinator's clock (µs since the epoch).
    pub start_at_unix_us: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum CoordinatorError {
    #[error("serving the generators' coordinator on {ip}: {source}")]
    Bind {
        ip: IpAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("generator {segment}: {why}")]
    Segment { segment: Segment, why: String },
    #[error("generators {missing} sent no whole history within {waited:?} of the load's end")]
    Unfinished { missing: String, waited: Duration },
}

/// Where the load's start stands, as a joining generator waits on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    Pending,
    /// µs since the epoch, on the coordinator's clock.
    At(u64),
    /// The run is over before it named one.
    Never,
}

/// The run's coordinator of its placed generators, serving until dropped.
pub struct Coordinator {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

/// What the handlers share with the run.
struct Shared {
    count: u32,
    /// The assignment without its start, until [`Coordinator::release`] names one.
    assignment: Assignment,
    joined: Mutex<BTreeSet<u32>>,
    /// Segments whose upload began: each segment's history is taken once.
    uploading: Mutex<BTreeSet<u32>>,
    start: watch::Sender<Start>,
    stop: watch::Sender<bool>,
    history: PathBuf,
    live: Arc<Live>,
    /// Each segment whose upload ended: its history and manifest stored, or why not.
    done: watch::Sender<BTreeMap<u32, Result<(), String>>>,
}

impl Coordinator {
    /// Serves the coordinator of `plan`'s load, made by `plan.load.generators` generators, on
    /// `ip` (a port the system picks). Segment histories go beside `history`.
    pub async fn serve(
        ip: IpAddr,
        plan: &LoadPlan,
        history: &Path,
        live: Arc<Live>,
    ) -> Result<Coordinator, CoordinatorError> {
        let listener = tokio::net::TcpListener::bind((ip, 0))
            .await
            .and_then(|l| Ok((l.local_addr()?, l)));
        let (addr, listener) = listener.map_err(|source| CoordinatorError::Bind { ip, source })?;
        let shared = Arc::new(Shared {
            count: plan.load.generators.max(1),
            assignment: Assignment {
                product: plan.product.clone(),
                key_prefix: plan.key_prefix.clone(),
                seed: plan.seed,
                load: plan.load.clone(),
                duration_ms: plan.duration.as_millis() as u64,
                start_at_unix_us: 0,
            },
            joined: Mutex::new(BTreeSet::new()),
            uploading: Mutex::new(BTreeSet::new()),
            start: watch::Sender::new(Start::Pending),
            stop: watch::Sender::new(false),
            history: history.to_owned(),
            live,
            done: watch::Sender::new(BTreeMap::new()),
        });
        let app = super::clock::routes()
            .route("/join/{i}/{n}", post(join))
            .route("/stop", get(stop))
            .route("/history/{i}/{n}", post(upload))
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!("the generators' coordinator stopped serving: {e}");
            }
        });
        Ok(Coordinator {
            addr,
            shared,
            server,
        })
    }

    /// Where the generators reach it.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The segments whose generator has not joined yet.
    pub fn not_joined(&self) -> Vec<Segment> {
        let joined = self.shared.joined.lock().map(|j| j.clone());
        self.segments_but(|i| joined.as_ref().is_ok_and(|j| j.contains(&i)))
    }

    /// This load's segments, less those `has` holds (by index).
    fn segments_but(&self, has: impl Fn(u32) -> bool) -> Vec<Segment> {
        Segment::all(self.shared.count)
            .filter(|s| !has(s.index()))
            .collect()
    }

    /// Names the start, `lead` from now on this machine's clock (which is the coordinator's),
    /// and answers every generator's join with it; returns it (µs since the epoch).
    pub fn release(&self, lead: Duration) -> u64 {
        let at = now_unix_us().saturating_add(lead.as_micros() as u64);
        self.shared.start.send_replace(Start::At(at));
        at
    }

    /// Waits until every segment's history is in — telling the generators to stop at once when
    /// `cancel` fires — and merges them into `history`. A generator that has not sent its whole
    /// history `grace` after the load's end (its duration from the start, plus its timeout)
    /// is named, and nothing is merged.
    pub async fn collect(
        self,
        mut cancel: watch::Receiver<bool>,
        grace: Duration,
    ) -> Result<LoadSummary, GeneratorsError> {
        let s = &self.shared;
        let start = match *s.start.borrow() {
            Start::At(at) => at,
            Start::Pending | Start::Never => now_unix_us(),
        };
        let end = start
            .saturating_add(s.assignment.duration_ms.saturating_mul(1000))
            .saturating_add(s.assignment.load.timeout.get().as_micros() as u64);
        let wait = Duration::from_micros(end.saturating_sub(now_unix_us())) + grace;
        let mut done = s.done.subscribe();
        let deadline = tokio::time::sleep(wait);
        tokio::pin!(deadline);
        loop {
            // A segment that failed fails the load at once: the others are stopped (by the
            // drop), not waited for.
            if let Some((index, why)) = first_failed(&done.borrow_and_update()) {
                let segment = Segment::new(index, s.count).unwrap_or(Segment::WHOLE);
                return Err(CoordinatorError::Segment { segment, why }.into());
            }
            if done.borrow().len() as u32 >= s.count {
                break;
            }
            tokio::select! {
                _ = done.changed() => {}
                () = &mut deadline => {
                    let missing = self.missing().iter().map(Segment::to_string).collect::<Vec<_>>();
                    let missing = missing.join(", ");
                    return Err(CoordinatorError::Unfinished { missing, waited: grace }.into());
                }
                () = crate::cancel::cancelled(&mut cancel), if !*s.stop.borrow() => {
                    s.stop.send_replace(true);
                }
            }
        }
        let paths: Vec<PathBuf> = Segment::all(s.count)
            .map(|seg| history_of(&s.history, seg))
            .collect();
        merge_segments(&paths, &s.history)
    }

    /// The segments whose upload has not ended.
    fn missing(&self) -> Vec<Segment> {
        let done = self.shared.done.borrow().clone();
        self.segments_but(|i| done.contains_key(&i))
    }
}

impl Drop for Coordinator {
    fn drop(&mut self) {
        // Every generator still waiting hears that it is over: a join that the run will never
        // answer with a start, and a stop. Aborting the server stops it taking connections;
        // the ones open are served by their own tasks until their generator ends them — an
        // upload after the stop is its last ops and manifest, written beside a history the run
        // no longer reads.
        let s = &self.shared;
        s.start.send_if_modified(|start| {
            let pending = *start == Start::Pending;
            if pending {
                *start = Start::Never;
            }
            pending
        });
        s.stop.send_replace(true);
        self.server.abort();
    }
}

/// The first segment whose upload ended without a whole history, and why.
fn first_failed(done: &BTreeMap<u32, Result<(), String>>) -> Option<(u32, String)> {
    done.iter()
        .find_map(|(i, r)| r.as_ref().err().map(|why| (*i, why.clone())))
}

/// The segment a request names, if it is one of this load's.
fn segment_of(s: &Shared, i: u32, n: u32) -> Result<Segment, (StatusCode, String)> {
    if n != s.count {
        return Err((
            StatusCode::BAD_REQUEST,
            format!(
                "segment {i}/{n}: this load is made by {} generators",
                s.count
            ),
        ));
    }
    Segment::new(i, n).map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))
}

async fn join(
    State(s): State<Arc<Shared>>,
    UrlPath((i, n)): UrlPath<(u32, u32)>,
) -> Result<axum::Json<Assignment>, (StatusCode, String)> {
    let segment = segment_of(&s, i, n)?;
    let fresh = s.joined.lock().is_ok_and(|mut j| j.insert(i));
    if !fresh {
        return Err((
            StatusCode::CONFLICT,
            format!("segment {segment} joined already: two generators were given one segment"),
        ));
    }
    let mut start = s.start.subscribe();
    let named = start
        .wait_for(|at| *at != Start::Pending)
        .await
        .map(|at| *at);
    let Ok(Start::At(at)) = named else {
        let why = "the run ended before its load started";
        return Err((StatusCode::GONE, why.to_owned()));
    };
    Ok(axum::Json(Assignment {
        start_at_unix_us: at,
        ..s.assignment.clone()
    }))
}

async fn stop(State(s): State<Arc<Shared>>) -> &'static str {
    let _ = s.stop.subscribe().wait_for(|stop| *stop).await;
    "stop"
}

async fn upload(
    State(s): State<Arc<Shared>>,
    UrlPath((i, n)): UrlPath<(u32, u32)>,
    body: Body,
) -> (StatusCode, String) {
    let segment = match segment_of(&s, i, n) {
        Ok(segment) => segment,
        Err(refused) => return refused,
    };
    if !s.joined.lock().is_ok_and(|j| j.contains(&i)) {
        let why = format!("segment {segment} has not joined: its history is not this load's");
        return (StatusCode::CONFLICT, why);
    }
    if !s.uploading.lock().is_ok_and(|mut u| u.insert(i)) {
        let why = format!("segment {segment}'s history is being taken already");
        return (StatusCode::CONFLICT, why);
    }
    let path = history_of(&s.history, segment);
    let stored = receive(&s.live, &path, body).await;
    let answer = match &stored {
        Ok(ops) => (
            StatusCode::OK,
            format!("{ops} ops of segment {segment} stored"),
        ),
        Err(why) => (StatusCode::BAD_REQUEST, why.clone()),
    };
    s.done.send_modify(|d| {
        d.insert(i, stored.map(|_| ()));
    });
    answer
}

/// Writes an upload's ops to `path` as they come and its manifest beside it; returns how many
/// ops, or why the upload is not a whole history.
async fn receive(live: &Live, path: &Path, body: Body) -> Result<u64, String> {
    let file = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut lines = Receiving {
        file: std::io::BufWriter::new(file),
        live,
        manifest: None,
        ops: 0,
    };
    let mut stream = body.into_data_stream();
    let mut pending: Vec<u8> = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| format!("the upload broke off: {e}"))?;
        pending.extend_from_slice(&chunk);
        let mut taken = 0;
        while let Some(nl) = pending[taken..].iter().position(|b| *b == b'\n') {
            lines.take(&pending[taken..taken + nl])?;
            taken += nl + 1;
        }
        pending.drain(..taken);
    }
    if !pending.is_empty() {
        return Err("the upload ended inside a line".to_owned());
    }
    lines.finish(path)
}

/// An upload's lines as they are taken.
struct Receiving<'a> {
    file: std::io::BufWriter<std::fs::File>,
    live: &'a Live,
    manifest: Option<Manifest>,
    ops: u64,
}

impl Receiving<'_> {
    fn take(&mut self, line: &[u8]) -> Result<(), String> {
        if self.manifest.is_some() {
            return Err("a line after the manifest".to_owned());
        }
        if line.starts_with(MANIFEST_LINE) {
            let m: ManifestLine =
                serde_json::from_slice(line).map_err(|e| format!("its manifest: {e}"))?;
            self.manifest = Some(m.manifest);
            return Ok(());
        }
        let op: Op =
            serde_json::from_slice(line).map_err(|e| format!("op {}: {e}", self.ops + 1))?;
        self.file
            .write_all(line)
            .and_then(|()| self.file.write_all(b"\n"))
            .map_err(|e| format!("writing its history: {e}"))?;
        self.live.observe(&op);
        self.ops += 1;
        Ok(())
    }

    fn finish(mut self, path: &Path) -> Result<u64, String> {
        self.file
            .flush()
            .map_err(|e| format!("writing its history: {e}"))?;
        let manifest = self.manifest.ok_or(
            "the upload ended before its manifest: the generator stopped before its load did",
        )?;
        if manifest.ops != self.ops {
            return Err(format!(
                "its manifest counts {} ops, its upload held {}",
                manifest.ops, self.ops
            ));
        }
        manifest.write(path).map_err(|e| e.to_string())?;
        Ok(self.ops)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;
    use crate::load::history::{self, Outcome};
    use crate::load::meeting::identity;

    fn plan(generators: u32) -> LoadPlan {
        let load: Load = serde_yaml::from_str(&format!(
            "{{model: arrival-rate, rate: 4/s, duration: 1s, users: 10, timeout: 2s, generators: {generators}}}"
        ))
        .unwrap();
        LoadPlan {
            entry: "127.0.0.1:9".parse().unwrap(),
            product: "p".into(),
            key_prefix: "run-1".into(),
            seed: 7,
            load,
            duration: Duration::from_secs(1),
            segment: Segment::WHOLE,
        }
    }

    fn op(seq: u64) -> Op {
        Op {
            seq,
            key: format!("run-1-{seq}"),
            user: "u".into(),
            dup_of: None,
            intended_us: seq * 250_000,
            sent_us: seq * 250_000,
            done_us: seq * 250_000 + 900,
            http: Some(200),
            outcome: Outcome::Ok,
            answer: Some("success".into()),
            order_id: Some(format!("o{seq}")),
            error: None,
        }
    }

    /// An upload's body: the ops of `seqs`, then segment `i/n`'s manifest saying `ops` ops.
    fn upload_body(a: &Assignment, segment: &str, seqs: &[u64], ops: u64) -> String {
        let body: String = seqs
            .iter()
            .map(|s| serde_json::to_string(&op(*s)).unwrap() + "\n")
            .collect();
        let manifest = Manifest {
            run: a.key_prefix.clone(),
            seed: a.seed,
            load: identity(&plan(2)),
            segment: segment.parse().unwrap(),
            start_at_unix_us: a.start_at_unix_us,
            started_unix_us: a.start_at_unix_us,
            clock: "http://coordinator/clock".into(),
            clock_at_start: Default::default(),
            clock_at_end: Default::default(),
            ops,
            not_sent: 0,
            elapsed_ms: 1000,
        };
        body + &serde_json::to_string(&ManifestLine { manifest }).unwrap() + "\n"
    }

    /// A coordinator of two generators with both joined and the start named; their
    /// assignments.
    async fn two_joined(dir: &Path, live: Arc<Live>) -> (Coordinator, Vec<Assignment>) {
        let c = Coordinator::serve(
            IpAddr::from([127, 0, 0, 1]),
            &plan(2),
            &dir.join("history.jsonl"),
            live,
        )
        .await
        .unwrap();
        let base = format!("http://{}", c.addr());
        let joins: Vec<_> = (1..=2)
            .map(|i| {
                let url = format!("{base}/join/{i}/2");
                tokio::spawn(async move { reqwest::Client::new().post(url).send().await })
            })
            .collect();
        while !c.not_joined().is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let client = reqwest::Client::new();
        // A segment given twice, and a segment of another count, are refused.
        let again = client
            .post(format!("{base}/join/1/2"))
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 409);
        assert!(again.text().await.unwrap().contains("joined already"));
        let other = client
            .post(format!("{base}/join/1/3"))
            .send()
            .await
            .unwrap();
        assert_eq!(other.status(), 400);
        assert!(other
            .text()
            .await
            .unwrap()
            .contains("this load is made by 2 generators"));
        let at = c.release(Duration::ZERO);
        let mut assignments = Vec::new();
        for j in joins {
            let a: Assignment = j.await.unwrap().unwrap().json().await.unwrap();
            assert_eq!(a.start_at_unix_us, at);
            assignments.push(a);
        }
        (c, assignments)
    }

    async fn upload(c: &Coordinator, segment: &str, body: String) -> (u16, String) {
        let url = format!("http://{}/history/{}", c.addr(), segment);
        let answer = reqwest::Client::new()
            .post(url)
            .body(body)
            .send()
            .await
            .unwrap();
        (answer.status().as_u16(), answer.text().await.unwrap())
    }

    #[tokio::test]
    async fn every_generator_is_given_one_load_and_one_start_and_their_uploads_merge() {
        let dir = tempfile::tempdir().unwrap();
        let live = Arc::new(Live::keeping(0));
        let (c, a) = two_joined(dir.path(), live.clone()).await;
        assert_eq!(a[0], a[1]);
        assert_eq!((a[0].product.as_str(), a[0].seed), ("p", 7));
        assert_eq!(a[0].load, plan(2).load);
        let first = upload(&c, "1/2", upload_body(&a[0], "1/2", &[0, 2], 2)).await;
        assert_eq!(first, (200, "2 ops of segment 1/2 stored".to_owned()));
        let second = upload(&c, "2/2", upload_body(&a[1], "2/2", &[1, 3], 2)).await;
        assert_eq!(second.0, 200, "{}", second.1);
        // Counted as they came: what the stop conditions read.
        assert_eq!(live.sent.load(Ordering::Relaxed), 4);
        assert_eq!(live.ok.load(Ordering::Relaxed), 4);
        let summary = c
            .collect(watch::channel(false).1, Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(summary.totals.ops, 4);
        assert_eq!(summary.generators.len(), 2);
        let merged = history::read(&dir.path().join("history.jsonl")).unwrap();
        let seqs: Vec<u64> = merged.iter().map(|o| o.seq).collect();
        assert_eq!(seqs, [0, 1, 2, 3]);
    }

    #[tokio::test]
    async fn an_upload_that_is_no_whole_history_is_refused_and_fails_the_load_at_once() {
        let line = |seq| serde_json::to_string(&op(seq)).unwrap() + "\n";
        type Body<'a> = &'a dyn Fn(&Assignment) -> String;
        let cases: [(Body, &str); 4] = [
            (&|_| line(0), "the upload ended before its manifest"),
            (
                &|a| upload_body(a, "1/2", &[0], 1) + &line(2),
                "a line after the manifest",
            ),
            (
                &|a| upload_body(a, "1/2", &[0, 2], 5),
                "its manifest counts 5 ops, its upload held 2",
            ),
            (
                &|_| "{\"seq\":".to_owned(),
                "the upload ended inside a line",
            ),
        ];
        for (body, why) in cases {
            let dir = tempfile::tempdir().unwrap();
            let (c, a) = two_joined(dir.path(), Arc::new(Live::keeping(0))).await;
            let (status, said) = upload(&c, "1/2", body(&a[0])).await;
            assert_eq!(status, 400, "{said}");
            assert!(said.starts_with(why), "{said}");
            // A segment's history is taken once: a whole one after is refused.
            let again = upload(&c, "1/2", upload_body(&a[0], "1/2", &[0, 2], 2)).await;
            assert_eq!(
                again,
                (409, "segment 1/2's history is being taken already".into())
            );
            // The load fails at once (its end is 3 s away), naming the segment.
            let since = std::time::Instant::now();
            let err = c
                .collect(watch::channel(false).1, Duration::from_secs(5))
                .await
                .unwrap_err()
                .to_string();
            assert!(err.starts_with(&format!("generator 1/2: {why}")), "{err}");
            assert!(since.elapsed() < Duration::from_secs(1));
        }
        // A segment that never joined has no history of this load to give.
        let dir = tempfile::tempdir().unwrap();
        let history = dir.path().join("history.jsonl");
        let live = Arc::new(Live::keeping(0));
        let c = Coordinator::serve(IpAddr::from([127, 0, 0, 1]), &plan(2), &history, live)
            .await
            .unwrap();
        let (status, said) = upload(&c, "1/2", line(0)).await;
        assert_eq!(status, 409);
        assert_eq!(
            said,
            "segment 1/2 has not joined: its history is not this load's"
        );
    }

    #[tokio::test]
    async fn a_stop_reaches_the_generators_and_a_history_never_sent_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let (c, a) = two_joined(dir.path(), Arc::new(Live::keeping(0))).await;
        let stop_url = format!("http://{}/stop", c.addr());
        let stop = tokio::spawn(async move { reqwest::get(stop_url).await?.text().await });
        let (cancel, cancelled) = watch::channel(false);
        assert_eq!(
            upload(&c, "1/2", upload_body(&a[0], "1/2", &[0], 1))
                .await
                .0,
            200
        );
        cancel.send_replace(true);
        // Segment 2/2 never uploads: named once the load's end and the grace are past.
        let err = c
            .collect(cancelled, Duration::from_millis(200))
            .await
            .unwrap_err()
            .to_string();
        assert_eq!(stop.await.unwrap().unwrap(), "stop");
        assert_eq!(
            err,
            "generators 2/2 sent no whole history within 200ms of the load's end"
        );
    }
}
