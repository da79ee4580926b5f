//! A generator the run placed elsewhere (`fgchaos join`): it joins the run's coordinator for
//! its segment ([`super::coordinator`]), is given the load and the agreed start, drives its
//! segment from there on the coordinator's clock, and streams its history back as it is made.
//! The coordinator can stop it early; a coordinator that is gone stops it too, since nothing it
//! would record could reach the run any more.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use futures::channel::mpsc;
use futures::StreamExt;
use tokio::sync::watch;

use super::clock::Clock;
use super::coordinator::Assignment;
use super::generator::LoadPlan;
use super::manifest::{Manifest, ManifestError};
use super::meeting::Meeting;
use super::out::{ManifestLine, Out};
use super::segment::Segment;

/// The lines of one upload to the coordinator, as they are written: every clone writes to the
/// one upload, which ends once every clone is dropped.
#[derive(Clone)]
pub struct Lines {
    tx: mpsc::UnboundedSender<Bytes>,
    coordinator: SocketAddr,
}

impl std::io::Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.tx
            .unbounded_send(Bytes::copy_from_slice(buf))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, self.describe()))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Lines {
    /// Sends the manifest, the upload's last line.
    pub fn manifest(&self, manifest: &Manifest) -> Result<(), ManifestError> {
        let mut line = serde_json::to_vec(&ManifestLine {
            manifest: manifest.clone(),
        })
        .map_err(|source| ManifestError::Malformed {
            path: self.describe().into(),
            source,
        })?;
        line.push(b'\n');
        self.tx
            .unbounded_send(Bytes::from(line))
            .map_err(|_| ManifestError::Io {
                path: self.describe().into(),
                source: std::io::Error::from(std::io::ErrorKind::BrokenPipe),
            })
    }

    pub fn describe(&self) -> String {
        format!("the upload to the coordinator at {}", self.coordinator)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("joining the coordinator at {coordinator}: {why}")]
    Join {
        coordinator: SocketAddr,
        why: String,
    },
    #[error("the coordinator at {coordinator} did not take the history: {why}")]
    Upload {
        coordinator: SocketAddr,
        why: String,
    },
}

/// A generator that joined: what it drives, and where its history goes.
pub struct Joined {
    pub plan: LoadPlan,
    pub meeting: Meeting,
    pub out: Out,
    /// Fires when the coordinator stops the load early, or is gone.
    pub stop: watch::Receiver<bool>,
    coordinator: SocketAddr,
    upload: tokio::task::JoinHandle<Result<String, RemoteError>>,
    watcher: tokio::task::JoinHandle<()>,
}

/// Joins the coordinator at `coordinator` as the generator of `segment`, sending to `entry`;
/// returns once every generator has joined and the run named the start.
pub async fn join(
    coordinator: SocketAddr,
    segment: Segment,
    entry: SocketAddr,
) -> Result<Joined, RemoteError> {
    let join_err = |why: String| RemoteError::Join { coordinator, why };
    // No proxy: the coordinator is reached directly, whatever the environment says.
    // Keepalive: a coordinator whose machine vanished is noticed on a connection held open.
    let client = reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(Duration::from_secs(5))
        .tcp_keepalive(Duration::from_secs(5))
        .build()
        .map_err(|e| join_err(e.to_string()))?;
    let base = format!("http://{coordinator}");
    let (i, n) = (segment.index(), segment.count());
    let answer = client
        .post(format!("{base}/join/{i}/{n}"))
        .send()
        .await
        .map_err(|e| join_err(e.to_string()))?;
    if !answer.status().is_success() {
        let status = answer.status();
        let why = answer.text().await.unwrap_or_default();
        return Err(join_err(format!("{status}: {why}")));
    }
    let a: Assignment = answer.json().await.map_err(|e| join_err(e.to_string()))?;
    let plan = LoadPlan {
        entry,
        product: a.product,
        key_prefix: a.key_prefix,
        seed: a.seed,
        duration: Duration::from_millis(a.duration_ms),
        load: a.load,
        segment,
    };
    let meeting = Meeting {
        start_at_unix_us: a.start_at_unix_us,
        clock: Clock::Remote(coordinator),
    };
    let (tx, rx) = mpsc::unbounded::<Bytes>();
    let (stop_tx, stop) = watch::channel(false);
    let stop_tx = std::sync::Arc::new(stop_tx);
    let body = reqwest::Body::wrap_stream(rx.map(Ok::<Bytes, Infallible>));
    let request = client.post(format!("{base}/history/{i}/{n}")).body(body);
    let upload = tokio::spawn(send_upload(request, coordinator, stop_tx.clone()));
    let watcher = tokio::spawn(watch_stop(client, format!("{base}/stop"), stop_tx));
    Ok(Joined {
        plan,
        meeting,
        out: Out::Upload(Lines { tx, coordinator }),
        stop,
        coordinator,
        upload,
        watcher,
    })
}

/// Sends the upload; an upload that ends before the load does (the coordinator refused it or
/// is gone) stops the load, since nothing it records could reach the run.
async fn send_upload(
    request: reqwest::RequestBuilder,
    coordinator: SocketAddr,
    stop: std::sync::Arc<watch::Sender<bool>>,
) -> Result<String, RemoteError> {
    let up_err = |why: String| RemoteError::Upload { coordinator, why };
    let answered = match request.send().await {
        Ok(answer) => {
            let status = answer.status();
            let text = answer.text().await.unwrap_or_default();
            if status.is_success() {
                Ok(text)
            } else {
                Err(up_err(format!("{status}: {text}")))
            }
        }
        Err(e) => Err(up_err(e.to_string())),
    };
    stop.send_replace(true);
    answered
}

/// Waits for the coordinator's stop; a coordinator that is gone stops the load too.
async fn watch_stop(
    client: reqwest::Client,
    url: String,
    stop: std::sync::Arc<watch::Sender<bool>>,
) {
    match client.get(url).send().await {
        Ok(a) if a.status().is_success() => tracing::info!("the coordinator stopped the load"),
        Ok(a) => tracing::warn!(
            "the coordinator answered {} for its stop: stopping the load",
            a.status()
        ),
        Err(e) => tracing::warn!("the coordinator is gone ({e}): stopping the load"),
    }
    stop.send_replace(true);
}

/// How long the coordinator may take to answer an upload once it ended.
const ANSWER_WITHIN: Duration = Duration::from_secs(30);

impl Joined {
    /// Ends the upload (the load and its manifest are written) and returns the coordinator's
    /// answer to it.
    pub async fn finish(self) -> Result<String, RemoteError> {
        let Joined {
            out,
            upload,
            watcher,
            coordinator,
            ..
        } = self;
        drop(out);
        watcher.abort();
        let why = |why: String| RemoteError::Upload { coordinator, why };
        match tokio::time::timeout(ANSWER_WITHIN, upload).await {
            Ok(answered) => answered.map_err(|e| why(e.to_string()))?,
            Err(_) => Err(why(format!(
                "no answer within {ANSWER_WITHIN:?} of its end"
            ))),
        }
    }
}
