use crate::{
    proxy::ProxyConfig,
    signal::{Close, Closer, Interrupt, Stop, Stopper},
    state::{ToxicState, ToxicStateHolder},
    stream::{forward, forward_read, forward_write, Forwarded, Read, Write},
    toxic::ToxicKind,
    toxic::{StreamDirection, Toxic},
    toxics,
};
use bytes::Bytes;
use futures::channel::mpsc as futures_mpsc;
use futures::stream::FusedStream;
use futures::{FutureExt, StreamExt};
use futures::{Sink, Stream};
use rand::{distributions::Standard, rngs::StdRng, Rng, SeedableRng};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::{io, sync::Arc};
use tokio::pin;
use tokio::sync::{mpsc, oneshot, Mutex as AsyncMutex};
use tokio::task::JoinHandle;
use tracing::{debug, instrument};

#[derive(Debug)]
pub(crate) struct Link {
    config: ProxyConfig,
    upstream_addr: SocketAddr,
    direction: StreamDirection,
    stop: Stop,
    // Only `disband` (used by the tests since links are relinked in place) reads it.
    #[cfg_attr(not(test), allow(dead_code))]
    stopper: Stopper,
    disband_receiver: Option<oneshot::Receiver<Ends>>,
    relink_sender: Option<mpsc::UnboundedSender<Relink>>,
}

type Ends = (Read, Write);

/// A new toxic list for a live link, and who to tell once the link runs with it
type Relink = (Vec<Toxic>, oneshot::Sender<()>);

/// How one pipeline (reader, toxics, writer) of a link ended
#[derive(Debug)]
enum PipelineEnd {
    /// Interrupted and drained: every chunk read has been written, the ends can carry on
    Interrupted(Ends),
    /// This direction of the connection is over (EOF, I/O error, stop, or a toxic closed it)
    Closed(Option<Ends>),
}

impl Link {
    pub(crate) fn new(
        upstream_addr: SocketAddr,
        direction: StreamDirection,
        config: ProxyConfig,
        stop: Stop,
    ) -> Self {
        let (stop, stopper) = stop.fork();
        Link {
            config,
            upstream_addr,
            direction,
            stop,
            stopper,
            disband_receiver: None,
            relink_sender: None,
        }
    }

    /// Starts forwarding from `reader` to `writer` through `toxics`. The returned task ends
    /// when this direction of the connection is over; `relink` swaps the toxics meanwhile.
    pub(super) fn establish(
        &mut self,
        reader: Read,
        writer: Write,
        toxics: Vec<Toxic>,
        toxic_state_holder: Option<Arc<ToxicStateHolder>>,
    ) -> JoinHandle<()> {
        let (disband_sender, disband_receiver) = oneshot::channel::<Ends>();
        self.disband_receiver = Some(disband_receiver);
        let (relink_sender, relink_receiver) = mpsc::unbounded_channel::<Relink>();
        self.relink_sender = Some(relink_sender);
        let runner = LinkRunner {
            config: self.config.clone(),
            direction: self.direction,
            toxic_state_holder,
        };
        tokio::spawn(runner.run(
            (reader, writer),
            toxics,
            self.stop.clone(),
            relink_receiver,
            disband_sender,
        ))
    }

    /// Re-forms the link with `toxics` without closing the connection or losing a byte (added
    /// for fgchaos, see PATCHED.md). Resolves once the link runs with the new toxics, or is over.
    pub(super) fn relink(&self, toxics: Vec<Toxic>) -> impl Future<Output = ()> + Send + 'static {
        let (done, relinked) = oneshot::channel::<()>();
        let sent = match &self.relink_sender {
            Some(sender) => sender.send((toxics, done)).is_ok(),
            None => false,
        };
        async move {
            if sent {
                let _ = relinked.await;
            }
        }
    }

    /// Cuts all the streams, stops all the ToxicRunner tasks, returns the original
    /// stream and the sink at the two ends.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(super) async fn disband(self) -> io::Result<(Read, Write)> {
        self.stopper.stop();
        let (reader, writer) = self
            .disband_receiver
            .expect("State error: Link already disbanded, or never established")
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "already closed?"))?;

        Ok((reader, writer))
    }
}

