//! The search space of `fgchaos explore`: which faults a trial may draw, with which values, and
//! the loads it drives. A space file (YAML, `--space FILE`) narrows or widens the default,
//! which is everything the stack offers. Every key is optional.
//!
//! Reading is strict, as for scenarios: a misspelt key or action word, a wrong type or an
//! inverted range is an error at its `file:line:column` while the file is read; then
//! [`Space::resolve`] checks it against the stack — a name the stack lacks, an action it cannot
//! do, a space that could draw no fault — and places each problem at the line that says it.

use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::anchors::Anchors;
use super::between::Between;
use crate::scenario::fault::Choices;
use crate::scenario::validate::{unknown, Names};
use crate::scenario::{Action, Dur, FaultAction, Rate};
use crate::yaml::{parse_yaml, SyntaxError};

/// What a trial may be made of.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Space {
    /// The faults of a trial.
    #[serde(default)]
    pub faults: FaultSpace,
    /// The load of a trial.
    #[serde(default)]
    pub load: LoadSpace,
    /// How long a trial may take to converge after its load (default 60s).
    #[serde(default = "default_settle")]
    pub settle_timeout: Dur,
}

/// What faults a trial draws.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FaultSpace {
    /// Faults per trial (default 1 to 4).
    #[serde(default = "default_count")]
    pub count: Between<u32>,
    /// The actions drawn from (default: every action the stack can do that breaks something;
    /// `start` and `resume` only end faults).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actions: Option<Vec<Action>>,
    /// Services, replicas and roles a lifecycle fault may hit (default: all of them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub services: Option<Vec<String>>,
    /// Links a network fault may hit (default: all of them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub links: Option<Vec<String>>,
    /// How long a fault stays on (default 200ms to 15s: across every timeout of the system).
    #[serde(default = "default_duration")]
    pub duration: Between<Dur>,
    /// A latency toxic's delay (default 1ms to 3s).
    #[serde(default = "default_latency")]
    pub latency: Between<Dur>,
    /// The chance (0 to 1) that a fault starts while the one before it is still on (default
    /// 0.5): compound faults, like a partition while a worker is paused.
    #[serde(default = "default_overlap")]
    pub overlap: f64,
}

/// What load a trial drives: an open-model arrival rate, with the sale sized against it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoadSpace {
    /// How long each trial's load runs (default 10s).
    #[serde(default = "default_load_duration")]
    pub duration: Dur,
    /// Order attempts per second (default 100/s to 400/s).
    #[serde(default = "default_rate")]
    pub rate: Between<Rate>,
    /// Distinct buyers (default 20 to 20000): few buyers are hot buyers, pressing
    /// `per_user_limit`.
    #[serde(default = "default_users")]
    pub users: Between<u32>,
    /// Share of attempts that resend an earlier key (default 0 to 0.2).
    #[serde(default = "default_duplicates")]
    pub duplicate_ratio: Between<f64>,
    /// Units one buyer may hold (default 1 to 3).
    #[serde(default = "default_per_user_limit")]
    pub per_user_limit: Between<u32>,
    /// Stock as a share of what the load could buy — its attempts, or its buyers' limits when
    /// fewer (default 0.3 to 1.5): under 1 the sale sells out during the trial, often during a
    /// fault.
    #[serde(default = "default_stock")]
    pub stock: Between<f64>,
}

impl Default for Space {
    fn default() -> Self {
        Space {
            faults: FaultSpace::default(),
            load: LoadSpace::default(),
            settle_timeout: default_settle(),
        }
    }
}

impl Default for FaultSpace {
    fn default() -> Self {
        FaultSpace {
            count: default_count(),
            actions: None,
            services: None,
            links: None,
            duration: default_duration(),
            latency: default_latency(),
            overlap: default_overlap(),
        }
    }
}

impl Default for LoadSpace {
    fn default() -> Self {
        LoadSpace {
            duration: default_load_duration(),
            rate: default_rate(),
            users: default_users(),
            duplicate_ratio: default_duplicates(),
            per_user_limit: default_per_user_limit(),
            stock: default_stock(),
        }
    }
}

fn default_settle() -> Dur {
    Dur::secs(60)
}
fn default_count() -> Between<u32> {
    Between::new(1, 4)
}
fn default_duration() -> Between<Dur> {
    Between::new(Dur::millis(200), Dur::secs(15))
}
fn default_latency() -> Between<Dur> {
    Between::new(Dur::millis(1), Dur::secs(3))
}
fn default_overlap() -> f64 {
    0.5
}
fn default_load_duration() -> Dur {
    Dur::secs(10)
}
fn default_rate() -> Between<Rate> {
    Between::new(Rate { per_second: 100.0 }, Rate { per_second: 400.0 })
}
fn default_users() -> Between<u32> {
    Between::new(20, 20_000)
}
fn default_duplicates() -> Between<f64> {
    Between::new(0.0, 0.2)
}
fn default_per_user_limit() -> Between<u32> {
    Between::new(1, 3)
}
fn default_stock() -> Between<f64> {
    Between::new(0.3, 1.5)
}

