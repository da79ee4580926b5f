//! Whether a failure shows again. A bug in a narrow window does not fail every run of the
//! scenario that once caught it, so a failing run is run again until `k` reruns fail the same
//! way or too few of the `m` are left for that. Explore asks it of a failing trial before it
//! calls the failure reproducible (and before `--stop-on-failure` stops on it); shrink asks it
//! of its original and of every candidate. One rule for both means explore hands over only a
//! trial that has passed shrink's first test once, on the same seeds — shrink asks again, on a
//! stack of its own, and a failure this narrow can still answer no there.

/// `k` of at most `m` runs; runs stop as soon as the answer is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub k: u32,
    pub m: u32,
}

/// A failure counts as reproducible when 1 of at most 5 reruns fails the same way. Measured:
/// a trial of the skips-batch build failed in 0 of 2 reruns, then in 2 of 3 confirmations (a
/// failure rate near one half; 0 of 5 at that rate comes once in thirty). Shrink asks its
/// candidates less (`shrink::RULE`) because the answers cost differently: a candidate wrongly
/// judged passing only keeps a fault, while an original wrongly judged passing ends the shrink
/// with nothing reduced.
pub const REPRODUCE: Rule = Rule { k: 1, m: 5 };

/// What the reruns showed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Reruns that failed the same way.
    pub failed: u32,
    /// Reruns made.
    pub runs: u32,
    /// The reruns stopped before the rule had its answer (the budget, Ctrl-C, or a stack that
    /// could not be restarted): a tally that says nothing about how rare the failure is.
    pub cut_short: bool,
}

impl Rule {
    /// Reruns by `rerun(i)` (`i` counts from 0) until the rule has its answer. `rerun` says
    /// whether its run failed the same way, or `None` when no run could start (the budget is
    /// spent, or Ctrl-C): the tally then holds what was run, and says it was cut short.
    pub async fn tally(self, mut rerun: impl AsyncFnMut(u32) -> Option<bool>) -> Tally {
        let mut t = Tally::default();
        while t.failed < self.k && self.m - t.runs >= self.k - t.failed {
            let Some(failed) = rerun(t.runs).await else {
                t.cut_short = true;
                break;
            };
            t.runs += 1;
            t.failed += u32::from(failed);
        }
        t
    }

    /// Whether `t` meets the rule.
    pub fn held_by(self, t: Tally) -> bool {
        t.failed >= self.k
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tally of a rerun that answers from `script`, in order, and `None` past its end.
    async fn tally_of(rule: Rule, script: &[bool]) -> Tally {
        let mut answers = script.iter().copied();
        rule.tally(async |_| answers.next()).await
    }

    #[tokio::test]
    async fn stops_at_the_first_repeat_when_one_is_enough() {
        let t = tally_of(REPRODUCE, &[false, true, true]).await;
        assert_eq!(
            t,
            Tally {
                failed: 1,
                runs: 2,
                cut_short: false
            }
        );
        assert!(REPRODUCE.held_by(t));
    }

    #[tokio::test]
    async fn a_failure_that_never_shows_again_spends_every_rerun() {
        let t = tally_of(REPRODUCE, &[false; 9]).await;
        assert_eq!(
            t,
            Tally {
                failed: 0,
                runs: 5,
                cut_short: false
            }
        );
        assert!(!REPRODUCE.held_by(t));
    }

    #[tokio::test]
    async fn stops_once_too_few_runs_are_left() {
        // Two of three: after two passes the third cannot make two.
        let rule = Rule { k: 2, m: 3 };
        let t = tally_of(rule, &[false, false, true]).await;
        assert_eq!(
            t,
            Tally {
                failed: 0,
                runs: 2,
                cut_short: false
            }
        );
        assert!(!rule.held_by(t));
    }

    #[tokio::test]
    async fn a_rerun_that_cannot_start_ends_the_tally_where_it_is() {
        let t = tally_of(REPRODUCE, &[false, false]).await;
        assert_eq!(
            t,
            Tally {
                failed: 0,
                runs: 2,
                cut_short: true
            }
        );
        assert!(!REPRODUCE.held_by(t));
    }

    #[tokio::test]
    async fn the_rerun_is_told_its_number() {
        let mut seen = Vec::new();
        let t = REPRODUCE
            .tally(async |i| {
                seen.push(i);
                Some(i == 3)
            })
            .await;
        assert_eq!(seen, [0, 1, 2, 3]);
        assert_eq!(
            t,
            Tally {
                failed: 1,
                runs: 4,
                cut_short: false
            }
        );
    }
}
