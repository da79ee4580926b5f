//! Which trial comes next. Uniform search draws every trial fresh from the space; guided search
//! keeps a corpus of the trials that showed behaviour no earlier trial showed
//! ([`super::novelty`]) and draws half of its trials as neighbours of one of them.
//!
//! Both are pure: trial `i` of seed `s` is drawn from a seed derived from `(s, i)`, so uniform
//! search gives the same trials for the same seed and space on any machine, and guided search
//! does too as long as the trials behave the same (what it learns is the only other input).

use std::collections::BTreeSet;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::draw;
use super::space::Resolved;
use crate::scenario::Scenario;

/// How the next trial is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Every trial drawn fresh from the space.
    Uniform,
    /// Half the trials drawn near one that showed something new.
    Guided,
}

impl Strategy {
    /// `--strategy`'s default: uniform search reached every broken build's first failure as
    /// early as guided search or earlier (docs/explore.md has the table; decisions §55).
    pub const DEFAULT: Strategy = Strategy::Uniform;

    /// The word `--strategy` and the index use.
    pub const fn as_str(self) -> &'static str {
        match self {
            Strategy::Uniform => "uniform",
            Strategy::Guided => "guided",
        }
    }

    pub fn from_word(word: &str) -> Option<Strategy> {
        [Strategy::Uniform, Strategy::Guided]
            .into_iter()
            .find(|s| s.as_str() == word)
    }
}

/// One trial to run.
#[derive(Debug, Clone)]
pub struct Trial {
    /// 1-based.
    pub index: usize,
    pub seed: u64,
    /// The trial this one was drawn near, if it was.
    pub parent: Option<usize>,
    pub scenario: Scenario,
}

impl Trial {
    /// `trial-0007`: the trial's scenario name, run id prefix and file name.
    pub fn name(index: usize) -> String {
        format!("trial-{index:04}")
    }
}

pub struct Search<'a> {
    space: &'a Resolved,
    seed: u64,
    strategy: Strategy,
    /// Every feature some trial has shown.
    seen: BTreeSet<String>,
    /// The trials that showed a new feature: (index, scenario).
    corpus: Vec<(usize, Scenario)>,
    drawn: usize,
}

impl<'a> Search<'a> {
    pub fn new(space: &'a Resolved, seed: u64, strategy: Strategy) -> Self {
        Search {
            space,
            seed,
            strategy,
            seen: BTreeSet::new(),
            corpus: Vec::new(),
            drawn: 0,
        }
    }

    /// The next trial.
    pub fn next_trial(&mut self) -> Trial {
        self.drawn += 1;
        let index = self.drawn;
        let seed = trial_seed(self.seed, index);
        let name = Trial::name(index);
        let mut choose = ChaCha8Rng::seed_from_u64(seed ^ NEIGHBOUR_SALT);
        let near = match self.strategy {
            Strategy::Guided if !self.corpus.is_empty() && choose.random_bool(0.5) => {
                // Recent finds are the frontier: the newer half of the corpus is picked twice
                // as often as the older.
                let n = self.corpus.len();
                let i = if n > 1 && choose.random_bool(2.0 / 3.0) {
                    choose.random_range(n / 2..n)
                } else {
                    choose.random_range(0..n)
                };
                Some(i)
            }
            Strategy::Guided | Strategy::Uniform => None,
        };
        match near {
            Some(i) => {
                let (parent, ref scenario) = self.corpus[i];
                Trial {
                    index,
                    seed,
                    parent: Some(parent),
                    scenario: draw::neighbour(self.space, scenario, &name, seed),
                }
            }
            None => Trial {
                index,
                seed,
                parent: None,
                scenario: draw::trial(self.space, &name, seed),
            },
        }
    }

    /// Records what `trial` showed; returns the features no trial had shown before (the
    /// trial joins the corpus when there are any).
    pub fn learn(&mut self, trial: &Trial, features: &BTreeSet<String>) -> Vec<String> {
        let new: Vec<String> = features.difference(&self.seen).cloned().collect();
        if !new.is_empty() {
            self.seen.extend(new.iter().cloned());
            self.corpus.push((trial.index, trial.scenario.clone()));
        }
        new
    }

    /// How many distinct features the search has seen.
    pub fn coverage(&self) -> usize {
        self.seen.len()
    }
}

/// Separates the choice of a parent from the draw that uses the same trial seed.
const NEIGHBOUR_SALT: u64 = 0x6e65_6967_6862_6f75;

/// Trial `index`'s seed under search seed `seed` (splitmix64 of both: neighbouring indexes
/// give unrelated seeds).
pub fn trial_seed(seed: u64, index: usize) -> u64 {
    let mut z = seed ^ (index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::explore::anchors::Anchors;
    use crate::explore::space::Space;
    use crate::target::local::StackSpec;

    fn resolved() -> Resolved {
        let stack = StackSpec::built_in().unwrap();
        Space::default()
            .resolve(
                &stack.names(false),
                Anchors::of_stack(&stack),
                "",
                "default",
            )
            .unwrap()
    }

    #[test]
    fn the_same_seed_gives_the_same_uniform_trials() {
        let r = resolved();
        let draw = |seed| {
            let mut s = Search::new(&r, seed, Strategy::Uniform);
            (0..20).map(|_| s.next_trial().scenario).collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
    }

    #[test]
    fn guided_search_draws_near_what_showed_something_new() {
        let r = resolved();
        let mut s = Search::new(&r, 1, Strategy::Guided);
        let first = s.next_trial();
        let shown: BTreeSet<String> = ["fails:no_lost_acks".to_owned()].into();
        assert_eq!(s.learn(&first, &shown), ["fails:no_lost_acks"]);
        // Shown again, it is nothing new, and the corpus does not grow.
        let second = s.next_trial();
        assert!(s.learn(&second, &shown).is_empty());
        let parents: Vec<Option<usize>> = (0..40).map(|_| s.next_trial().parent).collect();
        let near = parents.iter().filter(|p| **p == Some(1)).count();
        assert!((10..=30).contains(&near), "{near} of 40 drawn near trial 1");
        assert!(parents.iter().all(|p| p.is_none() || *p == Some(1)));
        assert_eq!(s.coverage(), 1);
    }
}