/// The most faults one trial may have, and the longest load: trials stay bounded.
pub const MAX_FAULTS: u32 = 8;
pub const MAX_LOAD: std::time::Duration = std::time::Duration::from_secs(600);

/// A space checked against a stack: every list concrete and every action drawable.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub space: Space,
    pub actions: Vec<Action>,
    pub services: Vec<String>,
    pub links: Vec<String>,
    pub names: Names,
    /// The system's own timeouts, which fault durations and delays are drawn across.
    pub anchors: Anchors,
}

/// Why a space file cannot be used. Nothing runs.
#[derive(Debug, thiserror::Error)]
pub enum SpaceError {
    #[error(transparent)]
    Syntax(Box<SyntaxError>),
    #[error("{file}: {} problem(s):\n{}", problems.len(), problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid {
        file: String,
        problems: Vec<SpaceProblem>,
    },
}

/// One rule a space breaks against the stack, at the line and column that says it (when the
/// file says it at all: a default broken by the stack has no place but its key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpaceProblem {
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub key: String,
    pub message: String,
}

impl std::fmt::Display for SpaceProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let (Some(l), Some(c)) = (self.line, self.column) {
            write!(f, "{l}:{c}: ")?;
        }
        write!(f, "`{}`: {}", self.key, self.message)
    }
}

impl Space {
    /// Reads a space file; `None` is the default space.
    pub fn read(path: Option<&Path>) -> Result<(Space, String, String), SpaceError> {
        let Some(path) = path else {
            return Ok((Space::default(), String::new(), "default space".into()));
        };
        let (text, file) = crate::yaml::read_text(path).map_err(SpaceError::Syntax)?;
        let space = Space::parse(&text, &file)?;
        Ok((space, text, file))
    }

    pub fn parse(text: &str, file: &str) -> Result<Space, SpaceError> {
        if text.trim().is_empty() {
            return Ok(Space::default());
        }
        parse_yaml(text, file).map_err(SpaceError::Syntax)
    }

    /// This space on a stack with `names` and `anchors`; `text` is the file it was read from,
    /// to place the problems (empty for the default space).
    pub fn resolve(
        self,
        names: &Names,
        anchors: Anchors,
        text: &str,
        file: &str,
    ) -> Result<Resolved, SpaceError> {
        let mut problems = Vec::new();
        let services = listed_or_default(
            &self.faults.services,
            &names.services,
            &names.drawn_services(),
            "faults.services",
            "service",
            text,
            &mut problems,
        );
        let links = listed_or_default(
            &self.faults.links,
            &names.links,
            &names.links,
            "faults.links",
            "link",
            text,
            &mut problems,
        );
        problems.extend(bounds(&self, text));
        let mut resolved = Resolved {
            actions: Vec::new(),
            services,
            links,
            names: names.clone(),
            anchors,
            space: self,
        };
        resolved.actions = drawable_actions(&resolved, text, &mut problems);
        if problems.is_empty() {
            Ok(resolved)
        } else {
            Err(SpaceError::Invalid {
                file: file.to_owned(),
                problems,
            })
        }
    }
}

/// The listed names, each checked against the stack's `known` ones; `by_default` when none are
/// listed.
fn listed_or_default(
    listed: &Option<Vec<String>>,
    known: &[String],
    by_default: &[String],
    key: &str,
    what: &str,
    text: &str,
    problems: &mut Vec<SpaceProblem>,
) -> Vec<String> {
    let Some(listed) = listed else {
        return by_default.to_vec();
    };
    for (i, name) in listed.iter().enumerate() {
        if !known.contains(name) {
            problems.push(placed(
                text,
                name,
                format!("{key}[{i}]"),
                unknown(what, name, known),
            ));
        }
    }
    listed.clone()
}

