//! `fgchaos load`: drives order attempts at a running stack and records the history — no
//! stack, no faults, no verdict.

use anyhow::bail;
use fgchaos::cli::LoadArgs;
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
    };
    let plan = fgchaos::load::LoadPlan {
        entry: args.entry,
        product: args.product,
        key_prefix: fgchaos::run::run_id("load"),
        seed: args.seed,
        load,
        duration: duration.get(),
    };
    let summary = fgchaos::load::drive(
        plan,
        &args.history,
        Default::default(),
        watch::channel(false).1,
    )
    .await?;
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
    Ok(Exit::Success)
}
