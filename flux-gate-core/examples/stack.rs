//! A whole Flux-Gate stack on this machine, for people and benchmarks:
//!
//! * `stack demo` — runs a flash sale through real Redis, Kafka (tansu), PostgreSQL and the
//!   services, kills the worker mid-sale and restarts it, then proves the promises held.
//! * `stack up [ENV_FILE]` — starts the stack, writes its endpoints as `KEY=value` lines, and
//!   runs until Ctrl-C (the API benchmark drives it with wrk).
//! * `stack drain-bench [N] [WORKERS…]` — times W workers (one round per count, default 1)
//!   draining an N-order backlog spread over every partition of `orders` into PostgreSQL,
//!   against a plain batched UNNEST insert of N rows in the same run.
//!
//! Build with `cargo build --release --examples` (the `flux-gate` binary must sit beside it).

#[path = "../tests/services/stack.rs"]
#[allow(dead_code)]
mod stack;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use flux_gate_core::contract::{Status, IDEMPOTENCY_HEADER};
use flux_gate_core::message::{OrderMessage, ORDERS_TOPIC};
use hdrhistogram::Histogram;
use rdkafka::producer::{FutureRecord, Producer};
use stack::{ApiEnv, Stack};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("demo") | None => demo().await,
        Some("up") => up(args.get(1).map(String::as_str)).await,
        Some("drain-bench") => {
            let n = args
                .get(1)
                .map(|s| s.parse())
                .transpose()
                .context("N must be a whole number")?
                .unwrap_or(100_000);
            let mut workers: Vec<usize> = args
                .iter()
                .skip(2)
                .map(|s| s.parse())
                .collect::<Result<_, _>>()
                .context("WORKERS must be whole numbers")?;
            if workers.is_empty() {
                workers.push(1);
            }
            if workers.contains(&0) {
                bail!("a round needs at least one worker");
            }
            drain_bench(n, &workers).await
        }
        Some(other) => {
            bail!("unknown mode {other:?}: use demo, up [ENV_FILE] or drain-bench [N] [WORKERS…]")
        }
    }
}

async fn up(env_file: Option<&str>) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    // Listen before announcing the endpoints: a script that reads them and fails at once sends
    // its SIGINT right after, and a signal that arrives before the listener exists is lost
    // (background jobs of a script start with SIGINT ignored).
    let mut interrupt = signal(SignalKind::interrupt()).context("listening for SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    let s = Stack::start_with(ApiEnv(vec![("FG_LOG", "warn".into())])).await;
    let lines = format!(
        "API_URL={}\nWORKER_URL={}\nREDIS_URL={}\nDATABASE_URL={}\nKAFKA_BROKERS={}\nADMIN_TOKEN={}\nRUN_DIR={}\n",
        s.api.url(""),
        s.worker.url(""),
        s.redis.url(),
        s.postgres.url(),
        s.kafka.brokers(),
        stack::ADMIN_TOKEN,
        s.path().display()
    );
    match env_file {
        Some(f) => std::fs::write(f, &lines).with_context(|| format!("writing {f}"))?,
        None => print!("{lines}"),
    }
    eprintln!("stack is up; Ctrl-C to stop");
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
    Ok(())
}

