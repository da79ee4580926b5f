//! `fgchaos list`: the scenarios of a directory as a table; unreadable files are named and
//! make the exit code 3.

use std::path::PathBuf;

use anyhow::Context;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use fgchaos::cli::ListArgs;
use fgchaos::scenario::{self, validate};

use super::Exit;

pub fn list(args: &ListArgs) -> anyhow::Result<Exit> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(&args.dir)
        .with_context(|| format!("reading {}", args.dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED);
    t.set_header(["file", "name", "description", "faults", "load"]);
    let mut bad = 0;
    for f in files {
        match scenario::read_file(&f) {
            Ok(s) => {
                let faults: Vec<String> = s
                    .faults
                    .iter()
                    .map(|x| format!("{} @{}", x.action.as_str(), x.at.unwrap_or_default()))
                    .chain(
                        s.nemesis
                            .iter()
                            .map(|n| format!("nemesis every {}", n.every)),
                    )
                    .collect();
                let dur = validate::load_duration(&s.load)
                    .map(|d| humantime::format_duration(d).to_string())
                    .unwrap_or_default();
                t.add_row([
                    f.display().to_string(),
                    s.name,
                    s.description,
                    faults.join(", "),
                    dur,
                ]);
            }
            Err(e) => {
                bad += 1;
                errln!("{e}");
            }
        }
    }
    outln!("{t}");
    Ok(Exit::unless_bad(bad))
}