/// Runs the pipelines of one link, one after the other, on the same two stream ends.
#[derive(Debug)]
struct LinkRunner {
    config: ProxyConfig,
    direction: StreamDirection,
    toxic_state_holder: Option<Arc<ToxicStateHolder>>,
}

impl LinkRunner {
    /// A relink request interrupts the running pipeline: its reader stops at a chunk boundary,
    /// its toxics flush what they hold and pass the rest through, its writer writes everything
    /// to the end; then the next pipeline starts on the same ends with the new toxics. Returns
    /// when the connection is over for this direction, or on stop, handing the ends to
    /// `disband`.
    async fn run(
        self,
        mut ends: Ends,
        mut toxics: Vec<Toxic>,
        mut stop: Stop,
        mut relink_receiver: mpsc::UnboundedReceiver<Relink>,
        disband_sender: oneshot::Sender<Ends>,
    ) {
        let mut relinked: Option<oneshot::Sender<()>> = None;
        loop {
            // A signal of its own per pipeline, so that no forwarding task outlives it; the link's
            // stop is passed on below.
            let (pipeline_stop, pipeline_stopper) = Stop::new();
            let (interrupt, interrupter) = Interrupt::new();
            let pipeline = Pipeline {
                config: self.config.clone(),
                direction: self.direction,
                stop: pipeline_stop,
            };
            let mut running = pipeline.start(
                ends.0,
                ends.1,
                toxics,
                self.toxic_state_holder.clone(),
                interrupt,
            );
            if let Some(done) = relinked.take() {
                let _ = done.send(());
            }
            let mut relink: Option<(Vec<Toxic>, oneshot::Sender<()>)> = None;
            let end = loop {
                tokio::select! {
                    end = &mut running => break end,
                    _ = stop.recv(), if !stop.stop_received() => pipeline_stopper.clone().stop(),
                    Some(request) = relink_receiver.recv(), if relink.is_none() => {
                        interrupter.interrupt();
                        relink = Some(request);
                    }
                }
            };
            let stopped = stop.stop_received() || stop.recv().now_or_never().is_some();
            match (end, relink) {
                (Ok(PipelineEnd::Interrupted(next_ends)), Some((next_toxics, done)))
                    if !stopped =>
                {
                    debug!(
                        "Relinked {} with {} toxics",
                        self.direction,
                        next_toxics.len()
                    );
                    ends = next_ends;
                    toxics = next_toxics;
                    relinked = Some(done);
                }
                (Ok(PipelineEnd::Interrupted(ends)), _)
                | (Ok(PipelineEnd::Closed(Some(ends))), _) => {
                    let _ = disband_sender.send(ends);
                    debug!("Joining {} task", self.direction);
                    return;
                }
                (Ok(PipelineEnd::Closed(None)), _) => {
                    debug!("Read or write sub task failed");
                    return;
                }
                (Err(err), _) => {
                    debug!("Read or write sub task failed {:?}", err);
                    return;
                }
            }
        }
    }
}

/// One pipeline of a link: the reader, the toxic runners and the writer
#[derive(Debug)]
struct Pipeline {
    config: ProxyConfig,
    direction: StreamDirection,
    stop: Stop,
}

impl Pipeline {
    fn start(
        self,
        reader: Read,
        writer: Write,
        toxics: Vec<Toxic>,
        toxic_state_holder: Option<Arc<ToxicStateHolder>>,
        interrupt: Interrupt,
    ) -> JoinHandle<PipelineEnd> {
        if toxics.is_empty() {
            self.forward_direct(reader, writer, interrupt)
        } else {
            self.setup_toxics(reader, writer, toxics, toxic_state_holder, interrupt)
        }
    }