async fn demo() -> anyhow::Result<()> {
    let started = Instant::now();
    eprintln!("▶ starting Redis, PostgreSQL, tansu (Kafka protocol), flux-gate api and worker …");
    let mut s = Stack::start().await;
    eprintln!(
        "  up in {:.1?} — run dir {}",
        started.elapsed(),
        s.path().display()
    );
    let (product, stock, buyers) = ("demo-phone", 1_000i64, 20_000usize);
    s.init(product, stock, Some(1)).await;
    eprintln!("▶ flash sale: {buyers} buyers for {stock} units of {product} (one per buyer), 256 at a time");

    let sale_started = Instant::now();
    // Kill the worker while units are still selling, so acknowledged orders pile up in Kafka.
    let kill_after = (stock as usize * 2 / 5).min(buyers);
    let first = drive(&s, product, 0..kill_after).await;
    eprintln!(
        "▶ chaos: killing the inventory worker (SIGKILL) after {kill_after} attempts, mid-sale"
    );
    s.worker.process.kill().await?;
    let second = drive(&s, product, kill_after..buyers).await;
    let sale_took = sale_started.elapsed();
    eprintln!("▶ restarting the worker; it drains what queued in Kafka");
    s.worker.start().await;

    let mut tally = first.0;
    tally.merge(second.0);
    let mut hist = first.1;
    hist.add(second.1)?;
    let acked = tally.acked();
    let drained = Instant::now();
    let rows = s
        .wait_for_orders(product, acked, Duration::from_secs(60))
        .await;
    eprintln!("  backlog persisted in {:.1?}", drained.elapsed());

    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED)
        .set_header(["outcome", "count"]);
    for (k, v) in &tally.by_status {
        t.add_row([k.clone(), v.to_string()]);
    }
    println!("{t}");
    println!(
        "{buyers} attempts in {:.2?} ({:.0} req/s) · latency p50 {:.2} ms · p99 {:.2} ms · max {:.2} ms",
        sale_took,
        buyers as f64 / sale_took.as_secs_f64(),
        hist.value_at_quantile(0.50) as f64 / 1000.0,
        hist.value_at_quantile(0.99) as f64 / 1000.0,
        hist.max() as f64 / 1000.0
    );
    let (consistent, lines) = s.reconcile(product, false).await;
    let line = &lines[0];
    println!(
        "reconcile: initial {} · redis {} · outbox {} · db orders {} · db stock {}",
        line["initial"], line["redis_stock"], line["outbox"], line["db_orders"], line["db_stock"]
    );
    let no_oversell = rows.len() as i64 <= stock;
    let no_loss = rows.len() == acked;
    println!("no oversell: {}", verdict(no_oversell));
    println!(
        "no lost acknowledged order: {} ({} acknowledged, {} persisted)",
        verdict(no_loss),
        acked,
        rows.len()
    );
    println!("Redis and database agree: {}", verdict(consistent));
    if no_oversell && no_loss && consistent {
        println!("VERDICT: PASS — every promise held through a worker crash");
        Ok(())
    } else {
        bail!("VERDICT: FAIL — see {}", s.path().display())
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "✔ held"
    } else {
        "✘ BROKEN"
    }
}

#[derive(Default)]
struct Tally {
    by_status: std::collections::BTreeMap<String, usize>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        for (k, v) in other.by_status {
            *self.by_status.entry(k).or_default() += v;
        }
    }
    fn acked(&self) -> usize {
        self.by_status.get("success").copied().unwrap_or(0)
            + self.by_status.get("pending").copied().unwrap_or(0)
    }
}

async fn drive(s: &Stack, product: &str, range: std::ops::Range<usize>) -> (Tally, Histogram<u64>) {
    let gate = Arc::new(tokio::sync::Semaphore::new(256));
    let url = s.api.url("/order");
    let tasks: Vec<_> = range
        .map(|i| {
            let (http, url, gate, product) = (
                s.http.clone(),
                url.clone(),
                gate.clone(),
                product.to_owned(),
            );
            tokio::spawn(async move {
                let _p = gate.acquire_owned().await.ok()?;
                let t = Instant::now();
                let r = http
                    .post(&url)
                    .header(IDEMPOTENCY_HEADER, format!("demo-{i}"))
                    .json(
                        &serde_json::json!({"productId": product, "userId": format!("buyer-{i}")}),
                    )
                    .send()
                    .await
                    .ok()?;
                let a: flux_gate_core::contract::Answer = r.json().await.ok()?;
                Some((a.status, t.elapsed()))
            })
        })
        .collect();
    let mut tally = Tally::default();
    let mut hist = Histogram::<u64>::new(3).expect("histogram");
    for t in tasks {
        let (status, took) = match t.await.ok().flatten() {
            Some(x) => x,
            None => (Status::Unavailable, Duration::ZERO),
        };
        *tally
            .by_status
            .entry(status.as_str().to_owned())
            .or_default() += 1;
        let _ = hist.record(took.as_micros() as u64);
    }
    (tally, hist)
}

