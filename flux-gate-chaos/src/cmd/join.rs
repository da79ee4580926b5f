//! `fgchaos join`: one generator of a run's load, placed by the run on another node. It takes
//! everything but its segment and entry from the run's coordinator, so that no two generators
//! of one load can be given different loads.

use anyhow::{bail, Context};
use fgchaos::cli::JoinArgs;
use fgchaos::load::meeting::drive_segment;
use fgchaos::load::{remote, Segment};

use super::Exit;

pub async fn join(args: &JoinArgs) -> anyhow::Result<Exit> {
    if !args.entry.ip().is_loopback() {
        bail!(
            "--entry {}: fgchaos sends load only to loopback addresses",
            args.entry
        );
    }
    let segment: Segment = args.segment.parse().context("--segment")?;
    let joined = remote::join(args.coordinator, segment, args.entry).await?;
    outln!(
        "segment {segment} of load {} joined: {} from {} µs (coordinator {})",
        joined.plan.key_prefix,
        joined.plan.product,
        joined.meeting.start_at_unix_us,
        args.coordinator
    );
    let driven = drive_segment(
        joined.plan.clone(),
        &joined.out,
        Default::default(),
        joined.stop.clone(),
        &joined.meeting,
    )
    .await;
    // The upload ends either way: without a manifest, the coordinator names this segment.
    let taken = joined.finish().await;
    let (summary, manifest) = driven?;
    let taken = taken?;
    outln!(
        "requests {}  ok {} fail {} info {}  started {} µs after the agreed start  skew ≤ {} µs  coordinator: {taken}",
        summary.totals.ops,
        summary.totals.ok,
        summary.totals.fail,
        summary.totals.info,
        manifest.late_us(),
        manifest.skew_us(),
    );
    Ok(Exit::Success)
}
