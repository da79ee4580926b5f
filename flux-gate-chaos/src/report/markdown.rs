//! The markdown report: verdict first, then the evidence — checkers with counterexamples,
//! fault timeline, phases, charts, final state, environment. Plain tables and `<details>`
//! read well both rendered on GitHub and raw in a terminal. Deterministic: the same journal and
//! judgement render the same bytes (golden-file tested).

use std::fmt::Write as _;
use std::time::Duration;

use crate::journal::Journal;
use crate::model::Sample;
use crate::verdict::checkers::Status;
use crate::verdict::stall::Diagnosis;
use crate::verdict::{Judgement, Verdict};

/// Relative paths of the run's files, from the report's directory.
pub struct Links {
    pub dir: String,
    pub charts: Vec<(String, String)>,
}

fn secs(ms: u64) -> String {
    format!("{:.1}s", ms as f64 / 1000.0)
}

fn dur_us(us: u64) -> String {
    if us >= 1_000_000 {
        format!("{:.2} s", us as f64 / 1e6)
    } else {
        format!("{:.1} ms", us as f64 / 1000.0)
    }
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn badge(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "✅ PASS",
        Verdict::Fail => "❌ FAIL",
        Verdict::Inconclusive => "⚠️ INCONCLUSIVE",
        Verdict::HarnessError => "🛑 HARNESS ERROR",
    }
}

pub fn render(j: &Journal, jd: &Judgement, samples: &[Sample], links: &Links) -> String {
    let mut o = String::new();
    let s = &j.scenario;
    let _ = writeln!(o, "# {} — {}\n", s.name, badge(jd.verdict));
    if !s.description.is_empty() {
        let _ = writeln!(o, "> {}\n", s.description);
    }
    let recovery = jd
        .settled
        .recovery_ms
        .map(|ms| format!("recovered in {}", secs(ms)))
        .unwrap_or_else(|| "did not settle".into());
    let _ = writeln!(
        o,
        "**{}** — {} · {} · [journal]({d}/journal.json) · [history]({d}/history.jsonl) · [logs]({d}/logs/)\n",
        jd.verdict.as_str(),
        cell(&jd.reason),
        recovery,
        d = links.dir
    );

    let _ = writeln!(
        o,
        "## Checkers\n\n| checker | result | evidence |\n|---|---|---|"
    );
    for f in &jd.findings {
        let mark = match f.status {
            Status::Pass => "✅ pass",
            Status::Fail => "❌ FAIL",
            Status::Inconclusive => "⚠️ inconclusive",
            Status::Skipped => "➖ not required",
        };
        let _ = writeln!(o, "| `{}` | {mark} | {} |", f.checker, cell(&f.summary));
    }
    for f in jd.findings.iter().filter(|f| !f.counterexamples.is_empty()) {
        let _ = writeln!(
            o,
            "\n<details><summary><code>{}</code>: {} counterexample(s){}</summary>\n",
            f.checker,
            f.count,
            if f.count > f.counterexamples.len() {
                format!(", first {}", f.counterexamples.len())
            } else {
                String::new()
            }
        );
        for c in &f.counterexamples {
            let _ = writeln!(o, "- {}", c);
        }
        let _ = writeln!(o, "\n</details>");
    }

    diagnosis(&mut o, jd.diagnosis.as_ref());

    let _ = writeln!(o, "\n## Fault timeline\n");
    if j.timeline.is_empty() {
        let _ = writeln!(o, "No faults.");
    } else {
        let _ = writeln!(
            o,
            "| fault | step | scheduled | started | done | result |\n|---|---|---|---|---|---|"
        );
        for e in &j.timeline {
            let _ = writeln!(
                o,
                "| {} `{}`{} | {} | {} | {} | {} | {} |",
                e.fault,
                e.label,
                e.instance
                    .as_ref()
                    .map(|i| format!(" → `{i}`"))
                    .unwrap_or_default(),
                e.phase,
                e.scheduled_ms
                    .map(secs)
                    .unwrap_or_else(|| "end of run".into()),
                secs(e.started_ms),
                secs(e.finished_ms),
                if e.ok {
                    "ok".to_owned()
                } else {
                    format!("**failed**: {}", cell(e.error.as_deref().unwrap_or("")))
                }
            );
        }
    }

    primaries(&mut o, samples);

    let _ = writeln!(
        o,
        "\n## Phases\n\n| phase | window | req/s | ok / fail / info | statuses | p50 | p95 | p99 | available |\n|---|---|---|---|---|---|---|---|---|"
    );
    for p in &jd.windows {
        let statuses: Vec<String> = p.statuses.iter().map(|(k, v)| format!("{k}×{v}")).collect();
        let _ = writeln!(
            o,
            "| {} | {}–{} | {:.0} | {} / {} / {} | {} | {} | {} | {} | {:.2}% |",
            cell(&p.name),
            secs(p.start_ms),
            secs(p.end_ms),
            p.rps,
            p.ok,
            p.fail,
            p.info,
            statuses.join(" "),
            dur_us(p.p50_us),
            dur_us(p.p95_us),
            dur_us(p.p99_us),
            p.availability * 100.0
        );
    }

    if !links.charts.is_empty() {
        let _ = writeln!(o, "\n## Charts\n\nFault windows are shaded.\n");
        for (title, file) in &links.charts {
            let _ = writeln!(o, "![{title}]({}/{file})\n", links.dir);
        }
    }

    let st = &jd.settled.state;
    let opt = |v: Option<i64>| v.map_or_else(|| "—".to_owned(), |x| x.to_string());
    let _ = writeln!(
        o,
        "## Final state\n\n{}{}\n\n| initial | Redis stock (lowest seen) | DB orders | products.stock | outbox | relayed | consumer lag |\n|---|---|---|---|---|---|---|\n| {} | {} ({}) | {} | {} | {} | {} | {} |",
        if jd.settled.converged {
            format!(
                "Converged {} after the last change (settle waited {}).",
                jd.settled.recovery_ms.map(secs).unwrap_or_default(),
                secs(jd.settled.waited_ms)
            )
        } else if jd.settled.pending.is_empty() {
            "Not settled (the run ended early).".to_owned()
        } else {
            format!("**Did not settle** within {}: {}.", s.settle.timeout, jd.settled.pending.join("; "))
        },
        match &j.sampling {
            Some(sm) => format!(
                " Redis stock was sampled every {} ms from sale start to the end of settle: {} samples{}.",
                sm.every_ms,
                sm.taken,
                if sm.missed > 0 { format!(", {} missed while Redis did not answer", sm.missed) } else { String::new() }
            ),
            None => String::new(),
        },
        st.initial,
        opt(st.redis_stock),
        opt(st.redis_stock_min),
        st.db_orders.len(),
        opt(st.db_stock),
        st.outbox,
        st.relayed,
        opt(st.consumer_lag)
    );

    let load = j.load.as_ref();
    let _ = writeln!(
        o,
        "\n## Environment\n\n| | |\n|---|---|\n| target | {} |\n| fgchaos | {} |\n| scenario | `{}` (fingerprint `{}`) |\n| seed | {} (`--seed {}` replays the schedule and the requests) |\n| product | `{}`: {} units{} |\n| load | {} {} for {} ({} sent, {} not sent) |\n| started | {} |",
        j.target,
        j.fgchaos_version,
        j.scenario_file,
        j.scenario_hash,
        j.seed,
        j.seed,
        j.product,
        j.stock,
        j.per_user_limit.map(|l| format!(", {l} per user")).unwrap_or_default(),
        s.load.model.as_str(),
        s.load.rate.map(|r| r.to_string()).or(s.load.vus.map(|v| format!("{v} users"))).unwrap_or_default(),
        humantime::format_duration(Duration::from_millis(load.map_or(0, |l| l.elapsed_ms))),
        load.map_or(0, |l| l.totals.ops),
        load.map_or(0, |l| l.not_sent),
        j.started_at
    );
    environment(&mut o, &j.environment);
    o
}

