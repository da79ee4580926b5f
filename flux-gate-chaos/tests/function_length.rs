//! No function of the workspace's own code is a wall: every `fn` outside tests, from its
//! signature to its closing brace, is at most [`LIMIT`] lines (docs/decisions.md §44). A
//! longer one fails here with its place and length; split it along its ideas. There are no
//! exceptions: the walls older than the rule have all been split.
//!
//! The scan is a small lexer, not a parser: it knows strings, raw strings, char literals and
//! comments well enough that braces inside them do not count, which is all it needs.

use std::path::{Path, PathBuf};

const LIMIT: usize = 80;

/// The crates whose sources the rule covers (relative to the workspace root).
const CRATES: &[&str] = &[
    "flux-gate-core",
    "flux-gate-contract",
    "flux-gate-testbed",
    "flux-gate-chaos",
];

#[derive(Debug, PartialEq)]
struct Function {
    name: String,
    /// 1-based line of the `fn`.
    line: usize,
    /// Signature line to closing-brace line, both counted.
    lines: usize,
}

/// The code of a file with comments, strings and char literals blanked (newlines kept), so
/// braces and `fn` are only ever the code's own.
fn code_only(text: &str) -> String {
    let b: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < b.len() && b[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(b[i]));
                    i += 1;
                }
            }
        } else if c == 'r' && matches!(next, Some('"') | Some('#')) && !ident_before(&b, i) {
            // r"…" or r#"…"#: ends at a quote followed by as many hashes.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            while j < b.len() {
                if b[j] == '"' && (0..hashes).all(|k| b.get(j + 1 + k) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            out.extend(b[i..j.min(b.len())].iter().map(|&c| blank(c)));
            i = j;
        } else if c == '"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != '"' {
                j += if b[j] == '\\' { 2 } else { 1 };
            }
            out.extend(b[i..(j + 1).min(b.len())].iter().map(|&c| blank(c)));
            i = j + 1;
        } else if c == '\'' {
            // A char literal ('x', '\n', '\u{1F600}') or a lifetime ('a): only the first is text.
            let end = if next == Some('\\') {
                (i + 2..b.len()).find(|&j| b[j] == '\'')
            } else if b.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            match end {
                Some(e) => {
                    out.extend(std::iter::repeat_n(' ', e + 1 - i));
                    i = e + 1;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn ident_before(b: &[char], i: usize) -> bool {
    i > 0 && (b[i - 1].is_alphanumeric() || b[i - 1] == '_')
}

/// Every `fn` with a body in `text`, with its length.
fn functions(text: &str) -> Vec<Function> {
    let code = code_only(text);
    let chars: Vec<char> = code.chars().collect();
    let line_of = |pos: usize| chars[..pos].iter().filter(|&&c| c == '\n').count() + 1;
    let mut found = Vec::new();
    let mut i = 0;
    while i + 2 < chars.len() {
        let is_fn = chars[i] == 'f'
            && chars[i + 1] == 'n'
            && chars[i + 2].is_whitespace()
            && !ident_before(&chars, i);
        if !is_fn {
            i += 1;
            continue;
        }
        let mut j = i + 2;
        while j < chars.len() && chars[j].is_whitespace() {
            j += 1;
        }
        let name: String = chars[j..]
            .iter()
            .take_while(|c| c.is_alphanumeric() || **c == '_')
            .collect();
        if name.is_empty() {
            // `fn(u32) -> u32`: a function pointer type, not an item.
            i += 2;
            continue;
        }
        if let Some((open, close)) = body(&chars, j) {
            found.push(Function {
                name,
                line: line_of(i),
                lines: line_of(close) - line_of(i) + 1,
            });
            // Nested functions are measured too: keep scanning inside the body.
            i = open;
        }
        i += 1;
    }
    found
}

/// The body's braces: the first `{` after the signature at bracket depth 0, and its match.
/// `None` for a declaration without a body (`fn f();` in a trait).
fn body(chars: &[char], from: usize) -> Option<(usize, usize)> {
    let mut depth = 0i32;
    let mut open = None;
    for (k, &c) in chars.iter().enumerate().skip(from) {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            ';' if depth == 0 => return None,
            '{' if depth == 0 => {
                open = Some(k);
                break;
            }
            _ => {}
        }
    }
    let open = open?;
    let mut braces = 0i32;
    for (k, &c) in chars.iter().enumerate().skip(open) {
        match c {
            '{' => braces += 1,
            '}' => {
                braces -= 1;
                if braces == 0 {
                    return Some((open, k));
                }
            }
            _ => {}
        }
    }
    None
}

/// Non-test sources: no `tests/` directory, no `tests.rs`, and a file's `mod tests` cut off.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let p = entry.path();
        let name = entry.file_name();
        if p.is_dir() {
            if name != "tests" {
                sources(&p, out);
            }
        } else if p.extension().is_some_and(|e| e == "rs") && name != "tests.rs" {
            out.push(p);
        }
    }
}

fn without_test_module(text: &str) -> &str {
    text.split("#[cfg(test)]\nmod tests")
        .next()
        .unwrap_or_default()
}

#[test]
fn no_function_is_longer_than_the_limit() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for c in CRATES {
        sources(&root.join(c), &mut files);
    }
    assert!(files.len() > 100, "only {} source files found", files.len());
    let mut walls = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let rel = f.strip_prefix(&root).unwrap_or(f).display().to_string();
        let rel = rel.trim_start_matches("./").to_owned();
        for func in functions(without_test_module(&text)) {
            if func.lines > LIMIT {
                walls.push(format!(
                    "{rel}:{} fn {} is {} lines",
                    func.line, func.name, func.lines
                ));
            }
        }
    }
    assert!(
        walls.is_empty(),
        "functions over {LIMIT} lines (split them along their ideas):\n{}",
        walls.join("\n")
    );
}

#[test]
fn the_scan_measures_bodies_and_ignores_braces_in_text() {
    let text = r##"
fn short() {
    let s = "}}}";
    let c = '}';
    let r = r#"{"#;
    // }
    /* { */
}

trait T {
    fn declared(&self);
    fn defaulted<'a>(&'a self) -> fn(u32) -> u32 {
        todo!()
    }
}
"##;
    let found = functions(&code_only(text));
    let summary: Vec<(&str, usize, usize)> = found
        .iter()
        .map(|f| (f.name.as_str(), f.line, f.lines))
        .collect();
    assert_eq!(summary, vec![("short", 2, 7), ("defaulted", 12, 3)]);
}

#[test]
fn a_wall_is_caught() {
    let body: String = (0..LIMIT)
        .map(|i| format!("    let x{i} = {i};\n"))
        .collect();
    let text = format!("fn wall() {{\n{body}}}\n");
    let found = functions(&text);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].lines, LIMIT + 2);
    assert!(found[0].lines > LIMIT);
}
