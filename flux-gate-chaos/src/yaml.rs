//! Strict YAML for every file fgchaos is given (scenarios, stack descriptions): an error is
//! placed at `file:line:column` with the key path (`faults[1].action`), what was wrong, and —
//! for a misspelt key or word — the one that was probably meant.

use std::fmt;

/// A YAML or type error at a place in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub file: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// The key path, like `faults[1].action` (empty at the top).
    pub key: String,
    pub message: String,
    pub suggestion: Option<String>,
}

impl std::error::Error for SyntaxError {}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let (Some(l), Some(c)) = (self.line, self.column) {
            write!(f, ":{l}:{c}")?;
        }
        if !self.key.is_empty() && self.key != "." {
            write!(f, ": at `{}`", self.key)?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(s) = &self.suggestion {
            write!(f, " — did you mean `{s}`?")?;
        }
        Ok(())
    }
}

/// Reads a YAML file fgchaos is given (stack descriptions); an unreadable one is a
/// [`SyntaxError`] naming the file, like every other problem with it.
pub fn read_text(path: &std::path::Path) -> Result<(String, String), Box<SyntaxError>> {
    let file = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => Ok((text, file)),
        Err(e) => Err(Box::new(SyntaxError {
            file,
            line: None,
            column: None,
            key: String::new(),
            message: format!("cannot read it: {e}"),
            suggestion: None,
        })),
    }
}

/// Strict YAML into `T`, with the error placed (`file:line:column`, key path) and a suggestion
/// for a misspelt key or word.
pub fn parse_yaml<T: serde::de::DeserializeOwned>(
    text: &str,
    file: &str,
) -> Result<T, Box<SyntaxError>> {
    let de = serde_yaml::Deserializer::from_str(text);
    serde_path_to_error::deserialize::<_, T>(de).map_err(|e| {
        let key = e.path().to_string();
        let inner = e.into_inner();
        let location = inner.location();
        let message = clean_message(&inner.to_string(), &key);
        let suggestion = suggest(&message);
        Box::new(SyntaxError {
            file: file.to_owned(),
            line: location.as_ref().map(|l| l.line()),
            column: location.as_ref().map(|l| l.column()),
            key,
            message,
            suggestion,
        })
    })
}

/// serde_yaml prefixes the path it was at and appends ` at line L column C`; both are printed
/// in their own places instead. Its path is the key's own, or — for an error in a key itself
/// (`unknown field`) — the mapping's, a prefix of the key path.
pub fn clean_message(message: &str, key: &str) -> String {
    let m = match message.rfind(" at line ") {
        Some(i) => &message[..i],
        None => message,
    };
    match m.split_once(": ") {
        Some((path, rest)) if !path.is_empty() && is_within(key, path) => rest.to_owned(),
        _ => m.to_owned(),
    }
}

/// Whether `path` is `key` or one of its parents (`faults[0]` of `faults[0].at`).
fn is_within(key: &str, path: &str) -> bool {
    key.strip_prefix(path)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.') || rest.starts_with('['))
}

/// For "unknown field `rat`, expected one of `rate`, …" (and unknown variants): the expected
/// word closest to the one written, if it is close enough to be a typo.
pub fn suggest(message: &str) -> Option<String> {
    let (head, expected) = message.split_once("expected")?;
    let written = backticked(head).into_iter().next()?;
    backticked(expected)
        .into_iter()
        .map(|cand| (strsim::jaro_winkler(&written, &cand), cand))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, cand)| cand)
}

fn backticked(s: &str) -> Vec<String> {
    s.split('`').skip(1).step_by(2).map(str::to_owned).collect()
}