/// The bounds a range's order does not say: counts, shares and lengths that keep a trial
/// meaningful and bounded.
fn bounds(s: &Space, text: &str) -> Vec<SpaceProblem> {
    let mut v = Vec::new();
    let mut rule = |broken: bool, key: &str, word: &str, message: &str| {
        if broken {
            v.push(placed(text, word, key.to_owned(), message.to_owned()));
        }
    };
    let f = &s.faults;
    rule(
        f.count.max > MAX_FAULTS,
        "faults.count",
        "count",
        &format!("at most {MAX_FAULTS} faults a trial"),
    );
    rule(
        s.settle_timeout.get().is_zero(),
        "settle_timeout",
        "settle_timeout",
        "a trial needs time to settle: more than 0s",
    );
    rule(
        f.duration.min.get().is_zero(),
        "faults.duration",
        "duration",
        "a fault lasts more than 0s",
    );
    rule(
        !(0.0..=1.0).contains(&f.overlap),
        "faults.overlap",
        "overlap",
        "a chance between 0 and 1",
    );
    let l = &s.load;
    rule(
        l.duration.get().is_zero() || l.duration.get() > MAX_LOAD,
        "load.duration",
        "duration",
        "a trial's load runs more than 0s and at most 10m",
    );
    rule(
        l.rate.min.per_second <= 0.0,
        "load.rate",
        "rate",
        "a trial sends at least some load: `min` above 0/s",
    );
    rule(l.users.min == 0, "load.users", "users", "at least 1 buyer");
    rule(
        !(0.0..=1.0).contains(&l.duplicate_ratio.min)
            || !(0.0..=1.0).contains(&l.duplicate_ratio.max),
        "load.duplicate_ratio",
        "duplicate_ratio",
        "shares between 0 and 1",
    );
    rule(
        l.per_user_limit.min == 0,
        "load.per_user_limit",
        "per_user_limit",
        "a buyer may hold at least 1 unit",
    );
    rule(
        l.stock.min <= 0.0,
        "load.stock",
        "stock",
        "a sale has stock: `min` above 0",
    );
    v
}

/// The actions the space may draw on this stack. An action listed that the stack cannot do is
/// a problem; with none listed, those the stack cannot do are left out. A space that leaves no
/// action, or no fault, is a problem too: it would draw nothing.
fn drawable_actions(r: &Resolved, text: &str, problems: &mut Vec<SpaceProblem>) -> Vec<Action> {
    let listed = r.space.faults.actions.as_ref();
    let candidates: Vec<Action> = match listed {
        Some(a) => a.clone(),
        None => Action::ALL.into_iter().filter(|a| a.is_drawn()).collect(),
    };
    let mut drawable = Vec::new();
    for (i, action) in candidates.into_iter().enumerate() {
        match why_not_drawn(action, r) {
            None => drawable.push(action),
            Some(why) if listed.is_some() => problems.push(placed(
                text,
                action.as_str(),
                format!("faults.actions[{i}]"),
                why,
            )),
            Some(_) => {}
        }
    }
    if drawable.is_empty() && problems.is_empty() && r.space.faults.count.max > 0 {
        problems.push(placed(
            text,
            "actions",
            "faults.actions".into(),
            "this space can draw no fault on this stack: list an action whose services or \
             links it offers"
                .into(),
        ));
    }
    drawable
}

/// Why `action` cannot be drawn from `r`, if it cannot: it is drawn once with the space's
/// choices, and what stops it is said in the user's words.
fn why_not_drawn(action: Action, r: &Resolved) -> Option<String> {
    if matches!(action, Action::Drain | Action::Isolate) {
        return Some(format!(
            "`{}` is not drawn: a space names services and links, not swarm nodes; write the {} in a scenario",
            action.as_str(),
            action.as_str()
        ));
    }
    if action == Action::Scale {
        return Some(
            "`scale` is not drawn: it changes the stack's shape, which the rest of a drawn \
             schedule was planned against; write the scale in a scenario"
                .into(),
        );
    }
    if !action.is_drawn() {
        return Some(format!(
            "`{}` only ends a fault; every drawn fault heals by its own `duration`",
            action.as_str()
        ));
    }
    let mut probe = super::draw::Chooser::probe(r);
    if FaultAction::draw(action, &mut probe).is_some() {
        return None;
    }
    Some(match action {
        Action::Failover => "`failover` needs Redis with Sentinel (`redis_ha` in the stack)".into(),
        Action::ResetPeer => "the embedded fault proxy has no `reset_peer` toxic".into(),
        Action::Partition => "`partition` needs at least two links".into(),
        _ if probe.service().is_none() && probe.link().is_none() => {
            format!("`{}` has nothing to act on here", action.as_str())
        }
        _ => format!(
            "`{}` has no {} to act on in this space",
            action.as_str(),
            if probe.service().is_none() {
                "service"
            } else {
                "link"
            }
        ),
    })
}

/// A problem placed at the first place `word` is written in `text` (no place when the file
/// does not say it).
fn placed(text: &str, word: &str, key: String, message: String) -> SpaceProblem {
    let (line, column) = locate(text, word).unzip();
    SpaceProblem {
        line,
        column,
        key,
        message,
    }
}

/// 1-based line and column of the first whole-word `word` in `text`.
fn locate(text: &str, word: &str) -> Option<(usize, usize)> {
    let part = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '#');
    for (n, line) in text.lines().enumerate() {
        let code = line.split('#').next().unwrap_or_default();
        let code = if word.contains('#') { line } else { code };
        let mut from = 0;
        while let Some(at) = code[from..].find(word) {
            let start = from + at;
            let end = start + word.len();
            let before = code[..start].chars().next_back();
            let after = code[end..].chars().next();
            if !before.is_some_and(part) && !after.is_some_and(part) {
                return Some((n + 1, code[..start].chars().count() + 1));
            }
            from = end;
        }
    }
    None
}

#[cfg(test)]
mod tests;
