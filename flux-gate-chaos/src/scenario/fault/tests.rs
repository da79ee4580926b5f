//! The fault format end to end: each test reads faults through `scenario::parse_str`, as a
//! scenario file is read, so errors are checked with the `file:line:column` and key path a
//! user sees, and what was read is written back and compared.

use serde_json::{json, Value};

use super::*;
use crate::scenario::{parse_str, Scenario, ScenarioError};
use crate::yaml::SyntaxError;

const HEAD: &str = "name: t\nsale: { product: p, stock: 10 }\nload: { model: arrival-rate, rate: 10/s, duration: 60s }\n";

fn parse(faults: &str) -> Result<Scenario, ScenarioError> {
    parse_str(&format!("{HEAD}faults:\n{faults}"), "s.yaml")
}

fn fault(f: &str) -> Fault {
    match parse(&format!("  - {f}\n")) {
        Ok(mut s) if s.faults.len() == 1 => s.faults.remove(0),
        other => panic!("{f}: {other:?}"),
    }
}

fn syntax(faults: &str) -> SyntaxError {
    match parse(faults) {
        Err(ScenarioError::Syntax(e)) => *e,
        other => panic!("expected a syntax error, got {other:?}"),
    }
}

/// (line, column, key path, message) of the error, and the line as shown.
fn placed(faults: &str) -> (usize, usize, String, String) {
    let e = syntax(faults);
    let (Some(l), Some(c)) = (e.line, e.column) else {
        panic!("not placed: {e}");
    };
    (l, c, e.key.clone(), e.to_string())
}

#[test]
fn a_key_of_another_action_is_refused_at_the_key() {
    // Block style: the key on its own line.
    let (l, c, key, shown) =
        placed("  - at: 1s\n    action: kill\n    service: redis\n    latency: 5ms\n");
    assert_eq!((l, c, key.as_str()), (8, 5, "faults[0].latency"), "{shown}");
    assert_eq!(
        shown,
        "s.yaml:8:5: at `faults[0].latency`: `latency` does not apply to `kill`; remove it \
         (`kill` takes `at`, `service`, `random`, `duration`, `expect`)"
    );
    // Flow style: the key's own column.
    let (l, c, key, shown) = placed("  - { at: 1s, action: kill, service: redis, latency: 5ms }\n");
    assert_eq!(
        (l, c, key.as_str()),
        (5, 45, "faults[0].latency"),
        "{shown}"
    );
    let (_, _, _, shown) = placed("  - { at: 1s, action: start, service: redis, duration: 5s }\n");
    assert!(
        shown.contains("`duration` does not apply to `start`; remove it"),
        "{shown}"
    );
}

#[test]
fn a_key_before_action_is_checked_once_action_is_known() {
    // Only the whole mapping is known by then: the error points at the fault.
    let (l, c, key, shown) = placed("  - { latency: 5ms, at: 1s, action: kill, service: redis }\n");
    assert_eq!((l, c, key.as_str()), (5, 5, "faults[0]"), "{shown}");
    assert!(shown.ends_with("`latency` does not apply to `kill`; remove it (`kill` takes `at`, `service`, `random`, `duration`, `expect`)"), "{shown}");
}

#[test]
fn a_misspelt_key_is_placed_and_a_key_of_its_action_suggested() {
    let (l, c, key, shown) = placed("  - { at: 1s, action: kill, servce: redis }\n");
    assert_eq!((l, c, key.as_str()), (5, 29, "faults[0].servce"), "{shown}");
    assert_eq!(
        shown,
        "s.yaml:5:29: at `faults[0].servce`: unknown field `servce`, expected one of `at`, \
         `action`, `service`, `random`, `duration`, `expect` — did you mean `service`?"
    );
    // Before `action` every fault key is a candidate.
    let e = syntax("  - { latncy: 5ms, action: latency, link: kafka }\n");
    assert_eq!(e.suggestion.as_deref(), Some("latency"), "{e}");
    // Once the action is known, only its keys are: `lnk` is `link`, not `links`.
    let e = syntax("  - { action: down, lnk: kafka }\n");
    assert_eq!(e.suggestion.as_deref(), Some("link"), "{e}");
    let e = syntax("  - { action: partition, lnks: [kafka] }\n");
    assert_eq!(e.suggestion.as_deref(), Some("links"), "{e}");
}

