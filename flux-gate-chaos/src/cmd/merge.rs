//! `fgchaos merge`: the histories of a load's segments made one, on the coordinator's
//! timeline — or a clear refusal, with nothing written.

use std::path::{Path, PathBuf};

use anyhow::Context;
use fgchaos::cli::MergeArgs;
use fgchaos::load::history::Recorder;
use fgchaos::load::manifest::Manifest;
use fgchaos::load::merge::merge as merge_histories;
use fgchaos::scenario::Dur;

use super::Exit;

pub fn merge(args: &MergeArgs) -> anyhow::Result<Exit> {
    let bound: Dur = args
        .max_skew
        .parse()
        .map_err(anyhow::Error::msg)
        .context("--max-skew")?;
    refuse_overwrite(args)?;
    let merged = merge_histories(&args.histories, bound.get())?;
    // Written beside, then renamed: a failed write leaves no partial history under --out.
    let mut partial = args.out.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let writing = || format!("writing {}", partial.display());
    let mut recorder = Recorder::create(&partial).with_context(writing)?;
    for op in &merged.ops {
        recorder.record(op).with_context(writing)?;
    }
    let (_, totals) = recorder.finish().with_context(writing)?;
    std::fs::rename(&partial, &args.out)
        .with_context(|| format!("moving {} to {}", partial.display(), args.out.display()))?;
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
