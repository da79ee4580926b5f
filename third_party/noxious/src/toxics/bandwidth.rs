use super::{run_noop, sleep_unless_interrupted};
use crate::signal::Interrupt;
use bytes::Bytes;
use futures::{Sink, Stream};
use futures::{SinkExt, StreamExt};
use std::convert::TryInto;
use std::io;
use tokio::pin;
use tokio::time::Duration;

const INTERVAL: u64 = 100;
const UNIT: usize = 100;

pub async fn run_bandwidth(
    input: impl Stream<Item = Bytes>,
    output: impl Sink<Bytes>,
    rate: u64, // in KB/s
    mut interrupt: Interrupt,
) -> io::Result<()> {
    if rate == 0 {
        return run_noop(input, output).await;
    }
    pin!(input);
    pin!(output);

    while let Some(chunk) = input.next().await {
        let mut chunk = chunk;
        // Once interrupted (the toxic is being replaced on a live connection), the rest of the
        // current chunk goes out at once and later chunks pass through, as in Toxiproxy.
        if !interrupt.interrupted() {
            let chunk_len: u64 = chunk
                .len()
                .try_into()
                .expect("Could not convert chunk size from usize to u64");
            let mut to_sleep = Duration::from_nanos(
                (Duration::from_millis(chunk_len).as_nanos() / rate as u128)
                    .try_into()
                    .expect("chunk is too large"),
            );

            let rate: usize = rate
                .try_into()
                .expect("Could not convert bandwidth rate from u64 to usize");

            // If the rate is low enough, split the packet up and send in 100 millisecond intervals
            // (`rate * UNIT` bytes each, as Toxiproxy does)
            while chunk.len() > rate * UNIT {
                if !sleep_unless_interrupted(Duration::from_millis(INTERVAL), &mut interrupt).await
                {
                    break;
                }
                let to_send = chunk.split_to(rate * UNIT);
                if output.send(to_send).await.is_err() {
                    return Err(io::Error::new(
                        io::ErrorKind::ConnectionReset,
                        "Write channel closed",
                    ));
                }
                to_sleep = to_sleep.saturating_sub(Duration::from_millis(INTERVAL));
            }
            // sleep's granularity is 1ms
            if to_sleep.as_millis() > 0 {
                sleep_unless_interrupted(to_sleep, &mut interrupt).await;
            }
        }
        if !chunk.is_empty() && output.send(chunk).await.is_err() {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "Write channel closed",
            ));
        }
    }

    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::toxics::test_utils::*;

    #[tokio::test]
    async fn passthrough_once() {
        passthrough_test(|stream, sink| async move {
            run_bandwidth(stream, sink, 128, no_interrupt()).await
        })
        .await;
    }

    #[tokio::test]
    async fn unlimited_passthrough_once() {
        passthrough_test(|stream, sink| async move {
            run_bandwidth(stream, sink, 0, no_interrupt()).await
        })
        .await;
    }

    #[tokio::test]
    async fn drop_out_channel_first() {
        drop_out_channel_first_test(|stream, sink| async move {
            run_bandwidth(stream, sink, 128, no_interrupt()).await
        })
        .await;
    }
}