#[test]
fn a_bad_value_is_placed_at_the_value() {
    let (l, c, key, shown) =
        placed("  - { at: 1s, action: latency, link: api-redis, latency: fast }\n");
    assert_eq!(
        (l, c, key.as_str()),
        (5, 58, "faults[0].latency"),
        "{shown}"
    );
    assert!(shown.ends_with("`fast` is not a duration (expected number at 0); write it like `5s`, `250ms` or `1m30s`"), "{shown}");
    let (l, c, key, shown) =
        placed("  - { at: 1s, action: bandwidth, link: kafka, rate_kb: lots }\n");
    assert_eq!(
        (l, c, key.as_str()),
        (5, 56, "faults[0].rate_kb"),
        "{shown}"
    );
    assert!(
        shown.contains("invalid type: string \"lots\", expected u64"),
        "{shown}"
    );
    let (l, c, key, shown) =
        placed("  - { at: 1s, action: scale, service: inventory-worker, replicas: -1 }\n");
    assert_eq!(
        (l, c, key.as_str()),
        (5, 67, "faults[0].replicas"),
        "{shown}"
    );
    assert!(
        shown.contains("invalid type: integer `-1`, expected u32"),
        "{shown}"
    );
    let (l, c, key, shown) = placed("  - { at: 1s, action: down, random: [] }\n");
    assert_eq!((l, c, key.as_str()), (5, 37, "faults[0].random"), "{shown}");
    assert!(
        shown.ends_with(
            "`random` is empty; list at least one name, like `random: [api-redis, kafka]`"
        ),
        "{shown}"
    );
}

#[test]
fn a_missing_key_is_named_at_the_fault() {
    let (l, c, key, shown) = placed("  - { at: 1s, action: latency, link: api-redis }\n");
    assert_eq!((l, c, key.as_str()), (5, 5, "faults[0]"), "{shown}");
    assert_eq!(
        shown,
        "s.yaml:5:5: at `faults[0]`: `latency` needs `latency`, like `latency: 100ms`"
    );
    let (l, c, _, shown) = placed("  - at: 1s\n    action: kill\n");
    assert_eq!((l, c), (5, 5), "{shown}");
    assert!(
        shown.ends_with("`kill` needs a service, like `service: inventory-worker`"),
        "{shown}"
    );
    for (f, want) in [
        (
            "{ action: down }",
            "`down` needs a link, like `link: api-redis`",
        ),
        (
            "{ action: partition }",
            "`partition` needs the links it cuts, like `links: [api-redis, kafka]`",
        ),
        (
            "{ action: slow_close, link: kafka }",
            "`slow_close` needs `delay`, like `delay: 500ms`",
        ),
        ("{ service: redis }", "missing field `action`"),
        (
            "{ action: drain }",
            "`drain` needs a swarm node, like `node: worker-2` (a hostname or id of `docker node ls`)",
        ),
        (
            "{ action: activate, node: a, duration: 5s }",
            "`duration` does not apply to `activate`; remove it (`activate` takes `at`, `node`, `random`, `expect`)",
        ),
        (
            "{ action: drain, service: redis }",
            "`service` does not apply to `drain`; remove it (`drain` takes `at`, `node`, `random`, `duration`, `expect`)",
        ),
        (
            "{ action: scale, service: inventory-worker }",
            "`scale` needs `replicas`, like `replicas: 2`",
        ),
        (
            "{ action: scale, node: a, replicas: 2 }",
            "`node` does not apply to `scale`; remove it (`scale` takes `at`, `service`, `random`, `duration`, `replicas`, `expect`)",
        ),
    ] {
        let shown = syntax(&format!("  - {f}\n")).to_string();
        assert!(shown.ends_with(want), "{f}: {shown}");
    }
}

#[test]
fn a_target_and_random_together_are_refused_at_the_second() {
    let (l, c, key, shown) =
        placed("  - { at: 1s, action: kill, service: redis, random: [kafka] }\n");
    assert_eq!((l, c, key.as_str()), (5, 45, "faults[0].random"), "{shown}");
    assert!(
        shown.ends_with("give `service` or `random`, not both"),
        "{shown}"
    );
    let e = syntax("  - { random: [a], links: [b], action: partition }\n");
    assert!(
        e.message.ends_with("give `links` or `random`, not both"),
        "{e}"
    );
    let (l, c, _, shown) = placed("  - { at: 1s, action: kill, service: redis, at: 2s }\n");
    assert_eq!((l, c), (5, 45), "{shown}");
    assert!(shown.ends_with("duplicate field `at`"), "{shown}");
}

