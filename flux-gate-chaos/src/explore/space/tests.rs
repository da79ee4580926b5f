use super::*;
use crate::target::local::StackSpec;

fn resolve(text: &str) -> Result<Resolved, SpaceError> {
    let stack = StackSpec::built_in().unwrap();
    Space::parse(text, "space.yaml")?.resolve(
        &stack.names(false),
        Anchors::of_stack(&stack),
        text,
        "space.yaml",
    )
}

fn problems(text: &str) -> Vec<SpaceProblem> {
    match resolve(text) {
        Err(SpaceError::Invalid { problems, .. }) => problems,
        other => panic!("expected problems, got {other:?}"),
    }
}

#[test]
fn what_the_stack_marks_undrawn_is_drawn_only_when_listed() {
    let stack = StackSpec::built_in().unwrap();
    let mut names = stack.names(false);
    names.undrawn = vec!["nginx".into()];
    let resolved = |text: &str| {
        Space::parse(text, "space.yaml")
            .unwrap()
            .resolve(&names, Anchors::of_stack(&stack), text, "space.yaml")
            .unwrap()
    };
    let by_default = resolved("").services;
    assert!(!by_default.contains(&"nginx".to_owned()), "{by_default:?}");
    assert_eq!(by_default.len(), names.services.len() - 1);
    assert_eq!(
        resolved("faults:\n  services: [nginx]\n").services,
        ["nginx"]
    );
}

#[test]
fn the_default_space_is_everything_the_stack_offers() {
    let r = resolve("").unwrap();
    let stack = StackSpec::built_in().unwrap();
    assert_eq!(r.services, stack.names(false).services);
    assert_eq!(r.links, stack.names(false).links);
    // No Sentinel, embedded proxy: no failover, no reset_peer; start, resume and activate
    // only heal; a drain is never drawn (a space names no nodes), nor a scale.
    let expected: Vec<Action> = Action::ALL
        .into_iter()
        .filter(|a| {
            !matches!(
                a,
                Action::Start
                    | Action::Resume
                    | Action::Failover
                    | Action::ResetPeer
                    | Action::Drain
                    | Action::Activate
                    | Action::Isolate
                    | Action::Rejoin
                    | Action::Scale
            )
        })
        .collect();
    assert_eq!(r.actions, expected);
}

#[test]
fn an_unknown_name_is_placed_where_it_is_written() {
    let text = "faults:\n  services: [inventory-worker, inventroy-worker]\n  links: [kafka]\n";
    let p = problems(text);
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!((p[0].line, p[0].column), (Some(2), Some(32)));
    assert_eq!(p[0].key, "faults.services[1]");
    assert!(
        p[0].message.contains("did you mean `inventory-worker`"),
        "{p:?}"
    );
}

#[test]
fn an_unknown_action_word_is_a_placed_syntax_error() {
    let e = Space::parse("faults:\n  actions: [kill, kil]\n", "space.yaml").unwrap_err();
    let SpaceError::Syntax(e) = e else {
        panic!("{e}")
    };
    assert_eq!(
        (e.line, e.key.as_str()),
        (Some(2), "faults.actions[1]"),
        "{e}"
    );
}

#[test]
fn a_space_that_can_draw_nothing_is_refused() {
    // Network faults only, and no link to put them on.
    let p = problems("faults:\n  actions: [latency, down]\n  links: []\n");
    assert_eq!(p.len(), 2, "{p:?}");
    assert_eq!(p[0].key, "faults.actions[0]");
    assert!(p[0].message.contains("no link"), "{p:?}");
    // An action this stack cannot do, asked for by name.
    let p = problems("faults:\n  actions: [failover]\n");
    assert_eq!(
        (p[0].line, p[0].key.as_str()),
        (Some(2), "faults.actions[0]")
    );
    assert!(p[0].message.contains("Sentinel"), "{p:?}");
    let p = problems("faults:\n  actions: [start]\n");
    assert!(p[0].message.contains("only ends a fault"), "{p:?}");
}

#[test]
fn out_of_bounds_values_are_refused() {
    let p = problems(
        "faults:\n  count: { min: 1, max: 9 }\n  overlap: 2\nload:\n  rate: { min: 0/s, max: 10/s }\n",
    );
    let keys: Vec<&str> = p.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(keys, ["faults.count", "faults.overlap", "load.rate"]);
    assert_eq!(p[0].line, Some(2));
}
