//! `fgchaos merge`: the histories of a load's segments made one, on the coordinator's
//! timeline — or a clear refusal, with nothing written.

use std::path::Path;

use anyhow::Context;
use fgchaos::cli::MergeArgs;
use fgchaos::load::manifest::Manifest;
use fgchaos::load::merge::{merge as merge_histories, MAX_SKEW};
use fgchaos::scenario::Dur;

use super::Exit;

pub fn merge(args: &MergeArgs) -> anyhow::Result<Exit> {
    let bound = match &args.max_skew {
        Some(text) => text
            .parse::<Dur>()
            .map_err(anyhow::Error::msg)
            .context("--max-skew")?
            .get(),
        None => MAX_SKEW,
    };
    refuse_overwrite(args)?;
    let merged = merge_histories(&args.histories, bound)?;
    let (_, totals) = merged
        .write(&args.out)
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

/// `--out` must be neither an input nor its manifest, and must not exist unless `--force`.
fn refuse_overwrite(args: &MergeArgs) -> anyhow::Result<()> {
    let same = |p: &Path| p.canonicalize().ok();
    let out = same(&args.out);
    for h in &args.histories {
        for input in [h.clone(), Manifest::beside(h)] {
            if out.is_some() && same(&input) == out {
                anyhow::bail!(
                    "--out {} is one of the files to merge: give another path",
                    input.display()
                );
            }
        }
    }
    if args.out.exists() && !args.force {
        anyhow::bail!(
            "--out {} exists: give another path, or --force to replace it",
            args.out.display()
        );
    }
    Ok(())
}
