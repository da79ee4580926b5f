use std::path::Path;

use super::*;
use crate::explore::anchors::Anchors;
use crate::explore::space::Space;
use crate::scenario::validate::validate;
use crate::scenario::{parse_str, Action, ServiceTarget};
use crate::target::local::StackSpec;

fn resolved(stack: &StackSpec, space: &str) -> Resolved {
    Space::parse(space, "space.yaml")
        .unwrap()
        .resolve(
            &stack.names(false),
            Anchors::of_stack(stack),
            space,
            "space.yaml",
        )
        .unwrap()
}

fn stacks() -> Vec<StackSpec> {
    let ha = Path::new(env!("CARGO_MANIFEST_DIR")).join("stacks/redis-ha.yaml");
    vec![
        StackSpec::built_in().unwrap(),
        StackSpec::read(&ha).unwrap(),
    ]
}

/// Whatever explore draws, the format writes and validation accepts: every trial of 300 seeds
/// on both stacks is valid against its stack, and reads back equal from the YAML it writes.
#[test]
fn every_drawn_trial_is_a_valid_scenario_that_round_trips() {
    for stack in stacks() {
        let r = resolved(&stack, "");
        let names = stack.names(false);
        for seed in 0..300 {
            let s = trial(&r, "trial-1", seed);
            let problems = validate(&s, &names);
            assert!(problems.is_empty(), "seed {seed}: {problems:?}\n{s:#?}");
            let text = serde_yaml::to_string(&s).unwrap();
            let back = parse_str(&text, "trial.yaml").unwrap();
            assert_eq!(back, s, "seed {seed}:\n{text}");
            let n = neighbour(&r, &s, "trial-2", seed + 1);
            assert!(validate(&n, &names).is_empty(), "neighbour of seed {seed}");
        }
    }
}

#[test]
fn the_same_space_and_seed_draw_the_same_trial() {
    let stack = StackSpec::built_in().unwrap();
    let r = resolved(&stack, "");
    assert_eq!(trial(&r, "t", 42), trial(&r, "t", 42));
    assert_ne!(trial(&r, "t", 42), trial(&r, "t", 43));
}

/// The default space reaches what random-nemesis never did: several faults at once, faults
/// that overlap, sales that sell out, every drawable action, and durations near the timeouts.
#[test]
fn the_default_space_draws_compound_faults_and_sell_outs() {
    let stack = stacks().remove(1);
    let r = resolved(&stack, "");
    let trials: Vec<Scenario> = (0..400).map(|s| trial(&r, "t", s)).collect();
    let compound = trials.iter().filter(|t| t.faults.len() >= 2).count();
    let overlapping = trials
        .iter()
        .filter(|t| {
            t.faults.windows(2).any(|w| {
                let end = w[0].at.unwrap().get() + w[0].duration.map_or(Duration::ZERO, Dur::get);
                w[1].at.unwrap().get() < end
            })
        })
        .count();
    let attempts = |t: &Scenario| {
        let all = t.load.rate.unwrap().per_second * 10.0;
        t.sale
            .per_user_limit
            .map_or(all, |l| all.min(f64::from(t.load.users * l)))
    };
    let sold_out = trials
        .iter()
        .filter(|t| f64::from(t.sale.stock) < attempts(t))
        .count();
    assert!(compound > 200, "{compound} of 400 with two faults or more");
    assert!(overlapping > 100, "{overlapping} of 400 overlapping");
    assert!(sold_out > 150, "{sold_out} of 400 sell out");
    let seen: std::collections::BTreeSet<Action> = trials
        .iter()
        .flat_map(|t| t.faults.iter().map(|f| f.action.kind()))
        .collect();
    let expected: std::collections::BTreeSet<Action> = r.actions.iter().copied().collect();
    assert_eq!(seen, expected);
    assert!(expected.contains(&Action::Failover));
    let near_session = trials
        .iter()
        .flat_map(|t| &t.faults)
        .filter_map(|f| f.duration)
        .filter(|d| (4800..=7500).contains(&(d.get().as_millis() as u64)))
        .count();
    assert!(
        near_session > 40,
        "{near_session} durations near the 6 s session timeout"
    );
}

/// Instance faults and link faults come at even odds, however many actions each kind has: on
/// the built-in stack a uniform draw over its actions made instance faults 4 in 14, and a
/// crash, stop or restart of Redis about one fault in forty.
#[test]
fn instance_faults_are_half_of_what_is_drawn() {
    let stack = StackSpec::built_in().unwrap();
    let r = resolved(&stack, "");
    let faults: Vec<FaultAction> = (0..400)
        .flat_map(|s| trial(&r, "t", s).faults)
        .map(|f| f.action)
        .collect();
    let instance = faults.iter().filter(|a| !a.kind().hits_links()).count();
    let share = instance as f64 / faults.len() as f64;
    assert!(
        (0.45..=0.55).contains(&share),
        "{instance} of {}",
        faults.len()
    );
    let redis = ServiceTarget::Service("redis".into());
    let redis_lifecycle = faults
        .iter()
        .filter(|a| match a {
            FaultAction::Kill { on }
            | FaultAction::Stop { on, .. }
            | FaultAction::Restart { on, .. } => *on == redis,
            _ => false,
        })
        .count();
    let share = redis_lifecycle as f64 / faults.len() as f64;
    assert!(
        share > 0.04,
        "{redis_lifecycle} of {} crash, stop or restart Redis",
        faults.len()
    );
}
