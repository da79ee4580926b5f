//! Reading a scenario file into [`Scenario`], with errors a person can act on: where
//! (`file:line:column`), which key (`load.rate`), what was wrong, and — for a misspelt key or
//! word — the one that was probably meant ([`crate::yaml`] places them).

use std::fmt;
use std::path::Path;

use super::Scenario;
use crate::yaml::parse_yaml;
pub use crate::yaml::SyntaxError;

/// Why a scenario file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("{file}: cannot read it: {source}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Syntax(Box<SyntaxError>),
    #[error("{file}: {count} problem(s):\n{list}", count = problems.len(), list = problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid {
        file: String,
        problems: Vec<Problem>,
    },
}

/// A rule a parsed scenario breaks (found by [`super::validate`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The key path, like `faults[2].service`.
    pub key: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`: {}", self.key, self.message)
    }
}

/// Reads and parses `path` (not yet validated against a stack).
pub fn read_file(path: &Path) -> Result<Scenario, ScenarioError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
        file: file.clone(),
        source,
    })?;
    parse_str(&text, &file)
}

/// Parses scenario text; `file` names it in errors.
pub fn parse_str(text: &str, file: &str) -> Result<Scenario, ScenarioError> {
    if text.trim().is_empty()
        || text
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
    {
        return Err(ScenarioError::Syntax(Box::new(SyntaxError {
            file: file.to_owned(),
            line: None,
            column: None,
            key: String::new(),
            message: "the file is empty; a scenario needs at least `name`, `sale` and `load` (see docs/scenarios.md)".into(),
            suggestion: None,
        })));
    }
    parse_yaml(text, file).map_err(ScenarioError::Syntax)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "\
name: worker-crash
description: Inventory worker killed mid-sale.
sale: { product: iphone-15, stock: 100, per_user_limit: 1 }
load: { model: arrival-rate, rate: 2000/s, duration: 25s, users: 20000, duplicate_ratio: 0.05, timeout: 2s }
faults:
  - { at: 5s, action: kill, service: inventory-worker }
  - { at: 30s, action: start, service: inventory-worker }
settle: { timeout: 60s }
expect:
  invariants: [no_oversell, no_lost_acks, no_duplicates, stock_conserved, db_matches_redis]
  availability: \">= 100%\"
  recovery: \"< 30s\"
";

    fn syntax(text: &str) -> SyntaxError {
        match parse_str(text, "s.yaml") {
            Err(ScenarioError::Syntax(e)) => *e,
            other => panic!("expected a syntax error, got {other:?}"),
        }
    }

    #[test]
    fn the_issue_example_parses() {
        let s = parse_str(GOOD, "s.yaml").unwrap();
        assert_eq!(s.name, "worker-crash");
        assert_eq!(s.sale.stock, 100);
        assert_eq!(s.load.rate.unwrap().per_second, 2000.0);
        assert_eq!(s.faults.len(), 2);
        assert_eq!(s.faults[0].at, Some(super::super::Dur::secs(5)));
        assert_eq!(s.expect.invariants.len(), 5);
        assert_eq!(s.expect.availability.unwrap().percent, 100.0);
    }

    #[test]
    fn misspelt_key_names_place_path_and_fix() {
        let e = syntax(&GOOD.replace("rate: 2000/s", "rat: 2000/s"));
        assert_eq!(e.line, Some(4), "{e}");
        assert!(e.key.starts_with("load"), "{e}");
        assert!(e.message.contains("unknown field `rat`"), "{e}");
        assert_eq!(e.suggestion.as_deref(), Some("rate"));
        let shown = e.to_string();
        assert!(shown.starts_with("s.yaml:4:"), "{shown}");
        assert!(shown.ends_with("did you mean `rate`?"), "{shown}");
    }

    #[test]
    fn misspelt_action_is_suggested() {
        let e = syntax(&GOOD.replace("action: kill", "action: kil"));
        assert_eq!(e.key, "faults[0].action", "{e}");
        assert_eq!(e.suggestion.as_deref(), Some("kill"));
        assert_eq!(e.line, Some(6));
    }

    #[test]
    fn unrelated_word_gets_no_suggestion() {
        let e = syntax(&GOOD.replace("action: kill", "action: teleport"));
        assert_eq!(e.suggestion, None);
        assert!(e.message.contains("unknown variant `teleport`"), "{e}");
    }

    #[test]
    fn bad_values_say_what_is_expected() {
        let e = syntax(&GOOD.replace("rate: 2000/s", "rate: lots"));
        assert_eq!(e.key, "load.rate");
        assert!(e.message.contains("write it like `2000/s`"), "{e}");
        let e = syntax(&GOOD.replace("stock: 100", "stock: -1"));
        assert_eq!(e.key, "sale.stock");
        let e = syntax(&GOOD.replace("at: 5s", "at: soon"));
        assert_eq!(e.key, "faults[0].at");
    }

    #[test]
    fn missing_required_key() {
        let e = syntax(&GOOD.replace("name: worker-crash\n", ""));
        assert!(e.message.contains("missing field `name`"), "{e}");
    }

    #[test]
    fn empty_and_broken_yaml() {
        assert!(syntax("").message.contains("the file is empty"));
        assert!(syntax("# only a comment\n")
            .message
            .contains("the file is empty"));
        let e = syntax("name: [unclosed\n");
        assert!(e.line.is_some(), "{e}");
        let e = syntax("- a list\n- not a mapping\n");
        assert!(
            e.message.contains("expected struct Scenario") || e.message.contains("invalid type"),
            "{e}"
        );
    }

    #[test]
    fn unreadable_file_names_it() {
        let e = read_file(Path::new("/nonexistent/x.yaml"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("/nonexistent/x.yaml: cannot read it"), "{e}");
    }

    proptest::proptest! {
        #[test]
        fn no_input_panics_the_parser(text in "\\PC{0,400}") {
            let _ = parse_str(&text, "fuzz.yaml");
        }

        #[test]
        fn no_mutation_of_a_good_file_panics(pos in 0usize..600, junk in "[\\[\\]{}:,\\-# a-z0-9\\n\"']{0,12}") {
            let mut text = GOOD.to_owned();
            let at = text.char_indices().map(|(i, _)| i).nth(pos % GOOD.chars().count()).unwrap_or(0);
            text.insert_str(at, &junk);
            if let Ok(s) = parse_str(&text, "fuzz.yaml") {
                let _ = super::super::validate::validate(&s, &super::super::validate::Names::default());
            }
        }
    }
}
