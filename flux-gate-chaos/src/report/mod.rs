//! Outputs of a run: the markdown report with its SVG charts, and JUnit XML.

pub mod charts;
pub mod junit;
pub mod markdown;

use std::path::{Path, PathBuf};

use crate::record::Record;
use crate::verdict::Judgement;

/// Writes `<report_dir>/<run id>.md` and its charts into `<report_dir>/<run id>/`.
pub fn write(report_dir: &Path, r: &Record, jd: &Judgement) -> std::io::Result<PathBuf> {
    let j = &r.journal;
    let run_dir = report_dir.join(&j.run_id);
    std::fs::create_dir_all(&run_dir)?;
    let seconds = j
        .load
        .as_ref()
        .map(|l| l.seconds.as_slice())
        .unwrap_or_default();
    let charts = match charts::write(&run_dir, seconds, &jd.windows, &r.samples, &j.backlog) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "charts not drawn");
            Vec::new()
        }
    };
    let links = markdown::Links {
        dir: j.run_id.clone(),
        charts,
    };
    let path = report_dir.join(format!("{}.md", j.run_id));
    std::fs::write(&path, markdown::render(j, jd, &r.samples, &links))?;
    Ok(path)
}
