//! Several generators' histories made one: the history of the whole load, on the coordinator's
//! timeline, judged as if one generator had made it (Jepsen merges its clients' histories the
//! same way: every operation keeps its own times, and the timeline is one).
//!
//! Merging refuses, rather than judge something it cannot vouch for: histories of different
//! loads (run id, seed, load, generator count, agreed start or clock differ), a segment given
//! twice or missing (the merge would not be the whole load), a history shorter or longer than
//! its manifest says, an operation that is not its segment's or is there twice, and a generator
//! whose clock skew exceeds the bound.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::history::{self, Op, Recorder, SecondStats, Totals};
use super::manifest::{Manifest, ManifestError};
use super::segment::Segment;

/// The most clock skew a merge accepts by default: far above what one machine's clock shows
/// (none) or an exchange on loopback (tens of µs), far below the checkers' resolution.
pub const MAX_SKEW: Duration = Duration::from_millis(5);

/// The merged history, and each segment's manifest in segment order.
#[derive(Debug)]
pub struct Merged {
    /// Every operation, by completion time on the coordinator's timeline.
    pub ops: Vec<Op>,
    pub manifests: Vec<Manifest>,
}

impl Merged {
    /// Writes the merged history to `path` — beside it first, then renamed, so that a failed
    /// write leaves no partial history there — and returns its statistics.
    pub fn write(&self, path: &Path) -> std::io::Result<(Vec<SecondStats>, Totals)> {
        let mut partial = path.as_os_str().to_owned();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        let mut recorder = Recorder::create(&partial)?;
        for op in &self.ops {
            recorder.record(op)?;
        }
        let stats = recorder.finish()?;
        std::fs::rename(&partial, path)?;
        Ok(stats)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("nothing to merge: give the history of every segment")]
    Nothing,
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("{}: {source}", path.display())]
    History {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} and {} are slices of different loads: their {what} differ ({a} against {b})", first.display(), other.display())]
    DifferentLoads {
        first: PathBuf,
        other: PathBuf,
        what: &'static str,
        a: String,
        b: String,
    },
    #[error("segment {segment} is given twice ({} and {})", a.display(), b.display())]
    Twice {
        segment: Segment,
        a: PathBuf,
        b: PathBuf,
    },
    #[error("segment(s) {} missing: the merge would not be the whole load", list(.missing))]
    Missing { missing: Vec<Segment> },
    #[error("{}: holds {read} operations, its manifest recorded {recorded}: a partial or altered copy", path.display())]
    Incomplete {
        path: PathBuf,
        read: u64,
        recorded: u64,
    },
    #[error("{}: operation {seq} is not one of segment {segment}'s, or is there twice", path.display())]
    Foreign {
        path: PathBuf,
        seq: u64,
        segment: Segment,
    },
    #[error("{}: the clock of segment {segment} is off by up to {skew:?} against the coordinator's (over the bound of {bound:?}): its operations cannot be placed on one timeline with the others", path.display())]
    Skew {
        path: PathBuf,
        segment: Segment,
        skew: Duration,
        bound: Duration,
    },
}

fn list(segments: &[Segment]) -> String {
    let names: Vec<String> = segments.iter().map(Segment::to_string).collect();
    names.join(", ")
}

/// Merges the histories of every segment of one load. `max_skew` bounds each generator's
/// clock skew ([`super::clock::skew_us`]).
pub fn merge(histories: &[PathBuf], max_skew: Duration) -> Result<Merged, MergeError> {
    let mut given: Vec<(PathBuf, Manifest)> = Vec::new();
    for path in histories {
        given.push((path.clone(), Manifest::of(path)?));
    }
    let Some((first, m0)) = given.first().cloned() else {
        return Err(MergeError::Nothing);
    };
    for (path, m) in &given {
        same_load(&first, &m0, path, m)?;
        let skew = Duration::from_micros(m.skew_us());
        if skew > max_skew {
            return Err(MergeError::Skew {
                path: path.clone(),
                segment: m.segment,
                skew,
                bound: max_skew,
            });
        }
    }
    given.sort_by_key(|(_, m)| m.segment);
    for pair in given.windows(2) {
        if pair[0].1.segment == pair[1].1.segment {
            return Err(MergeError::Twice {
                segment: pair[0].1.segment,
                a: pair[0].0.clone(),
                b: pair[1].0.clone(),
            });
        }
    }
    let missing: Vec<Segment> = Segment::all(m0.segment.count())
        .filter(|s| !given.iter().any(|(_, m)| m.segment == *s))
        .collect();
    if !missing.is_empty() {
        return Err(MergeError::Missing { missing });
    }
    let mut ops = Vec::new();
    for (path, m) in &given {
        ops.extend(placed(path, m)?);
    }
    ops.sort_by_key(|o| (o.done_us, o.seq));
    Ok(Merged {
        ops,
        manifests: given.into_iter().map(|(_, m)| m).collect(),
    })
}

