//! One generator's share of a load, so that several generators make one load together (k6's
//! execution segments).
//!
//! Segment `i/n` sends every `n`-th attempt of the one schedule, starting with attempt `i - 1`:
//! the segments are disjoint and add up to exactly the whole schedule, attempt by attempt.
//! Striding — not cutting the run into `n` stretches of time — spreads each generator's share
//! evenly over the run, so every generator runs the whole length at `1/n` of the rate, and any
//! second of the merged history holds the same attempts as one generator's would (decisions
//! §61). An attempt's key and buyer come from its sequence number and the shared seed
//! ([`super::generator::attempt`]): a segment's are those of its own attempts, never another's.

use std::fmt;
use std::str::FromStr;

/// `i/n`: the `i`-th of `n` generators (from 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Segment {
    index: u32,
    count: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SegmentError {
    #[error("`{0}` is not a segment: write i/n, like 1/2 (the first of two generators)")]
    Form(String),
    #[error("segment `{0}`: there must be at least one generator")]
    NoGenerators(String),
    #[error("segment `{0}`: segments count from 1 (1/{1} … {1}/{1})")]
    FromOne(String, u32),
    #[error("segment `{0}`: there are only {1} (1/{1} … {1}/{1})")]
    Beyond(String, u32),
}

impl Segment {
    /// The whole load: one generator.
    pub const WHOLE: Segment = Segment { index: 1, count: 1 };

    /// The `index`-th of `count` (from 1).
    pub fn new(index: u32, count: u32) -> Result<Segment, SegmentError> {
        let shown = format!("{index}/{count}");
        if count == 0 {
            return Err(SegmentError::NoGenerators(shown));
        }
        if index == 0 {
            return Err(SegmentError::FromOne(shown, count));
        }
        if index > count {
            return Err(SegmentError::Beyond(shown, count));
        }
        Ok(Segment { index, count })
    }

    /// Every segment of `count` generators, in order.
    pub fn all(count: u32) -> impl Iterator<Item = Segment> {
        (1..=count).map(move |index| Segment { index, count })
    }

    pub fn index(self) -> u32 {
        self.index
    }

    pub fn count(self) -> u32 {
        self.count
    }

    /// The first attempt this segment sends.
    pub fn first(self) -> u64 {
        u64::from(self.index - 1)
    }

    /// How far apart this segment's attempts are.
    pub fn step(self) -> u64 {
        u64::from(self.count)
    }

    /// Whether attempt `seq` is this segment's.
    pub fn owns(self, seq: u64) -> bool {
        seq % self.step() == self.first()
    }

    /// The `k`-th attempt of this segment (from 0): its sequence number in the whole load.
    pub fn seq(self, k: u64) -> u64 {
        k.saturating_mul(self.step()).saturating_add(self.first())
    }

    /// This segment's share of `total` things (the closed model's virtual users): the shares
    /// of all segments add up to `total`, and differ by one at most.
    pub fn share(self, total: u32) -> u32 {
        let (i, n, t) = (
            u64::from(self.index),
            u64::from(self.count),
            u64::from(total),
        );
        (t * i / n - t * (i - 1) / n) as u32
    }

    /// Whether this is the whole load.
    pub fn is_whole(self) -> bool {
        self.count == 1
    }
}

impl FromStr for Segment {
    type Err = SegmentError;

    fn from_str(s: &str) -> Result<Segment, SegmentError> {
        let form = || SegmentError::Form(s.to_owned());
        let (i, n) = s.trim().split_once('/').ok_or_else(form)?;
        let i: u32 = i.trim().parse().map_err(|_| form())?;
        let n: u32 = n.trim().parse().map_err(|_| form())?;
        Segment::new(i, n)
    }
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl serde::Serialize for Segment {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Segment {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Segment, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_disjoint_and_add_up_to_the_whole_load() {
        for n in 1..=5u32 {
            let mut owners = vec![0u32; 1000];
            for s in Segment::all(n) {
                let mut k = 0;
                while s.seq(k) < 1000 {
                    assert!(s.owns(s.seq(k)));
                    owners[s.seq(k) as usize] += 1;
                    k += 1;
                }
            }
            assert!(owners.iter().all(|&o| o == 1), "n = {n}");
            for vus in [0u32, 1, 2, 7, 64] {
                let shares: Vec<u32> = Segment::all(n).map(|s| s.share(vus)).collect();
                assert_eq!(shares.iter().sum::<u32>(), vus, "{shares:?}");
                let (lo, hi) = (shares.iter().min(), shares.iter().max());
                assert!(hi.unwrap() - lo.unwrap() <= 1, "{shares:?}");
            }
        }
    }

    #[test]
    fn bad_segments_are_refused_with_the_form_to_write() {
        assert_eq!("2/3".parse(), Segment::new(2, 3));
        assert_eq!(" 1 / 1 ".parse(), Ok(Segment::WHOLE));
        let err = |s: &str| s.parse::<Segment>().unwrap_err().to_string();
        assert_eq!(err("3/2"), "segment `3/2`: there are only 2 (1/2 … 2/2)");
        assert_eq!(
            err("0/0"),
            "segment `0/0`: there must be at least one generator"
        );
        assert_eq!(
            err("0/2"),
            "segment `0/2`: segments count from 1 (1/2 … 2/2)"
        );
        for bad in ["", "1", "a/2", "1/b", "-1/2", "1/2/3"] {
            assert!(err(bad).contains("is not a segment"), "{bad}: {}", err(bad));
        }
        let json = serde_json::to_string(&Segment::new(2, 3).unwrap()).unwrap();
        assert_eq!(json, "\"2/3\"");
        assert!(serde_json::from_str::<Segment>("\"4/3\"").is_err());
    }
}