    #[instrument(level = "debug", skip(self, reader, writer, interrupt))]
    fn forward_direct(
        &self,
        mut reader: Read,
        mut writer: Write,
        mut interrupt: Interrupt,
    ) -> JoinHandle<PipelineEnd> {
        let mut stop = self.stop.clone();
        tokio::spawn(async move {
            let mut forwarded = Ok(Forwarded::Ended);
            if !stop.stop_received() {
                forwarded = forward(&mut reader, &mut writer, &mut stop, &mut interrupt).await;
                if forwarded.is_err() {
                    // TODO: maybe log this error in case it's a specific I/O error.
                }
            }
            match forwarded {
                Ok(Forwarded::Interrupted) => PipelineEnd::Interrupted((reader, writer)),
                _ => PipelineEnd::Closed(Some((reader, writer))),
            }
        })
    }

    #[instrument(level = "debug", skip(self, reader, writer, interrupt))]
    fn setup_toxics(
        &self,
        reader: Read,
        writer: Write,
        toxics: Vec<Toxic>,
        toxic_state_holder: Option<Arc<ToxicStateHolder>>,
        interrupt: Interrupt,
    ) -> JoinHandle<PipelineEnd> {
        let mut stop = self.stop.clone();
        let (left_end_tx, left_end_rx) = futures_mpsc::channel::<Bytes>(1);
        let (right_end_tx, right_end_rx) = futures_mpsc::channel::<Bytes>(1);
        // Set when a toxic ends the stream before its input has ended: the connection closes.
        let cut = Arc::new(AtomicBool::new(false));

        let rand_gen = if let Some(seed) = self.config.rand_seed {
            StdRng::seed_from_u64(seed)
        } else {
            StdRng::from_entropy()
        };
        let mut toxic_runners: Vec<ToxicRunner> = toxics
            .into_iter()
            .zip(rand_gen.sample_iter(Standard))
            .map(ToxicRunner::new)
            .collect();

        let (close_read_join, close_write_join): (
            JoinHandle<io::Result<(Read, Forwarded)>>,
            JoinHandle<io::Result<Write>>,
        ) = self.connect_pipe_ends(
            reader,
            writer,
            &mut toxic_runners,
            &mut stop,
            interrupt.clone(),
            left_end_tx,
            right_end_rx,
        );

        let join_handle = self.prepare_link_join_handle(close_read_join, close_write_join, &cut);

        let mut prev_pipe_read_rx = left_end_rx;

        for runner in toxic_runners {
            prev_pipe_read_rx = self.start_toxic_runner(
                runner,
                &mut stop,
                &interrupt,
                &cut,
                prev_pipe_read_rx,
                toxic_state_holder.clone(),
            );
        }

        tokio::spawn(async move { prev_pipe_read_rx.map(Ok).forward(right_end_tx).await });

        join_handle
    }

    fn start_toxic_runner(
        &self,
        mut runner: ToxicRunner,
        stop: &mut Stop,
        interrupt: &Interrupt,
        cut: &Arc<AtomicBool>,
        prev_pipe_read_rx: futures_mpsc::Receiver<Bytes>,
        toxic_state_holder: Option<Arc<ToxicStateHolder>>,
    ) -> futures_mpsc::Receiver<Bytes> {
        let toxic_name = runner.toxic_name();
        let toxic_state =
            toxic_state_holder.and_then(|holder| holder.get_state_for_toxic(toxic_name));
        let mut stop = stop.clone();
        let interrupt = interrupt.clone();
        let cut = cut.clone();
        let rand_seed = self.config.rand_seed;
        // Get the desired channel buffer capacity for the toxic (in number of chunks)
        // This is 1024 for the Latency toxic and 1 for others, similar
        // to the original Toxiproxy implementation.
        let (pipe_tx, pipe_rx) =
            futures_mpsc::channel::<Bytes>(runner.toxic_kind().chunk_buffer_capacity());
        tokio::spawn(async move {
            let mut input = prev_pipe_read_rx;
            let mut output = pipe_tx;
            let maybe_res = tokio::select! {
                res = runner.run(&mut input, &mut output, toxic_state, rand_seed, interrupt) => Some(res),
                _ = stop.recv() => None,
            };
            if maybe_res.is_some() && !input.is_terminated() {
                // The toxic closed the stream (limit_data at its limit, timeout, a closed
                // output): whatever is left of its input is not forwarded.
                cut.store(true, Ordering::SeqCst);
            }
            if let Some(Err(err)) = maybe_res {
                debug!("Got error from toxic runner {:?}", err);
            }
            // Only now does the next stage see the end of its input.
            drop(output);
        });
        pipe_rx
    }

