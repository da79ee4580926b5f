//! `fgchaos merge`: the histories of a load's segments made one, on the coordinator's
//! timeline — or a clear refusal, with nothing written.

use anyhow::Context;
use fgchaos::cli::MergeArgs;
use fgchaos::load::history::Recorder;
use fgchaos::load::merge::merge as merge_histories;
use fgchaos::scenario::Dur;

use super::Exit;

pub fn merge(args: &MergeArgs) -> anyhow::Result<Exit> {
    let bound: Dur = args
        .max_skew
        .parse()
        .map_err(anyhow::Error::msg)
        .context("--max-skew")?;
    let same = |p: &std::path::Path| p.canonicalize().ok();
    if let Some(input) = args
        .histories
        .iter()
        .find(|h| same(h).is_some() && same(h) == same(&args.out))
    {
        anyhow::bail!(
            "--out {} is one of the histories to merge: give another path",
            input.display()
        );
    }
    let merged = merge_histories(&args.histories, bound.get())?;
    let mut recorder =
        Recorder::create(&args.out).with_context(|| format!("writing {}", args.out.display()))?;
    for op in &merged.ops {
        recorder
            .record(op)
            .with_context(|| format!("writing {}", args.out.display()))?;
    }
    let (_, totals) = recorder
        .finish()
        .with_context(|| format!("writing {}", args.out.display()))?;
    for m in &merged.manifests {
        outln!(
            "segment {}  {} ops  started {} µs after the agreed start  skew ≤ {} µs ({})",
            m.segment,
            m.ops,
            m.late_us(),
            m.skew_us(),
            m.clock
        );
    }
    outln!(
        "merged {} segments of load {}: {} ops (ok {} fail {} info {})  history {}",
        merged.manifests.len(),
        merged.manifests.first().map_or("", |m| m.run.as_str()),
        totals.ops,
        totals.ok,
        totals.fail,
        totals.info,
        args.out.display()
    );
    Ok(Exit::Success)
}