/// Stuck or slow: what the settle trace says about a system that did not settle.
/// Which Redis instance was primary when, from the stock samples (Redis with Sentinel only):
/// one row per stretch, so a failover shows as the row where the name changes.
fn primaries(o: &mut String, samples: &[Sample]) {
    let mut stretches: Vec<(u64, u64, &str)> = Vec::new();
    for s in samples {
        let Some(p) = s.primary.as_deref() else {
            continue;
        };
        match stretches.last_mut() {
            Some(last) if last.2 == p => last.1 = s.at_ms,
            _ => stretches.push((s.at_ms, s.at_ms, p)),
        }
    }
    if stretches.is_empty() {
        return;
    }
    let _ = writeln!(
        o,
        "\n## Redis primary\n\nAs the samples read it (the instance the Sentinels named; no row while none answered).\n\n| from | to | primary |\n|---|---|---|"
    );
    for (from, to, p) in stretches {
        let _ = writeln!(o, "| {} | {} | `{p}` |", secs(from), secs(to));
    }
}

fn diagnosis(o: &mut String, d: Option<&Diagnosis>) {
    let Some(d) = d else { return };
    let _ = writeln!(o, "\n## Why it did not settle\n\n{}.", cell(&d.headline()));
    if let Diagnosis::Stuck(s) = d {
        let _ = writeln!(
            o,
            "\nThe state last changed at {} after the load started.",
            secs(s.since_ms)
        );
        if s.log_lines.is_empty() {
            let _ = writeln!(o, "\nNo warning or error in the stopped components' logs.");
        } else {
            let _ = writeln!(
                o,
                "\nLast warnings and errors of the stopped components:\n\n```text"
            );
            for l in &s.log_lines {
                let _ = writeln!(o, "{l}");
            }
            let _ = writeln!(o, "```");
        }
    }
}