    #[allow(clippy::too_many_arguments)]
    fn connect_pipe_ends(
        &self,
        reader: Read,
        writer: Write,
        mut toxic_runners: &mut [ToxicRunner],
        stop: &mut Stop,
        mut interrupt: Interrupt,
        left_end_tx: futures_mpsc::Sender<Bytes>,
        right_end_rx: futures_mpsc::Receiver<Bytes>,
    ) -> (
        JoinHandle<io::Result<(Read, Forwarded)>>,
        JoinHandle<io::Result<Write>>,
    ) {
        let (mut stop_read, read_stopper) = stop.fork();
        let (mut stop_write, write_stopper) = stop.fork();

        let (override_stop_toxics, toxic_override_stopper) = stop.fork();
        let toxic_override_stopper_clone = toxic_override_stopper.clone();

        let wait_for_manual_close: Option<Close> =
            self.prepare_manual_close_signals(&mut toxic_runners, override_stop_toxics);
        let wait_for_manual_close_clone = wait_for_manual_close.clone();

        let close_read_join = tokio::spawn(async move {
            pin!(left_end_tx);
            let res = forward_read(reader, left_end_tx, &mut stop_read, &mut interrupt).await;
            if let Ok((_, Forwarded::Interrupted)) = res {
                // The link is being re-formed: dropping `left_end_tx` ends the toxics' input,
                // the writer drains the pipeline, nothing is closed.
                return res;
            }
            // Speed up closing the underlying connection by closing the other end,
            // unless we should wait for a toxic to yield explicitly.
            if let Some(close) = wait_for_manual_close {
                toxic_override_stopper.stop();
                let _ = close.recv().await;
            }
            write_stopper.stop();
            res
        });

        let close_write_join = tokio::spawn(async move {
            pin!(right_end_rx);
            let res = forward_write(right_end_rx, writer, &mut stop_write).await;
            // Speed up closing the underlying connection by closing the other end,
            // unless we should wait for a toxic to yield explicitly.
            if let Some(close) = wait_for_manual_close_clone {
                toxic_override_stopper_clone.stop();
                let _ = close.recv().await;
            }
            read_stopper.stop();
            res
        });
        (close_read_join, close_write_join)
    }

    fn prepare_manual_close_signals(
        &self,
        toxic_runners: &mut [ToxicRunner],
        override_stop_toxics: Stop,
    ) -> Option<Close> {
        let close_signals: Vec<Close> = toxic_runners
            .iter_mut()
            .filter_map(|runner| {
                if runner.is_active() && runner.toxic_kind().has_close_logic() {
                    let (close, closer) = Close::new();
                    runner.set_closer(closer);
                    runner.set_override_stop(override_stop_toxics.clone());
                    Some(close)
                } else {
                    None
                }
            })
            .collect();
        if !close_signals.is_empty() {
            let (close, closer) = Close::new();

            tokio::spawn(async move {
                for close in close_signals {
                    let _ = close.recv().await;
                }
                let _ = closer.close();
            });
            Some(close)
        } else {
            None
        }
    }

    fn prepare_link_join_handle(
        &self,
        close_read_join: JoinHandle<io::Result<(Read, Forwarded)>>,
        close_write_join: JoinHandle<io::Result<Write>>,
        cut: &Arc<AtomicBool>,
    ) -> JoinHandle<PipelineEnd> {
        let direction = self.direction;
        let cut = cut.clone();
        tokio::spawn(async move {
            let result = tokio::try_join!(close_read_join, close_write_join);
            match result {
                Ok((Ok((reader, forwarded)), Ok(writer))) => {
                    debug!("Joining {} pipeline", direction);
                    if forwarded == Forwarded::Interrupted && !cut.load(Ordering::SeqCst) {
                        PipelineEnd::Interrupted((reader, writer))
                    } else {
                        PipelineEnd::Closed(Some((reader, writer)))
                    }
                }
                Ok(_) => {
                    debug!("Read or write sub task failed");
                    PipelineEnd::Closed(None)
                }
                Err(err) => {
                    debug!("Read or write sub task failed {:?}", err);
                    PipelineEnd::Closed(None)
                }
            }
        })
    }
}

