//! `fgchaos check`: judges stored runs again. An unreadable run is a harness error (exit 3)
//! after the others have been judged.

use std::path::{Path, PathBuf};

use anyhow::Context;
use fgchaos::cli::CheckArgs;
use fgchaos::record::Record;
use fgchaos::verdict::Verdict;

use super::summary::print_summary;
use super::Exit;

pub fn check(args: &CheckArgs) -> anyhow::Result<Exit> {
    let mut worst: Option<Verdict> = None;
    let mut all = Vec::new();
    for dir in &args.runs {
        let record = match Record::read(dir) {
            Ok(r) => r,
            Err(e) => {
                errln!("fgchaos: cannot judge {}: {e}", dir.display());
                worst = worst.max(Some(Verdict::HarnessError));
                continue;
            }
        };
        let jd = fgchaos::verdict::judge(&record);
        let report = if args.write_report {
            // The report goes beside the run directory, where `run` put it.
            let report_dir = dir
                .canonicalize()
                .ok()
                .and_then(|d| d.parent().map(Path::to_path_buf))
                .unwrap_or_else(|| PathBuf::from("."));
            Some(
                fgchaos::report::write(&report_dir, &record, &jd)
                    .with_context(|| format!("writing the report of {}", dir.display()))?,
            )
        } else {
            None
        };
        print_summary(&record.journal, &jd, report.as_deref());
        worst = worst.max(Some(jd.verdict));
        all.push(serde_json::json!({ "run": dir, "verdict": jd, "report": report }));
    }
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&all)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(worst.map_or(Exit::Harness, Exit::Verdict))
}
