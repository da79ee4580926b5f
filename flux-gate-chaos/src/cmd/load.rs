//! `fgchaos load`: drives order attempts at a running stack and records the history — no
//! stack, no faults, no verdict. With `--segment`, one generator's share of a load made by
//! several, with the manifest `fgchaos merge` needs beside its history.

use anyhow::{bail, Context};
use fgchaos::cli::LoadArgs;
use fgchaos::load::clock::Clock;
use fgchaos::load::manifest::Manifest;
use fgchaos::load::meeting::{drive_segment, Meeting};
use fgchaos::load::out::Out;
use fgchaos::load::{LoadPlan, LoadSummary, Segment};
use fgchaos::scenario::{self, Dur, LoadModel, Rate};
use tokio::sync::watch;

use super::Exit;

pub async fn load(args: LoadArgs) -> anyhow::Result<Exit> {
    if !args.entry.ip().is_loopback() {
        bail!(
            "--entry {}: fgchaos sends load only to loopback addresses",
            args.entry
        );
    }
    let segment = match &args.segment {
        Some(s) => s.parse::<Segment>().context("--segment")?,
        None => Segment::WHOLE,
    };
    if let Some(vus) = args.vus.filter(|v| *v < segment.count()) {
        bail!(
            "--segment {segment} with --vus {vus}: each of the {} generators drives its share of the users, so give at least as many users",
            segment.count()
        );
    }
    let plan = plan(&args, segment)?;
    let never = watch::channel(false).1;
    let out = Out::File(args.history.clone());
    let (summary, manifest) = match args.start_at {
        Some(ms) => {
            let meeting = Meeting {
                start_at_unix_us: ms.saturating_mul(1000),
                clock: args.clock.map_or(Clock::Local, Clock::Remote),
            };
            let (summary, manifest) =
                drive_segment(plan, &out, Default::default(), never, &meeting).await?;
            (summary, Some(manifest))
        }
        None => {
            let summary = fgchaos::load::drive(plan, &out, Default::default(), never).await?;
            (summary, None)
        }
    };
    print_summary(&args, &summary, manifest.as_ref());
    Ok(Exit::Success)
}

fn plan(args: &LoadArgs, segment: Segment) -> anyhow::Result<LoadPlan> {
    let duration: Dur = args.duration.parse().map_err(anyhow::Error::msg)?;
    let (model, rate) = match (&args.rate, args.vus) {
        (Some(r), _) => (
            LoadModel::ArrivalRate,
            Some(r.parse::<Rate>().map_err(anyhow::Error::msg)?),
        ),
        (None, Some(_)) => (LoadModel::VirtualUsers, None),
        (None, None) => bail!("give --rate (open model) or --vus (closed model)"),
    };
    let load = scenario::Load {
        model,
        rate,
        stages: Vec::new(),
        vus: args.vus,
        duration: Some(duration),
        max_requests: None,
        users: args.users,
        duplicate_ratio: 0.0,
        timeout: Dur::secs(2),
        connections: args.connections,
        generators: segment.count(),
    };
    Ok(LoadPlan {
        entry: args.entry,
        product: args.product.clone(),
        key_prefix: args
            .run_id
            .clone()
            .unwrap_or_else(|| fgchaos::run::run_id("load")),
        seed: args.seed,
        load,
        duration: duration.get(),
        segment,
    })
}

fn print_summary(args: &LoadArgs, summary: &LoadSummary, manifest: Option<&Manifest>) {
    let secs = summary.elapsed_ms as f64 / 1000.0;
    let t = &summary.totals;
    outln!(
        "requests {}  {:.0} req/s  ok {} fail {} info {}  history {}",
        t.ops,
        t.ops as f64 / secs.max(0.001),
        t.ok,
        t.fail,
        t.info,
        args.history.display()
    );
    if let Some(m) = manifest {
        outln!(
            "segment {} of load {}  started {} µs after the agreed start  clock {} (skew ≤ {} µs)  manifest {}",
            m.segment,
            m.run,
            m.late_us(),
            m.clock,
            m.skew_us(),
            Manifest::beside(&args.history).display()
        );
    }
}