impl PartialEq for Link {
    fn eq(&self, other: &Self) -> bool {
        self.upstream_addr == other.upstream_addr && self.direction == other.direction
    }
}

#[derive(Debug)]
pub(crate) struct ToxicRunner {
    active: bool,
    toxic: Toxic,
    closer: Option<Closer>,
    override_stop: Option<Stop>,
}

impl ToxicRunner {
    pub fn new((toxic, threshold): (Toxic, f32)) -> Self {
        ToxicRunner {
            active: toxic.toxicity >= threshold,
            toxic,
            closer: None,
            override_stop: None,
        }
    }

    pub fn is_active(&self) -> bool {
        self.active
    }

    pub fn toxic_name(&self) -> &str {
        &self.toxic.name
    }

    pub fn toxic_kind(&self) -> &ToxicKind {
        &self.toxic.kind
    }

    pub fn set_closer(&mut self, closer: Closer) {
        self.closer = Some(closer);
    }

    pub fn set_override_stop(&mut self, stop: Stop) {
        self.override_stop = Some(stop);
    }

    fn take_override_stop(&mut self) -> Stop {
        self.override_stop
            .take()
            .expect("State error: cannot run toxic without a override stop signal")
    }

    pub async fn run(
        &mut self,
        input: impl Stream<Item = Bytes>,
        output: impl Sink<Bytes>,
        state: Option<Arc<AsyncMutex<ToxicState>>>,
        rand_seed: Option<u64>,
        interrupt: Interrupt,
    ) -> io::Result<()> {
        pin!(input);
        pin!(output);
        let result = if self.active {
            match self.toxic.kind {
                ToxicKind::Noop => toxics::run_noop(input, output).await,
                ToxicKind::Latency { latency, jitter } => {
                    toxics::run_latency(input, output, latency, jitter, rand_seed, interrupt).await
                }
                ToxicKind::Timeout { timeout } => {
                    toxics::run_timeout(input, output, timeout, interrupt).await
                }
                ToxicKind::Bandwidth { rate } => {
                    toxics::run_bandwidth(input, output, rate, interrupt).await
                }
                ToxicKind::SlowClose { delay } => {
                    let stop = self.take_override_stop();
                    toxics::run_slow_close(input, output, stop, delay, interrupt).await
                }
                ToxicKind::Slicer {
                    average_size,
                    size_variation,
                    delay,
                } => {
                    toxics::run_slicer(
                        input,
                        output,
                        average_size,
                        size_variation,
                        delay,
                        rand_seed,
                        interrupt,
                    )
                    .await
                }
                ToxicKind::LimitData { bytes } => {
                    let stop = self.take_override_stop();
                    toxics::run_limit_data(input, output, stop, bytes, state).await
                }
            }
        } else {
            toxics::run_noop(input, output).await
        };
        if let Some(closer) = self.closer.take() {
            let _ = closer.close();
        }
        return result;
    }
}

#[cfg(test)]
mod tests {
    use futures::SinkExt;
    use tokio_test::{assert_err, assert_ok};

    use super::*;

    #[test]
    fn toxic_runner_take_override_stop() {
        let toxic = Toxic {
            name: "nop".to_owned(),
            kind: ToxicKind::Noop,
            direction: StreamDirection::Upstream,
            toxicity: 1.0,
        };
        let mut runner = ToxicRunner::new((toxic, 0.9));
        let (stop, stopper) = Stop::new();
        runner.set_override_stop(stop);
        let _stop = runner.take_override_stop();
        stopper.stop();
    }