/// One round of the drain benchmark.
struct Drained {
    workers: usize,
    partitions: usize,
    /// Workers' start to the last row (process start and group formation included).
    total: Duration,
    /// First row to the last row, both seen by polling every 20 ms: the drain proper.
    drain: Duration,
}

async fn drain_bench(n: usize, rounds: &[usize]) -> anyhow::Result<()> {
    let mut results = Vec::new();
    let mut reference = None;
    for (i, &workers) in rounds.iter().enumerate() {
        let (round, reference_took) = drain_round(n, workers, i == 0).await?;
        reference = reference.or(reference_took);
        results.push(round);
    }
    let Some(first) = results.first() else {
        bail!("no round ran");
    };
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    let (base_total, base_drain) = (rate(first.total), rate(first.drain));
    for r in &results {
        println!(
            "worker drain, {} worker(s), {} partitions: {n} orders in {:.2} s = {:.0} orders/s (start to last row; ratio {:.2}) · drain {:.2} s = {:.0} orders/s (first row to last; ratio {:.2})",
            r.workers,
            r.partitions,
            r.total.as_secs_f64(),
            rate(r.total),
            rate(r.total) / base_total,
            r.drain.as_secs_f64(),
            rate(r.drain),
            rate(r.drain) / base_drain,
        );
    }
    if let Some(reference) = reference {
        println!(
            "reference (one UNNEST insert of {n} rows): {:.2} s = {:.0} rows/s",
            reference.as_secs_f64(),
            rate(reference)
        );
        for r in &results {
            println!(
                "ratio worker/reference throughput, {} worker(s): {:.2}",
                r.workers,
                reference.as_secs_f64() / r.total.as_secs_f64()
            );
        }
    }
    Ok(())
}

/// A fresh stack, a backlog of `n` orders while no worker runs — product `drain-P` in
/// partition P, so that every partition has the same share, as many products would — then
/// `workers` workers started together and timed until the last row.
async fn drain_round(
    n: usize,
    workers: usize,
    with_reference: bool,
) -> anyhow::Result<(Drained, Option<Duration>)> {
    let mut s = Stack::start_with(ApiEnv(vec![("FG_LOG", "warn".into())])).await;
    // The stack's worker created the topic; it stops, and the round starts its own workers.
    s.worker.process.stop(Duration::from_secs(5)).await?;
    let producer: flux_gate_core::kafka::Producer =
        flux_gate_core::kafka::producer(&s.kafka.brokers(), Duration::from_secs(60))?;
    let partitions = partitions_of_orders(&producer)?;
    for p in 0..partitions {
        s.init(&format!("drain-{p}"), n.div_ceil(partitions) as i64, None)
            .await;
    }
    // Reference: the same rows through one batched UNNEST insert, no Kafka, no worker.
    let reference = if with_reference {
        Some(reference_insert(&s, n).await?)
    } else {
        None
    };
    eprintln!("producing a backlog of {n} orders over {partitions} partitions …");
    produce_backlog(&producer, n, partitions).await?;
    let (total, drain) = time_drain(&s, n, workers).await?;
    let round = Drained {
        workers,
        partitions,
        total,
        drain,
    };
    Ok((round, reference))
}

fn partitions_of_orders(producer: &flux_gate_core::kafka::Producer) -> anyhow::Result<usize> {
    let metadata = producer
        .client()
        .fetch_metadata(Some(ORDERS_TOPIC), Duration::from_secs(10))?;
    let partitions = metadata
        .topics()
        .iter()
        .map(|t| t.partitions().len())
        .sum::<usize>();
    if partitions == 0 {
        bail!("`{ORDERS_TOPIC}` has no partitions");
    }
    Ok(partitions)
}

