use crate::signal::Interrupt;
use bytes::Bytes;
use futures::{stream, Sink, Stream, StreamExt};
use rand::distributions::Uniform;
use rand::{rngs::StdRng, Rng, SeedableRng};
use std::io;
use tokio::time::{Duration, Instant};

/// Run the latency toxic
///
/// This implementation has a slightly different behavior from Shopify's toxiproxy
/// when it comes to randomizing jitter. Toxiproxy uses the global random number
/// generator from Go's rand package. There is no equivalent for this in Rust
/// and we don't want to use another Mutex to share a thread-local random generator
/// that's seeded once at startup, so we're seeding a new random generator for every
/// latency toxic, with the same seed startup argument, if available.
/// This would still allow determinism when you need it.
pub async fn run_latency(
    input: impl Stream<Item = Bytes>,
    output: impl Sink<Bytes>,
    latency: u64,
    jitter: u64,
    rand_seed: Option<u64>,
    interrupt: Interrupt,
) -> io::Result<()> {
    // Patched for fgchaos (see third_party/noxious/PATCHED.md): like Toxiproxy, each chunk is
    // delayed relative to when it *arrived*, so pipelined chunks are not serialised behind one
    // another (the original slept the full latency per chunk, one chunk at a time).
    let mut rand_gen = if let Some(seed) = rand_seed {
        StdRng::seed_from_u64(seed)
    } else {
        StdRng::from_entropy()
    };
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<(Instant, Bytes)>();
    let reader = async move {
        let mut input = Box::pin(input);
        while let Some(chunk) = input.next().await {
            let delay = if jitter == 0 {
                latency
            } else {
                (latency + rand_gen.sample(Uniform::from(0..(jitter * 2)))).saturating_sub(jitter)
            };
            if tx
                .send((Instant::now() + Duration::from_millis(delay), chunk))
                .is_err()
            {
                break;
            }
        }
    };
    // Once interrupted (the toxic is being replaced on a live connection), the chunks it holds
    // go out at once, in order, and so does the rest of its input, as in Toxiproxy.
    let delayed = stream::unfold((rx, interrupt), |(mut rx, mut interrupt)| async move {
        let (due, chunk) = rx.recv().await?;
        tokio::select! {
            _ = tokio::time::sleep_until(due) => {}
            _ = interrupt.recv() => {}
        }
        Some((chunk, (rx, interrupt)))
    });
    let writer = delayed.map(Ok).forward(output);
    tokio::pin!(reader);
    tokio::pin!(writer);
    // The output closing ends the toxic even while its input is still open.
    let written = tokio::select! {
        written = &mut writer => written,
        _ = &mut reader => writer.await,
    };
    written.map_err(|_| io::Error::new(io::ErrorKind::ConnectionReset, "Write channel closed"))
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::toxics::test_utils::*;
    use futures::{SinkExt, StreamExt};
    use tokio::time::{pause, resume, Instant};
    use tokio_test::assert_ok;

    #[tokio::test]
    async fn no_jitter_passthrough_once() {
        passthrough_test(|stream, sink| async move {
            run_latency(stream, sink, 2, 0, None, no_interrupt()).await
        })
        .await;
    }

    #[tokio::test]
    async fn passthrough_once() {
        passthrough_test(|stream, sink| async move {
            run_latency(stream, sink, 2, 2, None, no_interrupt()).await
        })
        .await;
    }

    #[tokio::test]
    async fn random_seed_passthrough_once() {
        passthrough_test(|stream, sink| async move {
            run_latency(stream, sink, 5, 2, Some(42), no_interrupt()).await
        })
        .await;
    }

    #[tokio::test]
    async fn drop_out_channel_first_with_latency() {
        drop_out_channel_first_test(|stream, sink| async move {
            run_latency(stream, sink, 2, 1, None, no_interrupt()).await
        })
        .await;
    }

    async fn test_latency(latency: u64, jitter: u64, seed: u64) {
        let (in_stream, mut in_sink) = create_stream_sink();
        let (mut out_stream, out_sink) = create_stream_sink();
        let data = gen_random_bytes(32);
        let expected = Some(data.clone());
        let handle = tokio::spawn(async move {
            run_latency(
                in_stream,
                out_sink,
                latency,
                jitter,
                Some(seed),
                no_interrupt(),
            )
            .await
        });

        assert_ok!(in_sink.send(data).await);
        drop(in_sink);
        assert_ok!(handle.await.unwrap());
        assert_eq!(expected, out_stream.next().await);
    }

    #[tokio::test]
    async fn test_latency_10() {
        let latency = 10u64;
        let beginning = Instant::now();
        pause();
        test_latency(latency, 0, 0).await;
        let duration = Instant::now().duration_since(beginning);
        assert_eq!(true, duration.as_millis() > latency as u128);
        resume();
    }

    #[tokio::test]
    async fn test_latency_with_jitter() {
        let latency = 1000u64;
        let jitter = 5u64;
        let beginning = Instant::now();
        pause();
        test_latency(latency, jitter, 1).await;
        let duration = Instant::now().duration_since(beginning);
        assert_eq!(true, duration.as_millis() > latency as u128);
        resume();
    }

    #[tokio::test]
    async fn interrupt_flushes_held_chunks_in_order() {
        let (in_stream, mut in_sink) = create_stream_sink();
        let (mut out_stream, out_sink) = create_stream_sink();
        let (interrupt, interrupter) = Interrupt::new();
        // A minute of latency: nothing would come out during the test without the interrupt.
        let handle = tokio::spawn(run_latency(in_stream, out_sink, 60_000, 0, None, interrupt));
        let chunks: Vec<Bytes> = (0..5)
            .map(|i| Bytes::from(format!("chunk {}", i)))
            .collect();
        for chunk in &chunks {
            assert_ok!(in_sink.send(chunk.clone()).await);
        }
        let early = tokio::time::timeout(Duration::from_millis(50), out_stream.next()).await;
        assert_eq!(true, early.is_err(), "held by the latency: {:?}", early);

        interrupter.interrupt();
        for chunk in &chunks {
            let next = tokio::time::timeout(Duration::from_secs(1), out_stream.next()).await;
            assert_eq!(Some(chunk.clone()), next.expect("flushed at once"));
        }
        // After the interrupt the rest of the input passes straight through until it ends.
        assert_ok!(in_sink.send(Bytes::from("later")).await);
        let next = tokio::time::timeout(Duration::from_secs(1), out_stream.next()).await;
        assert_eq!(Some(Bytes::from("later")), next.expect("passed through"));
        drop(in_sink);
        let res = tokio::time::timeout(Duration::from_secs(1), handle).await;
        assert_ok!(res.expect("ends with its input").unwrap());
        assert_eq!(None, out_stream.next().await);
    }
}
