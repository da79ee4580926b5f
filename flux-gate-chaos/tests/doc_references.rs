//! Every reference in README.md and docs/*.md resolves (docs/decisions.md §44). Two kinds:
//!
//! - **Decision citations**: `§N`, `decision N`, `decisions N and M`, `decisions.md, N`,
//!   `decisions.md §N`, and in the index `superseded by N` must name an entry whose heading is
//!   `## N.` in docs/decisions.md.
//! - **File paths**: a word inside backticks (inline or fenced) that starts with a top-level
//!   entry of the repository (`flux-gate-chaos/src/x.rs`, `docs/x.md`, `scripts/x`), and the
//!   target of a markdown link (`[..](docs/x.md)`, relative to the file it is in), must exist.
//!   URLs, anchors, globs (`*`), placeholders (`<run id>`, `{{addr.redis}}`, `$VAR`, `…`) and
//!   what runs produce (`reports/`, `target/`, `.fgchaos/`) are not checked; nor is a path
//!   written in plain prose — which is how the docs name a path that no longer exists or never
//!   did (a former location, a rejected layout) — or relative to a crate's `src/` (the walk in
//!   docs/architecture.md names files that way and says so).
//!
//! The test fails listing every bad reference as `file:line: what`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
}

/// Top-level entries whose contents runs or builds produce: never checked.
const PRODUCED: &[&str] = &["reports", "target", ".fgchaos", ".git"];

/// The documents checked: README.md and every docs/*.md, as (repo-relative name, text).
fn documents(root: &Path) -> Vec<(String, String)> {
    let mut docs = vec![(
        "README.md".to_owned(),
        std::fs::read_to_string(root.join("README.md")).unwrap(),
    )];
    let mut names: Vec<String> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".md"))
        .collect();
    names.sort();
    for n in names {
        let text = std::fs::read_to_string(root.join("docs").join(&n)).unwrap();
        docs.push((format!("docs/{n}"), text));
    }
    docs
}

/// The numbers N of the `## N.` headings of docs/decisions.md.
fn entries(decisions: &str) -> BTreeSet<u32> {
    decisions
        .lines()
        .filter_map(|l| l.strip_prefix("## "))
        .filter_map(|l| l.split_once('.'))
        .filter_map(|(n, _)| n.trim().parse().ok())
        .collect()
}

/// The words of `text`, each with its 1-based line number.
fn words(text: &str, first_line: usize) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        out.extend(line.split_whitespace().map(|w| (first_line + i, w)));
    }
    out
}

/// Leading digits of `s` as a number (`"33–§35;"` → 33).
fn leading_number(s: &str) -> Option<u32> {
    let digits: String = s.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

/// Every number a word cites after its `§` signs (`§33–§35` → 33, 35; `§§3` → 3).
fn section_numbers(word: &str) -> Vec<u32> {
    word.split('§')
        .skip(1)
        .filter_map(|rest| leading_number(rest.trim_start_matches('§')))
        .collect()
}

/// The numbers a run of words starting at `i` cites: `2 and 7`, `33–35`, `24, 30`.
fn number_list(ws: &[(usize, &str)], mut i: usize) -> Vec<(usize, u32)> {
    let mut out = Vec::new();
    while let Some(&(line, w)) = ws.get(i) {
        let w = w.trim_start_matches(['(', '§']);
        let Some(n) = leading_number(w) else { break };
        out.push((line, n));
        // A range written in one word: 33–35.
        for part in w.split(['–', '-']).skip(1) {
            out.extend(leading_number(part.trim_start_matches('§')).map(|n| (line, n)));
        }
        let continues = w.ends_with(',')
            || ws
                .get(i + 1)
                .is_some_and(|(_, next)| matches!(*next, "and" | "or" | "&"));
        if !continues {
            break;
        }
        i += if w.ends_with(',') { 1 } else { 2 };
    }
    out
}

/// Every decision number `text` cites, with its line.
fn citations(text: &str) -> Vec<(usize, u32)> {
    let ws = words(text, 1);
    let mut out = Vec::new();
    for (i, &(line, w)) in ws.iter().enumerate() {
        out.extend(section_numbers(w).into_iter().map(|n| (line, n)));
        let bare = w
            .trim_start_matches(|c: char| !c.is_alphanumeric())
            .to_lowercase();
        let word = bare.trim_end_matches([',', ':', ';']);
        let cites_next = (matches!(word, "decision" | "decisions") && !bare.ends_with([':', ';']))
            || bare.ends_with("decisions.md,")
            || (bare == "superseded"
                && ws.get(i + 1).is_some_and(|(_, by)| *by == "by")
                && ws.get(i + 2).is_some());
        if cites_next {
            let from = if bare == "superseded" { i + 2 } else { i + 1 };
            out.extend(number_list(&ws, from));
        }
    }
    out
}

/// Code in `text`, as (line, word): every word of a fenced block and of each inline span.
fn code_words(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    // The paragraph being gathered and its first line: inline spans may wrap lines but never
    // cross a blank line or a fence.
    let mut prose = String::new();
    let mut prose_start = 1;
    let mut fenced = false;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let fence = line.trim_start().starts_with("```");
        if fence || fenced || line.trim().is_empty() {
            out.extend(inline_code(&prose, prose_start));
            prose.clear();
        }
        if fence {
            fenced = !fenced;
        } else if fenced {
            out.extend(words(line, n).into_iter().map(|(l, w)| (l, w.to_owned())));
        } else if !line.trim().is_empty() {
            if prose.is_empty() {
                prose_start = n;
            }
            prose.push_str(line);
            prose.push('\n');
        }
    }
    out.extend(inline_code(&prose, prose_start));
    out
}

