//! A run stored in journal format 3 (`tests/golden/run`: `scenario.yaml` run on the local
//! target with seed 7) is still read, byte for byte, and judged the same. A change to the
//! journal's shape that is not versioned fails here: either keep the JSON as it is or bump
//! `journal::FORMAT` and teach the reader the older one.

mod common;

use std::path::{Path, PathBuf};

use fgchaos::journal::{Journal, FORMAT};
use fgchaos::record::Record;
use fgchaos::verdict::{self, checkers::Status, Verdict};

fn golden() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/run")
}

#[test]
fn the_stored_journal_reads_and_writes_back_byte_for_byte() {
    let path = golden().join("journal.json");
    let stored = std::fs::read(&path).unwrap();
    let journal = Journal::read(&path).unwrap();
    assert_eq!(
        journal.format, FORMAT,
        "a new format needs a golden run of its own"
    );
    let written = serde_json::to_vec_pretty(&journal).unwrap();
    assert!(
        written == stored,
        "the journal no longer writes what it read:\n{}",
        first_difference(&stored, &written)
    );
}

#[test]
fn the_stored_run_is_judged_as_it_was_recorded() {
    let record = Record::read(&golden()).unwrap();
    assert_eq!(record.ops.len(), 200);
    assert!(!record.samples.is_empty());
    let judgement = verdict::judge(&record);
    assert_eq!(judgement.verdict, Verdict::Pass, "{}", judgement.reason);
    let statuses: Vec<(&str, Status)> = judgement
        .findings
        .iter()
        .map(|f| (f.checker.as_str(), f.status))
        .collect();
    assert_eq!(
        statuses,
        vec![
            ("no_oversell", Status::Pass),
            ("no_lost_acks", Status::Pass),
            ("no_phantoms", Status::Pass),
            ("no_duplicates", Status::Pass),
            ("stock_conserved", Status::Pass),
            ("db_matches_redis", Status::Pass),
            ("per_user_limit", Status::Pass),
            ("availability", Status::Pass),
            ("latency", Status::Skipped),
            ("recovery", Status::Pass),
            ("backlog", Status::Skipped),
        ]
    );
    let names: Vec<&str> = judgement.windows.iter().map(|w| w.name.as_str()).collect();
    assert_eq!(names, ["baseline", "kill inventory-worker", "recovery"]);
}

#[test]
fn fgchaos_check_reads_the_stored_run() {
    let checked = common::check(&golden(), &[]);
    assert_eq!(checked.code, Some(0), "{}", checked.stdout);
    assert!(
        checked
            .stdout
            .contains("golden-run: PASS — every promise held (131 ok, 69 fail, 0 info ops)"),
        "{}",
        checked.stdout
    );
    assert_eq!(
        checked.verdicts[0]["verdict"]["verdict"], "pass",
        "{}",
        checked.verdicts
    );
}

/// Where two texts part, with a little context, for a readable failure.
fn first_difference(a: &[u8], b: &[u8]) -> String {
    let at = a
        .iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    let from = at.saturating_sub(120);
    format!(
        "stored:  …{}\nwritten: …{}",
        String::from_utf8_lossy(&a[from..(at + 120).min(a.len())]),
        String::from_utf8_lossy(&b[from..(at + 120).min(b.len())])
    )
}
