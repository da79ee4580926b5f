//! The crate's modules form layers (docs/decisions.md §30): each top-level module of
//! `flux-gate-chaos/src` may use only modules of lower layers, so there is no cycle and a
//! reader can learn the crate bottom-up. This test reads the sources and holds the line: a new
//! `crate::x` reference that goes sideways or up fails here, naming the file, and a new
//! module must be given its layer.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Lowest first. The binary's `main.rs` and `cmd/` sit above all of them.
const LAYERS: &[&[&str]] = &[
    // The one name of a target kind, which the command line and scenarios both use.
    &["target_kind"],
    // Plain data and formats.
    &["model", "jsonl", "cancel", "cli", "yaml", "toxiproxy"],
    // The experiment as written.
    &["scenario"],
    // The generator and where the stack runs.
    &["load", "target"],
    // The nemesis, the observers, and the guardian that heals when fgchaos cannot.
    &["nemesis", "observe", "guard"],
    // What stops a run: the steady-state gate and the stop conditions, read from the
    // observers and the load.
    &["stop"],
    // What a run stores, and reading it back.
    &["journal"],
    &["record"],
    // Judging and reporting a stored run.
    &["verdict"],
    &["report"],
    // One run, in steps.
    &["run"],
    // Many runs: the search for failures, then the reduction of one.
    &["explore"],
    &["shrink"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let p = entry.path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The `crate::x` paths a file's code (not its comments, not its test module) uses.
fn uses(text: &str) -> BTreeSet<String> {
    let code = text
        .split("#[cfg(test)]\nmod tests")
        .next()
        .unwrap_or_default();
    let mut found = BTreeSet::new();
    for line in code.lines() {
        let l = line.trim_start();
        if l.starts_with("//") {
            continue;
        }
        let mut rest = l;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    found
}

#[test]
fn every_module_uses_only_lower_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut deps: BTreeMap<String, BTreeSet<(String, String)>> = BTreeMap::new();
    let mut bad = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(&src).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_owned();
        if ["main", "lib", "cmd"].contains(&top.as_str()) {
            continue;
        }
        let Some(mine) = layer_of(&top) else {
            bad.push(format!(
                "src/{top}: a module without a layer; add it to LAYERS in tests/layering.rs"
            ));
            continue;
        };
        for used in uses(&std::fs::read_to_string(f).unwrap()) {
            if used == top {
                continue;
            }
            deps.entry(top.clone())
                .or_default()
                .insert((used.clone(), rel.display().to_string()));
            match layer_of(&used) {
                Some(theirs) if theirs < mine => {}
                _ => bad.push(format!(
                    "src/{}: `{top}` uses `crate::{used}`, which is not in a lower layer",
                    rel.display()
                )),
            }
        }
    }
    assert!(bad.is_empty(), "layering broken:\n{}", bad.join("\n"));
    // The check sees real dependencies (a parser that found none would pass anything).
    assert!(deps["run"].iter().any(|(m, _)| m == "verdict"), "{deps:?}");
    assert!(
        deps["journal"].iter().any(|(m, _)| m == "model"),
        "{deps:?}"
    );
}

#[test]
fn the_parser_sees_uses_and_skips_comments_and_tests() {
    let text = "use crate::model::Sample;\n// crate::run in a comment\nfn f() { crate::jsonl::read(p) }\n#[cfg(test)]\nmod tests {\n    use crate::report;\n}\n";
    assert_eq!(
        uses(text),
        ["jsonl", "model"].map(String::from).into_iter().collect()
    );
}