#[test]
fn a_null_value_is_a_key_left_out_but_not_a_list() {
    let f = fault("{ at: 1s, action: timeout, link: kafka, timeout: ~, stream: ~ }");
    assert_eq!(
        f.action,
        FaultAction::Timeout {
            on: LinkTarget::Link("kafka".into()),
            timeout: None,
            toxic: ToxicOptions::default()
        }
    );
    let e = syntax("  - { at: 1s, action: down, random: ~ }\n");
    assert!(e.message.contains("expected a list of names"), "{e}");
}

/// A fault of `a` with every key it takes except `random` (and `omit`), each with its
/// example value.
fn sample(a: Action, omit: Option<Key>) -> String {
    let entries: Vec<String> = a
        .row()
        .keys
        .iter()
        .filter(|k| **k != Key::Random && Some(**k) != omit)
        .map(|k| match k {
            Key::Action => format!("action: {}", a.as_str()),
            other => format!("{}: {}", other.as_str(), other.example()),
        })
        .collect();
    format!("{{ {} }}", entries.join(", "))
}

#[test]
fn every_action_row_takes_its_target_and_what_it_needs() {
    for a in Action::ALL {
        let row = a.row();
        assert!(row.keys.contains(&row.target.key()), "{}", row.word);
        assert!(
            row.needs.iter().all(|k| row.keys.contains(k)),
            "{}",
            row.word
        );
        let f = fault(&sample(a, None));
        assert_eq!(f.action.kind(), a);
        assert_eq!(f.action.as_str(), row.word);
    }
}

/// The keys a fault of `a` is written back with: every one it takes but `random`, in its
/// row's order.
fn written_keys(a: Action) -> Vec<&'static str> {
    a.row()
        .keys
        .iter()
        .filter(|k| **k != Key::Random)
        .map(|k| k.as_str())
        .collect()
}

#[test]
fn every_action_is_written_back_with_exactly_its_keys_in_its_rows_order() {
    for a in Action::ALL {
        let f = fault(&sample(a, None));
        let json = serde_json::to_value(&f).unwrap_or_default();
        let written: Vec<&str> = json
            .as_object()
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default();
        let mut want = written_keys(a);
        want.sort_unstable(); // serde_json's map sorts; the order is checked on YAML below
        assert_eq!(written, want, "{}", a.as_str());
        let yaml = serde_yaml::to_string(&f).unwrap_or_default();
        let order: Vec<&str> = yaml
            .lines()
            .filter(|l| l.starts_with(|c: char| c.is_ascii_lowercase()))
            .filter_map(|l| l.split(':').next())
            .collect();
        assert_eq!(order, written_keys(a), "{yaml}");
    }
}

#[test]
fn every_action_needs_the_keys_its_row_says_and_may_leave_out_the_others() {
    for a in Action::ALL {
        let row = a.row();
        for k in row
            .keys
            .iter()
            .copied()
            .filter(|k| !matches!(k, Key::Action | Key::Random))
        {
            let r = parse(&format!("  - {}\n", sample(a, Some(k))));
            let needed = row.needs.contains(&k) || k == row.target.key();
            match r {
                Ok(_) => assert!(!needed, "{} parsed without `{}`", row.word, k.as_str()),
                Err(e) => assert!(
                    needed && e.to_string().contains("needs"),
                    "{}: {e}",
                    row.word
                ),
            }
        }
    }
}

#[test]
fn random_stands_in_for_every_actions_target() {
    for a in Action::ALL {
        let with_random =
            sample(a, Some(a.row().target.key())).replacen("{ ", "{ random: [a, b], ", 1);
        assert!(fault(&with_random)
            .action
            .on()
            .named()
            .iter()
            .all(|(k, _)| k.starts_with("random[")));
    }
}

#[test]
fn every_action_refuses_a_key_of_no_action_and_a_key_of_another() {
    for a in Action::ALL {
        assert!(parse(&format!(
            "  - {}\n",
            sample(a, None).replacen("{ ", "{ colour: red, ", 1)
        ))
        .is_err());
        let foreign = Key::ALL.into_iter().find(|k| !a.takes(*k));
        if let Some(k) = foreign {
            let mut f = sample(a, None);
            f.truncate(f.len() - 2);
            let e = parse(&format!("  - {f}, {}: {} }}\n", k.as_str(), k.example()));
            assert!(
                matches!(&e, Err(e) if e.to_string().contains("does not apply to")),
                "{}: {e:?}",
                a.as_str()
            );
        }
    }
}