/// Refuses `m` unless it is a slice of the same load as `m0`.
fn same_load(first: &Path, m0: &Manifest, path: &Path, m: &Manifest) -> Result<(), MergeError> {
    let checks: [(&'static str, String, String); 6] = [
        ("run ids", m0.run.clone(), m.run.clone()),
        ("seeds", m0.seed.to_string(), m.seed.to_string()),
        ("loads", m0.load.clone(), m.load.clone()),
        (
            "generator counts",
            m0.segment.count().to_string(),
            m.segment.count().to_string(),
        ),
        (
            "agreed starts",
            m0.start_at_unix_us.to_string(),
            m.start_at_unix_us.to_string(),
        ),
        // One timeline needs one clock: a generator that held itself against its own machine's
        // clock (`local`) says nothing of how that clock stands against the others'.
        ("clocks", m0.clock.clone(), m.clock.clone()),
    ];
    for (what, a, b) in checks {
        if a != b {
            return Err(MergeError::DifferentLoads {
                first: first.to_owned(),
                other: path.to_owned(),
                what,
                a,
                b,
            });
        }
    }
    Ok(())
}

/// The operations of one segment's history, placed on the coordinator's timeline. Each
/// generator's times count from its own start: what it sent and heard back moves by how late
/// it started, what the schedule intended stays where the schedule put it — so a late start
/// shows as latency, as any other delay does (no coordinated omission).
fn placed(path: &Path, m: &Manifest) -> Result<Vec<Op>, MergeError> {
    let ops = history::read(path).map_err(|source| MergeError::History {
        path: path.to_owned(),
        source,
    })?;
    if ops.len() as u64 != m.ops {
        return Err(MergeError::Incomplete {
            path: path.to_owned(),
            read: ops.len() as u64,
            recorded: m.ops,
        });
    }
    let late = m.late_us();
    let shift = |t: u64| t.saturating_add_signed(late);
    let mut seen = std::collections::HashSet::with_capacity(ops.len());
    ops.into_iter()
        .map(|mut op| {
            if !m.segment.owns(op.seq) || !seen.insert(op.seq) {
                return Err(MergeError::Foreign {
                    path: path.to_owned(),
                    seq: op.seq,
                    segment: m.segment,
                });
            }
            op.sent_us = shift(op.sent_us);
            op.done_us = shift(op.done_us);
            Ok(op)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::clock::Reading;
    use crate::load::history::{Outcome, Recorder};

    fn op(seq: u64, at_us: u64) -> Op {
        Op {
            seq,
            key: format!("r-{seq}"),
            user: format!("u{seq}"),
            dup_of: None,
            intended_us: at_us,
            sent_us: at_us,
            done_us: at_us + 500,
            http: Some(200),
            outcome: Outcome::Ok,
            answer: None,
            order_id: Some(format!("o{seq}")),
            error: None,
        }
    }

    fn manifest(segment: &str) -> Manifest {
        Manifest {
            run: "r".into(),
            seed: 7,
            load: "{}".into(),
            segment: segment.parse().unwrap(),
            start_at_unix_us: 1_000_000,
            started_unix_us: 1_000_000,
            clock: "local".into(),
            clock_at_start: Reading::default(),
            clock_at_end: Reading::default(),
            ops: 0,
            not_sent: 0,
            elapsed_ms: 0,
        }
    }

    /// Writes a segment's history of `seqs` (op `s` at `s` ms) and its manifest.
    fn segment(dir: &Path, m: &Manifest, seqs: &[u64]) -> PathBuf {
        let path = dir.join(format!(
            "h-{}-{}.jsonl",
            m.segment.index(),
            m.segment.count()
        ));
        let mut r = Recorder::create(&path).unwrap();
        for &s in seqs {
            r.record(&op(s, s * 1000)).unwrap();
        }
        r.finish().unwrap();
        Manifest {
            ops: seqs.len() as u64,
            ..m.clone()
        }
        .write(&path)
        .unwrap();
        path
    }

    #[test]
    fn slices_merge_into_the_whole_load_on_one_timeline() {
        let dir = tempfile::tempdir().unwrap();
        let a = segment(dir.path(), &manifest("1/2"), &[0, 2, 4]);
        // The second generator started 300 µs late: what it sent and heard back moves by that
        // much, what the schedule intended does not (the lateness is latency).
        let mut late = manifest("2/2");
        late.started_unix_us += 300;
        let b = segment(dir.path(), &late, &[1, 3]);
        let merged = merge(&[b, a], Duration::from_millis(5)).unwrap();
        let seqs: Vec<u64> = merged.ops.iter().map(|o| o.seq).collect();
        assert_eq!(seqs, [0, 1, 2, 3, 4]);
        assert_eq!(merged.ops[1].intended_us, 1000);
        assert_eq!(merged.ops[1].done_us, 1800);
        assert_eq!(merged.ops[1].latency_us(), 800);
        assert_eq!(merged.ops[2].intended_us, 2000);
        assert_eq!(merged.manifests[0].segment.to_string(), "1/2");
    }

    #[test]
    fn what_is_not_one_load_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let bound = Duration::from_millis(5);
        let a = segment(dir.path(), &manifest("1/2"), &[0, 2]);
        let err = |paths: &[PathBuf]| merge(paths, bound).unwrap_err().to_string();
        let mut other_seed = manifest("2/2");
        other_seed.seed = 8;
        let b = segment(dir.path(), &other_seed, &[1]);
        assert!(
            err(&[a.clone(), b.clone()]).ends_with("their seeds differ (7 against 8)"),
            "{}",
            err(&[a.clone(), b.clone()])
        );
        let mut other_run = manifest("2/2");
        other_run.run = "q".into();
        other_run.write(&b).unwrap();
        assert!(err(&[a.clone(), b.clone()]).ends_with("their run ids differ (r against q)"));
        manifest("1/2").write(&b).unwrap();
        assert_eq!(
            err(&[a.clone(), b.clone()]),
            format!(
                "segment 1/2 is given twice ({} and {})",
                a.display(),
                b.display()
            )
        );
        assert_eq!(
            err(std::slice::from_ref(&a)),
            "segment(s) 2/2 missing: the merge would not be the whole load"
        );
        // Operation 2 is segment 1/2's, not 2/2's.
        let other = tempfile::tempdir().unwrap();
        let good = segment(other.path(), &manifest("1/2"), &[0]);
        let bad = segment(other.path(), &manifest("2/2"), &[1, 2]);
        let foreign = merge(&[good, bad], bound).unwrap_err();
        assert!(
            matches!(foreign, MergeError::Foreign { seq: 2, .. }),
            "{foreign}"
        );
        let mut skewed = manifest("2/2");
        skewed.clock_at_end = Reading {
            offset_us: 9000,
            uncertainty_us: 40,
        };
        skewed.write(&b).unwrap();
        assert!(err(&[a.clone(), b.clone()])
            .contains("the clock of segment 2/2 is off by up to 9.04ms against the coordinator's (over the bound of 5ms)"));
        let mut own_clock = manifest("2/2");
        own_clock.clock = "http://10.0.0.9:7478/clock".into();
        own_clock.ops = 1;
        own_clock.write(&b).unwrap();
        assert!(err(&[a.clone(), b.clone()])
            .ends_with("their clocks differ (local against http://10.0.0.9:7478/clock)"));
        let mut longer = manifest("2/2");
        longer.ops = 2;
        longer.write(&b).unwrap();
        assert!(err(&[a.clone(), b.clone()])
            .ends_with("holds 1 operations, its manifest recorded 2: a partial or altered copy"));
        std::fs::remove_file(Manifest::beside(&b)).unwrap();
        assert!(err(&[a, b]).contains("no manifest beside it"));
        assert_eq!(
            err(&[]),
            "nothing to merge: give the history of every segment"
        );
    }
}
