//! The tail the fault proxy adds to a realistic request: `bench/proxy.sh` runs it.
//!
//! One Redis connection straight to Redis and one through a toxic-free proxy; the same call
//! on both — a script doing an `INCR` and an `XADD` of a 300-byte field, the shape of the
//! ingestion API's reservation — one round trip at a time, in interleaved blocks so that both
//! see the same machine noise. Prints p50, p99, p99.9 and max of each, what the proxy adds,
//! and how many proxied round trips were at least 5 ms slower than the direct p99 (a stall
//! such as Nagle's algorithm meeting a delayed ACK: 40 ms, hidden by any median).
//!
//! ```sh
//! proxy_tail DIRECT_ADDR PROXIED_ADDR [ROUND_TRIPS]   # default 100000 each
//! ```

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use hdrhistogram::Histogram;

/// Round trips per block before switching connections.
const BLOCK: u64 = 1_000;
/// A proxied round trip this much slower than the direct p99 counts as a stall.
const STALL: Duration = Duration::from_millis(5);

const SCRIPT: &str = r"
redis.call('INCR', KEYS[1])
return redis.call('XADD', KEYS[2], 'MAXLEN', '~', '10000', '*', 'order', ARGV[1])";

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (direct, proxied, n) = match args.as_slice() {
        [d, p] => (d.clone(), p.clone(), 100_000),
        [d, p, n] => (d.clone(), p.clone(), n.parse().context("ROUND_TRIPS")?),
        _ => bail!("usage: proxy_tail DIRECT_ADDR PROXIED_ADDR [ROUND_TRIPS]"),
    };
    let mut ends = [connect(&direct).await?, connect(&proxied).await?];
    let script = redis::Script::new(SCRIPT);
    let payload = "x".repeat(300);
    let mut hist = [histogram()?, histogram()?];
    let mut slow = [Vec::new(), Vec::new()];
    // Warm-up: load the script, open both paths.
    for con in &mut ends {
        for _ in 0..BLOCK {
            call(&script, con, &payload).await?;
        }
    }
    let mut done = 0;
    while done < n {
        let block = BLOCK.min(n - done);
        for (i, con) in ends.iter_mut().enumerate() {
            for _ in 0..block {
                let took = call(&script, con, &payload).await?;
                hist[i].record(took.as_micros().max(1) as u64)?;
                slow[i].push(took);
            }
        }
        done += block;
    }
    let [d, p] = &hist;
    let line = |name: &str, h: &Histogram<u64>| {
        println!(
            "{name:<14} n={:>7}  p50 {:>7.3} ms  p99 {:>7.3} ms  p99.9 {:>7.3} ms  max {:>8.3} ms",
            h.len(),
            ms(h.value_at_quantile(0.50)),
            ms(h.value_at_quantile(0.99)),
            ms(h.value_at_quantile(0.999)),
            ms(h.max()),
        )
    };
    line("direct", d);
    line("through proxy", p);
    let added = |q: f64| ms(p.value_at_quantile(q)) - ms(d.value_at_quantile(q));
    println!(
        "added          p50 {:+.3} ms  p99 {:+.3} ms  p99.9 {:+.3} ms  (ratio of p99 proxied/direct {:.2})",
        added(0.50),
        added(0.99),
        added(0.999),
        p.value_at_quantile(0.99) as f64 / d.value_at_quantile(0.99).max(1) as f64,
    );
    let bound = Duration::from_micros(d.value_at_quantile(0.99)) + STALL;
    let stalls = slow[1].iter().filter(|t| **t >= bound).count();
    let direct_stalls = slow[0].iter().filter(|t| **t >= bound).count();
    println!(
        "round trips >= direct p99 + 5 ms: {stalls} proxied, {direct_stalls} direct (of {n} each)"
    );
    Ok(())
}

async fn connect(addr: &str) -> anyhow::Result<redis::aio::MultiplexedConnection> {
    let client = redis::Client::open(format!("redis://{addr}"))?;
    Ok(client.get_multiplexed_async_connection().await?)
}

async fn call(
    script: &redis::Script,
    con: &mut redis::aio::MultiplexedConnection,
    payload: &str,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let _: String = script
        .key("{bench}:stock")
        .key("{bench}:outbox")
        .arg(payload)
        .invoke_async(con)
        .await?;
    Ok(started.elapsed())
}

fn histogram() -> anyhow::Result<Histogram<u64>> {
    Ok(Histogram::new_with_bounds(1, 60_000_000, 3)?)
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}