/// Every scenario the repository ships, as YAML → Scenario → JSON → Scenario (the journal's
/// way) and → YAML → Scenario: identity both ways.
#[test]
fn every_scenario_file_round_trips() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let mut seen = 0;
    for dir in [
        "scenarios",
        "scenarios/swarm",
        "flux-gate-chaos/fixtures/mutants/scenarios",
    ] {
        let Ok(entries) = std::fs::read_dir(format!("{root}/{dir}")) else {
            panic!("no {dir}");
        };
        for path in entries.flatten().map(|e| e.path()) {
            if path.extension().is_none_or(|x| x != "yaml") {
                continue;
            }
            let s = match crate::scenario::read_file(&path) {
                Ok(s) => s,
                Err(e) => panic!("{e}"),
            };
            let json = serde_json::to_string(&s).unwrap_or_default();
            let back: Scenario = match serde_json::from_str(&json) {
                Ok(b) => b,
                Err(e) => panic!("{}: {e}\n{json}", path.display()),
            };
            assert_eq!(back, s, "{}", path.display());
            let yaml = serde_yaml::to_string(&s).unwrap_or_default();
            let again = parse_str(&yaml, "again.yaml");
            assert!(
                matches!(&again, Ok(a) if *a == s),
                "{}: {again:?}",
                path.display()
            );
            seen += 1;
        }
    }
    assert!(seen >= 16, "{seen} files");
}

#[test]
fn json_errors_name_the_key_too() {
    let e = serde_json::from_str::<Fault>(r#"{"action":"kill","service":"redis","latency":"5ms"}"#)
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(e.contains("`latency` does not apply to `kill`"), "{e}");
    let f = serde_json::from_str::<Fault>(
        r#"{"at":"1s","action":"partition","links":["a","b"],"duration":"2s"}"#,
    );
    assert!(
        matches!(f, Ok(Fault { action: FaultAction::Partition { on: LinksTarget::Links(ref l) }, .. }) if l.len() == 2),
        "{f:?}"
    );
}

#[test]
fn effects() {
    let f = fault("{ at: 1s, action: stop, service: redis }");
    assert_eq!(
        f.action.effect(0),
        Effect::Lifecycle {
            service: Pick::Named("redis"),
            op: Lifecycle::Stop { grace_ms: 10_000 },
            undo: Some(Lifecycle::Start)
        }
    );
    let heals: Vec<&str> = Action::ALL
        .into_iter()
        .filter(|a| !fault(&sample(*a, None)).action.heals())
        .map(Action::as_str)
        .collect();
    assert_eq!(
        heals,
        ["start", "restart", "resume", "failover", "activate", "rejoin"]
    );
    let f = fault("{ at: 1s, action: slicer, random: [a, b], average_size: 10, delay: 2ms, stream: upstream, toxicity: 0.25 }");
    let Effect::Toxics { link, toxics } = f.action.effect(3) else {
        panic!("{f:?}");
    };
    assert_eq!(link, Pick::OneOf(&["a".to_owned(), "b".to_owned()]));
    assert_eq!(toxics.len(), 1);
    assert_eq!(toxics[0].name, "fgchaos-3-slicer-upstream");
    assert_eq!(toxics[0].toxicity, 0.25);
    assert_eq!(toxics[0].attributes["delay"], 2000, "microseconds");
    assert_eq!(toxics[0].attributes["size_variation"], 0);
    let f = fault("{ at: 1s, action: partition, links: [a, b] }");
    assert_eq!(
        f.action.effect(0),
        Effect::Disable {
            links: vec![Pick::Named("a"), Pick::Named("b")]
        }
    );
    let f =
        fault("{ at: 1s, action: scale, service: inventory-worker, replicas: 3, duration: 5s }");
    assert_eq!(
        f.action.effect(0),
        Effect::Scale {
            service: Pick::Named("inventory-worker"),
            replicas: 3
        }
    );
    assert!(f.action.heals(), "scaled back to the attach's count");
}

#[test]
fn the_schema_has_one_closed_object_per_action() {
    let schema = schemars::schema_for!(Scenario).to_value();
    let one_of = schema
        .pointer("/$defs/Fault/oneOf")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    assert_eq!(one_of.len(), Action::ALL.len());
    for (a, s) in Action::ALL.into_iter().zip(&one_of) {
        assert_eq!(
            s.pointer("/properties/action/const"),
            Some(&json!(a.as_str()))
        );
        assert_eq!(s["additionalProperties"], json!(false));
        let props: Vec<&str> = s["properties"]
            .as_object()
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default();
        let mut want: Vec<&str> = a.row().keys.iter().map(|k| k.as_str()).collect();
        want.sort_unstable();
        assert_eq!(props, want, "{}", a.as_str());
    }
    assert!(schema.pointer("/$defs/Dur").is_some());
    assert!(schema.pointer("/$defs/Stream").is_some());
}