/// Engine and containers (docker target): which images a verdict holds for.
fn environment(o: &mut String, env: &crate::target::Environment) {
    if let Some(engine) = &env.engine {
        let _ = writeln!(o, "| engine | {engine} |");
    }
    if let Some(project) = &env.project {
        let _ = writeln!(o, "| compose project | `{project}` |");
    }
    if env.containers.is_empty() {
        return;
    }
    let _ = writeln!(
        o,
        "\n<details><summary>{} containers</summary>\n\n| instance | container | image | image id |\n|---|---|---|---|",
        env.containers.len()
    );
    for c in &env.containers {
        let short = |id: &str| {
            id.trim_start_matches("sha256:")
                .chars()
                .take(12)
                .collect::<String>()
        };
        let _ = writeln!(
            o,
            "| {} | `{}` ({}) | `{}` | `{}` |",
            c.instance,
            c.name,
            short(&c.id),
            c.image,
            short(&c.image_id)
        );
    }
    let _ = writeln!(o, "\n</details>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nemesis::TimelineEvent;
    use crate::verdict::checkers::tests::{clean, journal, op};
    use crate::verdict::judge;

    /// A failed run with a fault window: every section of the report has content.
    fn sample() -> String {
        let mut j = journal(
            "expect: { availability: \">= 99%\", recovery: \"< 5s\" }",
            Some(1),
        );
        j.timeline = vec![
            TimelineEvent {
                fault: 0,
                phase: "apply".into(),
                label: "kill inventory-worker".into(),
                scheduled_ms: Some(150),
                started_ms: 151,
                finished_ms: 154,
                ok: true,
                error: None,
                instance: None,
            },
            TimelineEvent {
                fault: 0,
                phase: "heal".into(),
                label: "kill inventory-worker".into(),
                scheduled_ms: Some(400),
                started_ms: 401,
                finished_ms: 460,
                ok: true,
                error: None,
                instance: None,
            },
        ];
        let ops = vec![
            op(0, "k1", "u1", Some(200), Some("o1")),
            op(1, "k2", "u2", Some(200), Some("o2")),
            op(2, "k3", "u3", Some(503), None),
            op(3, "k4", "u4", Some(409), None),
            op(5, "k5", "u5", Some(202), Some("o5")),
        ];
        // The checkers' clean sold-out sale, with one order and one unit of products.stock gone.
        let (_, mut settled) = clean();
        settled.recovery_ms = Some(1250);
        settled.waited_ms = 3300;
        settled.state.db_stock = Some(1);
        settled.state.db_orders.truncate(2);
        j.settled = Some(settled);
        j.sampling = Some(crate::model::Sampling {
            every_ms: 100,
            taken: 52,
            missed: 3,
        });
        let record = crate::record::Record {
            journal: j,
            ops,
            samples: Vec::new(),
            logs: Default::default(),
        };
        let jd = judge(&record);
        let j = &record.journal;
        let links = Links {
            dir: "t-1".into(),
            charts: vec![("Latency (p50/p95/p99)".into(), "latency.svg".into())],
        };
        render(j, &jd, &[], &links)
    }

    #[test]
    fn a_stuck_run_says_which_component_stopped_and_quotes_its_log() {
        let j = journal("", None);
        let (ops, mut settled) = clean();
        settled.converged = false;
        settled.recovery_ms = None;
        settled.pending = vec!["consumer lag 7 message(s)".into()];
        settled.state.db_orders.retain(|r| r.key != "k2");
        settled.trace = (0..=80)
            .map(|i| crate::model::SettlePoint {
                at_ms: 3000 + i * 250,
                lag: Some(7),
                outbox: 0,
                orders: 2,
            })
            .collect();
        let mut record =
            crate::verdict::checkers::tests::record(&j, &ops, Some(settled), Vec::new());
        record.logs = crate::record::LogTails::from_texts([(
            "inventory-worker-1",
            "t  WARN persist failed, retrying: duplicate key value violates unique constraint\n",
        )]);
        let jd = judge(&record);
        assert_eq!(jd.verdict, Verdict::Fail);
        let links = Links {
            dir: "t-1".into(),
            charts: Vec::new(),
        };
        let md = render(&record.journal, &jd, &record.samples, &links);
        assert!(
            md.contains("## Why it did not settle\n\nstuck: the inventory worker (consumer lag not draining) — nothing moved for the last 20.0 s (consumer lag 7, outbox 0, 2 orders in the database)."),
            "{md}"
        );
        assert!(
            md.contains("The state last changed at 3.0s after the load started."),
            "{md}"
        );
        assert!(
            md.contains("```text\ninventory-worker-1: t  WARN persist failed, retrying: duplicate key value violates unique constraint\n```"),
            "{md}"
        );
        assert!(
            md.contains("acknowledged, not persisted within the settle timeout"),
            "{md}"
        );
    }

    #[test]
    fn report_matches_the_golden_file() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/report.md");
        let got = sample();
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(path, &got).unwrap();
        }
        let want = std::fs::read_to_string(path).unwrap_or_default();
        assert_eq!(got, want, "report changed: review it, then UPDATE_GOLDEN=1 cargo test -p flux-gate-chaos --lib report");
    }
}