/// Order `i` goes to partition `i % partitions`, as product `drain-P`; waits for every ack.
async fn produce_backlog(
    producer: &flux_gate_core::kafka::Producer,
    n: usize,
    partitions: usize,
) -> anyhow::Result<()> {
    let payloads: Vec<(usize, String)> = (0..n)
        .map(|i| {
            let p = i % partitions;
            OrderMessage {
                order_id: uuid::Uuid::now_v7(),
                idempotency_key: format!("drain-{i}"),
                product_id: format!("drain-{p}"),
                user_id: format!("u{i}"),
                reserved_at: time::OffsetDateTime::now_utc(),
            }
            .to_json()
            .map(|json| (p, json))
        })
        .collect::<Result<_, _>>()?;
    let keys: Vec<String> = (0..partitions).map(|p| format!("drain-{p}")).collect();
    let sends: Vec<_> = payloads
        .iter()
        .map(|(p, json)| {
            producer
                .send_result(
                    FutureRecord::to(ORDERS_TOPIC)
                        .key(&keys[*p])
                        .partition(*p as i32)
                        .payload(json),
                )
                .map_err(|(e, _)| e)
        })
        .collect::<Result<_, _>>()?;
    for d in futures::future::join_all(sends).await {
        d.map_err(|_| anyhow::anyhow!("delivery cancelled"))?
            .map_err(|(e, _)| e)?;
    }
    producer.flush(Duration::from_secs(30))?;
    Ok(())
}

/// Starts `workers` workers together and waits for the `n`th row: (start to last row, first
/// row to last row). Each worker's log is kept under `target/` for a round that looks wrong.
async fn time_drain(s: &Stack, n: usize, workers: usize) -> anyhow::Result<(Duration, Duration)> {
    let mut group: Vec<stack::Service> = (1..=workers)
        .map(|i| s.another_worker(&format!("worker-{i}")))
        .collect();
    eprintln!("starting {workers} worker(s) and timing the drain …");
    let started = Instant::now();
    futures::future::join_all(group.iter_mut().map(|w| w.start())).await;
    let (first, last) = wait_for_count(s, n, Duration::from_secs(120)).await?;
    for i in 1..=workers {
        let name = format!("worker-{i}");
        let _ = std::fs::write(
            format!("target/drain-bench-{workers}-{name}.log"),
            s.log(&name),
        );
    }
    Ok((last.duration_since(started), last.duration_since(first)))
}

/// Polls `SELECT count(*)` of the benchmark's orders every 20 ms (fetching the rows, as the
/// tests' wait does, would cost the database more than the drain it measures) until `n` are
/// there: when the first row and the `n`th were seen.
async fn wait_for_count(
    s: &Stack,
    n: usize,
    limit: Duration,
) -> anyhow::Result<(Instant, Instant)> {
    let deadline = Instant::now() + limit;
    let mut first = None;
    loop {
        let (count,): (i64,) =
            sqlx::query_as("SELECT count(*) FROM orders WHERE product_id LIKE 'drain-%'")
                .fetch_one(&s.db)
                .await?;
        let now = Instant::now();
        if count > 0 && first.is_none() {
            first = Some(now);
        }
        if count as usize >= n {
            return Ok((first.unwrap_or(now), now));
        }
        if now > deadline {
            bail!("only {count} of {n} orders persisted in {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn reference_insert(s: &Stack, n: usize) -> anyhow::Result<Duration> {
    // A logged table like `orders`, so the reference pays for the same WAL and indexes.
    let mut con = s.db.acquire().await?;
    sqlx::query("CREATE TABLE ref_orders (LIKE orders INCLUDING ALL)")
        .execute(&mut *con)
        .await?;
    let ids: Vec<uuid::Uuid> = (0..n).map(|_| uuid::Uuid::now_v7()).collect();
    let keys: Vec<String> = (0..n).map(|i| format!("ref-{i}")).collect();
    let users: Vec<String> = (0..n).map(|i| format!("u{i}")).collect();
    let products = vec!["ref".to_owned(); n];
    let now = vec![time::OffsetDateTime::now_utc(); n];
    let started = Instant::now();
    for chunk in 0..n.div_ceil(5000) {
        let r = chunk * 5000..((chunk + 1) * 5000).min(n);
        sqlx::query(
            "INSERT INTO ref_orders (order_id, idempotency_key, product_id, user_id, reserved_at)
             SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::timestamptz[])",
        )
        .bind(&ids[r.clone()])
        .bind(&keys[r.clone()])
        .bind(&products[r.clone()])
        .bind(&users[r.clone()])
        .bind(&now[r])
        .execute(&mut *con)
        .await?;
    }
    Ok(started.elapsed())
}
