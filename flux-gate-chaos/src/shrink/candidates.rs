//! The test shrink asks of every candidate: does this scenario still fail the same way? A
//! candidate runs on the kept stack (at its own size: [`SizedStack`]), is judged, and counts as failing when the same checkers —
//! no more, no fewer — fail in `k` of at most `m` runs ([`Rule`]). Answers are cached by the
//! scenario's canonical text, so no candidate is run twice, and runs stop at the budget.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use tokio::sync::watch;

use super::sized::SizedStack;
use crate::explore::reproduce::Rule;
use crate::explore::Signature;
use crate::scenario::validate::validate;
use crate::scenario::Scenario;

/// What the candidates cost and found.
pub struct Candidates<'a> {
    stack: &'a mut SizedStack,
    signature: Signature,
    /// The failing run's seed: the first run of a candidate uses it (the same load and the
    /// same seeded picks), later ones the seeds after it.
    seed: u64,
    rule: Rule,
    cache: HashMap<String, bool>,
    /// Every run started, cached answers not counted.
    pub runs: usize,
    deadline: Instant,
    /// Where candidates' scenario files are written.
    dir: PathBuf,
    interrupt: watch::Receiver<bool>,
    /// The stored run of the last candidate that failed the same way.
    pub last_failing: Option<PathBuf>,
}

impl<'a> Candidates<'a> {
    pub fn new(
        stack: &'a mut SizedStack,
        signature: Signature,
        seed: u64,
        rule: Rule,
        deadline: Instant,
        dir: PathBuf,
        interrupt: watch::Receiver<bool>,
    ) -> Self {
        Candidates {
            stack,
            signature,
            seed,
            rule,
            cache: HashMap::new(),
            runs: 0,
            deadline,
            dir,
            interrupt,
            last_failing: None,
        }
    }

    /// The services that run more than one instance at `s`'s size (see [`SizedStack::sizes`]).
    pub fn sizes(&self, s: &Scenario) -> Vec<(String, crate::scenario::Scale)> {
        self.stack.sizes(s)
    }

    /// Whether time or Ctrl-C has ended the search: every later candidate then counts as
    /// passing, so the reduction keeps what it has.
    pub fn exhausted(&self) -> bool {
        Instant::now() >= self.deadline || *self.interrupt.borrow()
    }

    /// Whether `s` fails the same way, by the rule. An invalid candidate (a reduction that
    /// broke a rule of the format, or named an instance its size does not have) is not run
    /// and does not fail.
    pub async fn fails(&mut self, s: &Scenario) -> bool {
        self.fails_by(s, self.rule).await
    }

    /// [`Candidates::fails`] by `rule` instead of the candidates' own.
    pub async fn fails_by(&mut self, s: &Scenario, rule: Rule) -> bool {
        match self.stack.names_for(s) {
            Some(names) if validate(s, &names).is_empty() => {}
            _ => return false,
        }
        let Ok(text) = serde_yaml::to_string(s) else {
            return false;
        };
        if let Some(&known) = self.cache.get(&text) {
            return known;
        }
        if self.exhausted() {
            return false;
        }
        let answer = self.run_by_rule(s, &text, rule).await;
        self.cache.insert(text, answer);
        answer
    }

    /// Runs until the rule has its answer; run `i` uses the failing run's seed plus `i`.
    async fn run_by_rule(&mut self, s: &Scenario, text: &str, rule: Rule) -> bool {
        let path = self
            .dir
            .join(format!("candidate-{:03}.yaml", self.cache.len() + 1));
        if std::fs::write(&path, text).is_err() {
            return false;
        }
        let tally = rule
            .tally(async |i| {
                if self.exhausted() {
                    return None;
                }
                self.runs += 1;
                let seed = self.seed.wrapping_add(u64::from(i));
                Some(self.run_once(s, &path, text, seed).await)
            })
            .await;
        rule.held_by(tally)
    }

    /// One run of a candidate: whether it failed the same way. Its stored run is kept while it
    /// is the latest that did, and removed otherwise.
    async fn run_once(&mut self, s: &Scenario, path: &Path, text: &str, seed: u64) -> bool {
        let kept = match self.stack.for_scenario(s).await {
            Ok(kept) => kept,
            Err(e) => {
                tracing::warn!(error = %e, "no stack of the candidate's size");
                return false;
            }
        };
        let ran = match kept
            .run((path, s, text), seed, self.interrupt.clone())
            .await
        {
            Ok(ran) => ran,
            Err(e) => {
                tracing::warn!(error = %e, "a candidate's run could not be made");
                return false;
            }
        };
        let Ok(outcome) = ran.outcome else {
            return false;
        };
        let same = self.signature.matches(&outcome.judgement);
        let dir = outcome.journal_path.parent().map(Path::to_path_buf);
        if let Some(dir) = dir {
            if same {
                let _ = std::fs::write(dir.join("scenario.yaml"), text);
                if let Some(old) = self.last_failing.replace(dir) {
                    crate::run::discard(&old);
                }
            } else {
                crate::run::discard(&dir);
            }
        }
        same
    }
}