/// The words of each backtick span of a paragraph starting at `first_line`.
fn inline_code(paragraph: &str, first_line: usize) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let bytes = paragraph.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'`' {
            i += 1;
            continue;
        }
        let ticks = bytes[i..].iter().take_while(|b| **b == b'`').count();
        let open = i + ticks;
        let fence = "`".repeat(ticks);
        let Some(len) = paragraph[open..].find(&fence) else {
            break;
        };
        let line = first_line + paragraph[..open].matches('\n').count();
        let span = &paragraph[open..open + len];
        out.extend(
            words(span, line)
                .into_iter()
                .map(|(l, w)| (l, w.to_owned())),
        );
        i = open + len + ticks;
    }
    out
}

/// Every markdown link target `[..](target)` outside code, with its line.
fn link_targets(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut fenced = false;
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            let target = after[..end].split_whitespace().next().unwrap_or("");
            out.push((i + 1, target.to_owned()));
            rest = &after[end..];
        }
    }
    out
}

/// A word as a path: without the punctuation around it, a `:line` suffix or a `::item`.
fn as_path(word: &str) -> Option<&str> {
    let w = word.trim_start_matches(['(', '[', '"', '\'', '«']);
    let w = w.trim_end_matches([')', ']', ',', ';', '.', '"', '\'', '»', '`']);
    let w = w.split("::").next().unwrap_or(w);
    let w = match w.rsplit_once(':') {
        Some((p, line)) if !line.is_empty() && line.chars().all(|c| c.is_ascii_digit()) => p,
        _ => w,
    };
    let placeholder = |c: char| matches!(c, '*' | '<' | '>' | '{' | '}' | '$' | '…' | '?' | '|');
    let checkable =
        w.contains('/') && !w.contains("://") && !w.starts_with('/') && !w.contains(placeholder);
    checkable.then_some(w)
}

/// The problems of one document: `name` is repo-relative (`docs/x.md`).
fn problems(root: &Path, name: &str, text: &str, known: &BTreeSet<u32>) -> Vec<String> {
    let roots: BTreeSet<String> = std::fs::read_dir(root)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !PRODUCED.contains(&n.as_str()))
        .collect();
    let mut out = Vec::new();
    for (line, n) in citations(text) {
        if !known.contains(&n) {
            out.push(format!(
                "{name}:{line}: decision {n}: no `## {n}.` in docs/decisions.md"
            ));
        }
    }
    for (line, word) in code_words(text) {
        let Some(path) = as_path(&word) else { continue };
        let first = path.split('/').next().unwrap_or("");
        if roots.contains(first) && !root.join(path).exists() {
            out.push(format!("{name}:{line}: `{path}` does not exist"));
        }
    }
    let dir = Path::new(name).parent().unwrap_or(Path::new(""));
    for (line, target) in link_targets(text) {
        let target = target.split('#').next().unwrap_or("");
        let external = target.contains("://") || target.starts_with("mailto:");
        if target.is_empty() || external {
            continue;
        }
        let relative = dir.join(target);
        let produced = relative
            .components()
            .next()
            .is_some_and(|c| PRODUCED.iter().any(|p| c.as_os_str() == *p));
        if !produced && !root.join(&relative).exists() {
            out.push(format!("{name}:{line}: link ({target}) does not exist"));
        }
    }
    out
}

#[test]
fn every_decision_cited_and_every_file_named_in_the_docs_exists() {
    let root = repo();
    let docs = documents(&root);
    let decisions = &docs
        .iter()
        .find(|(n, _)| n == "docs/decisions.md")
        .expect("docs/decisions.md")
        .1;
    let known = entries(decisions);
    assert!(known.len() > 40, "decision headings not found: {known:?}");
    let bad: Vec<String> = docs
        .iter()
        .flat_map(|(name, text)| problems(&root, name, text, &known))
        .collect();
    assert!(
        bad.is_empty(),
        "{} bad references:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

/// The checker itself: it finds a citation of a missing entry and a missing file, and lets
/// through what it must not check.
#[test]
fn the_checker_catches_a_missing_decision_and_a_missing_file() {
    let root = repo();
    let known: BTreeSet<u32> = [1, 2, 7, 32].into();
    let doc = "\
Fine: §1, decisions 2 and 7, (docs/decisions.md, 32), `docs/decisions.md`, [ci](ci.md).
Broken: §99 and `flux-gate-chaos/src/no_such_file.rs` and decision 98.
Not checked: `reports/<run id>/*.svg`, `scenarios/*.yaml`, <https://example.com/a/b>,
`target/release/fgchaos`, `api/kafka_gate.rs`, [web](https://example.com/x.md).

```sh
fgchaos run scenarios/worker-crash.yaml scenarios/nope.yaml
```

A [link](missing.md#part), superseded by 97.
";
    let found = problems(&root, "docs/selftest.md", doc, &known);
    let want = [
        "docs/selftest.md:2: decision 99: no `## 99.` in docs/decisions.md",
        "docs/selftest.md:2: decision 98: no `## 98.` in docs/decisions.md",
        "docs/selftest.md:10: decision 97: no `## 97.` in docs/decisions.md",
        "docs/selftest.md:2: `flux-gate-chaos/src/no_such_file.rs` does not exist",
        "docs/selftest.md:7: `scenarios/nope.yaml` does not exist",
        "docs/selftest.md:10: link (missing.md) does not exist",
    ];
    for w in want {
        assert!(found.iter().any(|f| f == w), "missed {w:?} in {found:#?}");
    }
    assert_eq!(found.len(), want.len(), "{found:#?}");
}