    #[tokio::test]
    async fn run_slicer() {
        let slicer = Toxic {
            name: "slicer slices".to_owned(),
            kind: ToxicKind::Slicer {
                average_size: 4,
                size_variation: 0,
                delay: 0,
            },
            direction: StreamDirection::Upstream,
            toxicity: 1.0,
        };

        let mut runner = ToxicRunner::new((slicer, 1.0));
        let (mut tx, rx) = futures::channel::mpsc::channel::<Bytes>(1);
        let (tx2, mut rx2) = futures::channel::mpsc::channel::<Bytes>(1);
        assert_ok!(tx.send("chop chop".into()).await);
        let handle = tokio::spawn(async move {
            let res = runner.run(rx, tx2, None, None, Interrupt::new().0).await;
            assert_ok!(res);
        });
        assert_eq!(Some("chop".into()), rx2.next().await);
        assert_eq!(Some(" cho".into()), rx2.next().await);
        assert_eq!(Some("p".into()), rx2.next().await);
        drop(tx);
        assert_eq!(None, rx2.next().await);
        assert_ok!(handle.await);
    }

    #[tokio::test]
    async fn run_slicer_recv_drop() {
        let slicer = Toxic {
            name: "slicer slices".to_owned(),
            kind: ToxicKind::Slicer {
                average_size: 4,
                size_variation: 0,
                delay: 0,
            },
            direction: StreamDirection::Upstream,
            toxicity: 1.0,
        };

        let mut runner = ToxicRunner::new((slicer, 1.0));
        let (mut tx, rx) = futures::channel::mpsc::channel::<Bytes>(1);
        let (tx2, mut rx2) = futures::channel::mpsc::channel::<Bytes>(1);
        assert_ok!(tx.send("chop chop".into()).await);
        let handle = tokio::spawn(async move {
            let res = runner.run(rx, tx2, None, None, Interrupt::new().0).await;
            assert_err!(&res);
            assert_eq!(std::io::ErrorKind::ConnectionReset, res.unwrap_err().kind());
        });
        assert_eq!(Some("chop".into()), rx2.next().await);
        assert_eq!(Some(" cho".into()), rx2.next().await);
        drop(rx2);
        assert_ok!(handle.await);
    }

    #[tokio::test]
    async fn run_inactive() {
        let slicer = Toxic {
            name: "slicer slices".to_owned(),
            kind: ToxicKind::Slicer {
                average_size: 4,
                size_variation: 0,
                delay: 0,
            },
            direction: StreamDirection::Upstream,
            toxicity: 0.3,
        };

        let mut runner = ToxicRunner::new((slicer, 0.9));
        let (mut tx, rx) = futures::channel::mpsc::channel::<Bytes>(1);
        let (tx2, mut rx2) = futures::channel::mpsc::channel::<Bytes>(1);
        assert_ok!(tx.send("chop chop".into()).await);
        let handle = tokio::spawn(async move {
            let res = runner.run(rx, tx2, None, None, Interrupt::new().0).await;
            assert_ok!(res);
        });
        assert_eq!(Some("chop chop".into()), rx2.next().await);
        drop(tx);
        assert_eq!(None, rx2.next().await);
        assert_ok!(handle.await);
    }

    #[tokio::test]
    async fn run_with_closer() {
        let slicer = Toxic {
            name: "slicer slices".to_owned(),
            kind: ToxicKind::Bandwidth { rate: 48000 },
            direction: StreamDirection::Upstream,
            toxicity: 0.3,
        };

        let mut runner = ToxicRunner::new((slicer, 0.9));
        let (close, closer) = Close::new();
        runner.set_closer(closer);
        let (mut tx, rx) = futures::channel::mpsc::channel::<Bytes>(1);
        let (tx2, mut rx2) = futures::channel::mpsc::channel::<Bytes>(1);
        assert_ok!(tx.send("chop chop".into()).await);
        let handle = tokio::spawn(async move {
            let res = runner.run(rx, tx2, None, None, Interrupt::new().0).await;
            assert_ok!(res);
        });
        assert_eq!(Some("chop chop".into()), rx2.next().await);
        drop(tx);
        assert_eq!(None, rx2.next().await);
        assert_ok!(handle.await);
        assert_ok!(close.recv().await);
    }
}
