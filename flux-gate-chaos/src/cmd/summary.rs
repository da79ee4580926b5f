//! The tables `run` and `check` print for each judged run.

use std::path::Path;

use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use fgchaos::journal::Journal;
use fgchaos::verdict::stall::Diagnosis;
use fgchaos::verdict::Judgement;

/// Checkers, windows, the quoted log lines of a stuck component, the verdict and the report.
pub fn print_summary(journal: &Journal, jd: &Judgement, report: Option<&Path>) {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED);
    t.set_header(["checker", "result", "evidence"]);
    for f in &jd.findings {
        t.add_row([
            f.checker.clone(),
            f.status.as_str().to_owned(),
            f.summary.clone(),
        ]);
    }
    outln!("{t}");
    let mut p = Table::new();
    p.load_style(UTF8_FULL_CONDENSED);
    p.set_header([
        "window",
        "req/s",
        "ok",
        "fail",
        "info",
        "p50",
        "p99",
        "available",
    ]);
    for w in &jd.windows {
        p.add_row([
            w.name.clone(),
            format!("{:.0}", w.rps),
            w.ok.to_string(),
            w.fail.to_string(),
            w.info.to_string(),
            format!("{:.1} ms", w.p50_us as f64 / 1000.0),
            format!("{:.1} ms", w.p99_us as f64 / 1000.0),
            format!("{:.2}%", w.availability * 100.0),
        ]);
    }
    outln!("{p}");
    if let Some(Diagnosis::Stuck(s)) = &jd.diagnosis {
        for l in &s.log_lines {
            outln!("  {l}");
        }
    }
    if let Some(line) = fgchaos::verdict::steady_line(journal, jd) {
        outln!("{line}");
    }
    outln!(
        "{}: {} — {}",
        journal.scenario.name,
        jd.verdict.as_str(),
        jd.reason
    );
    if let Some(r) = report {
        outln!("report: {}", r.display());
    }
}
