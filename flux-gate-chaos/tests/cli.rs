//! `fgchaos` as users run it: validation errors, a full run with a kill and a restart on
//! schedule, and Ctrl-C in the middle of a run leaving nothing behind.

mod common;
use common::run_dir_in;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use fgchaos::journal::Journal;
use fgchaos::load::history;

fn fgchaos() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fgchaos"))
}

/// Starts `fgchaos up` on `work` (with `extra` arguments) and waits until it has written its
/// state file.
fn start_up(work: &Path, extra: &[&str]) -> std::process::Child {
    let up = fgchaos()
        .arg("up")
        .arg("--work-dir")
        .arg(work)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let state = work.join("up.json");
    common::wait_until(Duration::from_secs(60), "fgchaos up to come up", || {
        state
            .exists()
            .then_some(())
            .ok_or_else(|| format!("no {}", state.display()))
    });
    up
}

/// The one run directory a run left in `reports` (next to its `.md` report).
fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// `--steady-state` replaces every scenario's hypothesis; a ceiling, or YAML that is not one,
/// is refused before anything starts (exit 3, nothing under the work dir).
#[test]
fn a_steady_state_from_the_command_line_is_checked_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = write(
        dir.path(),
        "s.yaml",
        "name: s\nsale: { product: p, stock: 10 }\nload: { model: arrival-rate, rate: 10/s, duration: 2s }\n",
    );
    for (given, says) in [
        (
            r#"{ availability: "<= 5%" }"#,
            "--steady-state: `steady_state.availability`: a steady state is a floor",
        ),
        ("{ latency: 3 }", "--steady-state `{ latency: 3 }`"),
    ] {
        let out = fgchaos()
            .arg("run")
            .arg(&scenario)
            .args(["--target", "local", "--steady-state", given, "--work-dir"])
            .arg(dir.path().join("work"))
            .arg("--report-dir")
            .arg(dir.path().join("reports"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{err}");
        assert!(err.contains(says), "{err}");
        assert!(!dir.path().join("reports").exists());
    }
}

#[test]
fn validate_reports_place_key_and_fix() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(
        dir.path(),
        "bad.yaml",
        "name: t\nsale: { product: p, stock: 10 }\nload: { model: arrival-rate, rate: 10/s, duration: 1s }\nfaults:\n  - { at: 1s, action: kill, service: inventory-wroker }\n",
    );
    let out = fgchaos().arg("validate").arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("`faults[0].service`: the stack has no service `inventory-wroker` — did you mean `inventory-worker`?"), "{err}");

    let typo = write(
        dir.path(),
        "typo.yaml",
        "name: t\nsale: { product: p, stock: 10 }\nload: { model: arrival-rate, rat: 10/s }\n",
    );
    let out = fgchaos().arg("validate").arg(&typo).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("typo.yaml:3:") && err.contains("did you mean `rate`?"),
        "{err}"
    );

    let out = fgchaos()
        .args(["validate", "../scenarios/worker-crash.yaml"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_run_applies_faults_on_schedule_and_records_every_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = write(
        dir.path(),
        "s.yaml",
        "name: cli-run\nsale: { product: phone, stock: 50, per_user_limit: 1 }\n\
         load: { model: arrival-rate, rate: 200/s, duration: 4s, users: 5000, duplicate_ratio: 0.1, timeout: 2s }\n\
         allow_total_outage: true\n\
         faults:\n  - { at: 1s, action: kill, service: inventory-worker, duration: 1500ms }\n  - { at: 1s, action: latency, link: api-redis, latency: 20ms, duration: 1s }\n",
    );
    let reports = dir.path().join("reports");
    let work = dir.path().join("work");
    let out = common::local_run(&scenario, dir.path())
        .args(["--seed", "7"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run_dir = run_dir_in(&reports);
    let j = Journal::read(&run_dir.join("journal.json")).unwrap();
    assert_eq!(j.seed, 7);
    assert!(
        j.product.starts_with("phone-") && j.product.len() == "phone-".len() + 4,
        "{}",
        j.product
    );
    let phases: Vec<(usize, &str, bool)> = j
        .timeline
        .iter()
        .map(|e| (e.fault, e.kind.as_str(), e.ok))
        .collect();
    assert_eq!(
        phases,
        [
            (0, "apply", true),
            (1, "apply", true),
            (1, "heal", true),
            (0, "heal", true)
        ]
    );
    let kill = &j.timeline[0];
    assert!(
        (1000..1300).contains(&kill.started_ms),
        "kill on time: {kill:?}"
    );
    let load = j.load.unwrap();
    assert_eq!(load.totals.ops, 800, "200/s for 4 s");
    let ops = history::read(&run_dir.join("history.jsonl")).unwrap();
    assert_eq!(ops.len(), 800);
    let mut seqs: Vec<u64> = ops.iter().map(|o| o.seq).collect();
    seqs.sort();
    assert_eq!(seqs, (0..800).collect::<Vec<_>>());
    let ok = ops
        .iter()
        .filter(|o| o.outcome == history::Outcome::Ok)
        .count() as u64;
    assert_eq!(ok, load.totals.ok);
    assert!(ok >= 50, "50 units sold (plus replays of their keys): {ok}");
    assert!(run_dir.join("logs/inventory-worker.log").exists());
    assert_eq!(
        common::processes_under(&work),
        Vec::<i32>::new(),
        "teardown left processes"
    );

    // Stock sampled through the run: 4 s of load and the settle phase, every 100 ms; it only
    // goes down, never below 0, and ends where the settle phase read it.
    let sampling = j.sampling.unwrap();
    assert_eq!(sampling.every_ms, 100);
    assert!(sampling.taken >= 40, "{sampling:?}");
    let samples = fgchaos::record::read_samples(&run_dir.join("samples.jsonl")).unwrap();
    assert_eq!(samples.len() as u64, sampling.taken);
    let stock: Vec<i64> = samples.iter().filter_map(|s| s.stock).collect();
    assert_eq!(stock[0], 50, "the first sample sees the full sale");
    assert!(stock.windows(2).all(|w| w[1] <= w[0]), "{stock:?}");
    let settled = j.settled.unwrap();
    assert_eq!(stock.last().copied(), settled.state.redis_stock);
    assert!(!settled.trace.is_empty());

    // The stored run judged again: the same verdict, and the report rewritten.
    let report = reports.join(format!("{}.md", j.run_id));
    std::fs::remove_file(&report).unwrap();
    let checked = common::check(&run_dir, &["--write-report"]);
    assert_eq!(checked.code, Some(0), "{}", checked.stdout);
    assert!(
        checked
            .stdout
            .contains("cli-run: PASS — every promise held"),
        "{}",
        checked.stdout
    );
    assert!(std::fs::read_to_string(&report)
        .unwrap()
        .contains("✅ PASS"));
    let checked = checked.verdicts;
    assert_eq!(checked[0]["verdict"]["verdict"], "pass");
}

#[test]
fn check_names_what_it_cannot_read_and_judges_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let garbled = dir.path().join("garbled");
    std::fs::create_dir(&garbled).unwrap();
    std::fs::write(garbled.join("journal.json"), "{\"format\": 2, \"run_id\"").unwrap();
    let missing = dir.path().join("missing");
    let out = fgchaos()
        .arg("check")
        .arg(&missing)
        .arg(&garbled)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "cannot judge {}: {}: No such file",
            missing.display(),
            missing.join("journal.json").display()
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("cannot judge {}:", garbled.display()))
            && err.contains("EOF while parsing"),
        "{err}"
    );
}

#[test]
fn ctrl_c_undoes_faults_and_leaves_nothing_running() {
    let dir = tempfile::tempdir().unwrap();
    let (reports, work) = (dir.path().join("reports"), dir.path().join("work"));
    // Ctrl-C once both faults are on (1 s into the load, until its end 60 s later): the
    // interrupt must find them to undo.
    let (mut child, mut stderr) = with_faults_on(interrupted_run(dir.path(), NEMESIS_LOG), BOTH);
    assert!(!common::processes_under(&work).is_empty());
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let status = common::wait_until(
        Duration::from_secs(40),
        "fgchaos to stop after Ctrl-C",
        || child.try_wait().unwrap().ok_or_else(|| stderr.text()),
    );
    let stderr = stderr.finish();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert_eq!(
        common::processes_under(&work),
        Vec::<i32>::new(),
        "no service process may survive"
    );
    assert_both_faults_undone(&reports);
}

/// fgchaos killed outright (SIGKILL: no handler, no teardown, no Drop) while a pause, a cut and
/// a toxic are on: its guardian sees the run's pipe end without `done` and stops the stack —
/// whose links ran through the fault proxy that died with fgchaos — resuming the paused Redis
/// so it dies too. Nothing of the run may be left running; the time it took is printed (the
/// promise is 5 s; time is not asserted).
#[test]
fn a_killed_run_is_healed_by_its_guardian() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    let scenario = write(
        dir.path(),
        "three.yaml",
        "name: killed\nsale: { product: phone, stock: 100 }\n\
         load: { model: arrival-rate, rate: 100/s, duration: 60s }\n\
         allow_total_outage: true\n\
         faults:\n  - { at: 1s, action: pause, service: redis }\n\
         \x20 - { at: 1s, action: down, link: worker-postgres }\n\
         \x20 - { at: 1s, action: latency, link: api-redis, latency: 20ms }\n",
    );
    // The work dir as the default gives it: relative (the guardian works from `/`).
    let mut run = fgchaos();
    run.current_dir(dir.path())
        .arg("run")
        .arg(&scenario)
        .args(["--target", "local", "--report-dir", "reports"])
        .args(["--work-dir", "work"])
        .args(["--log", NEMESIS_LOG]);
    let (mut child, _stderr) = with_faults_on(
        run,
        &["pause redis", "down worker-postgres", "latency api-redis"],
    );
    let running = common::processes_under(&work);
    // The services the harness started: processes whose parent is not one of the stack's own.
    // Each must be killed by the guardian (their children — PostgreSQL's backends, in sessions
    // of their own — may die with their parent before they are reached).
    let ppid = |pid: i32| -> Option<i32> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        stat.rsplit(')')
            .next()?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    let groups: Vec<i32> = running
        .iter()
        .copied()
        .filter(|&pid| ppid(pid).is_none_or(|parent| !running.contains(&parent)))
        .collect();
    assert!(groups.len() >= 8, "{running:?}");
    child.kill().unwrap();
    let killed_at = std::time::Instant::now();
    child.wait().unwrap();
    common::wait_none_under(
        &work,
        Duration::from_secs(30),
        "the guardian to stop the stack",
    );
    eprintln!(
        "healed {} ms after the SIGKILL",
        killed_at.elapsed().as_millis()
    );
    let run_dirs: Vec<_> = std::fs::read_dir(&work).unwrap().flatten().collect();
    assert_eq!(run_dirs.len(), 1, "one run directory");
    // The report follows the heal's last look for a process left.
    let file = run_dirs[0].path().join(fgchaos::guard::REPORT_FILE);
    common::wait_until(Duration::from_secs(5), "the guardian's report", || {
        file.exists().then_some(()).ok_or_else(String::new)
    });
    let report: fgchaos::guard::Report =
        serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert!(
        report.healed.killed >= groups.len(),
        "{report:?} {groups:?}"
    );
    assert_eq!(report.healed.errors, Vec::<String>::new());
    // Nothing is left for `cleanup` to do.
    let out = fgchaos()
        .args(["cleanup", "--target", "local", "--work-dir"])
        .arg(&work)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("killed 0 "));
}

/// The safety lever: `fgchaos halt` from another terminal stops a running experiment — it
/// heals every fault, stops its load, settles and ends ABORTED (exit 4) — and says so when
/// nothing (or nothing by that id) runs. Each test has a registry of its own.
#[test]
fn halt_stops_a_running_run_which_heals_and_ends_aborted() {
    let dir = tempfile::tempdir().unwrap();
    let (reports, work, registry) = (
        dir.path().join("reports"),
        dir.path().join("work"),
        dir.path().join("registry"),
    );
    let halt = |id: Option<&str>| {
        let out = fgchaos()
            .arg("halt")
            .args(id)
            .env("FGCHAOS_RUNTIME_DIR", &registry)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(halt(None), "no experiment is running\n");
    let mut run = interrupted_run(dir.path(), NEMESIS_LOG);
    run.env("FGCHAOS_RUNTIME_DIR", &registry);
    let (mut child, mut stderr) = with_faults_on(run, BOTH);
    assert_eq!(
        halt(Some("no-such-run")),
        "no running experiment has the id `no-such-run`\n"
    );
    let id = run_dir_in(&reports)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(halt(Some(&id)).starts_with("halted fgchaos run (pid "));
    let status = common::wait_until(Duration::from_secs(90), "fgchaos to stop", || {
        child.try_wait().unwrap().ok_or_else(|| stderr.text())
    });
    let stderr = stderr.finish();
    assert_eq!(status.code(), Some(4), "{stderr}");
    common::wait_none_under(&work, Duration::from_secs(5), "the torn-down stack");
    let j = Journal::read(&run_dir_in(&reports).join("journal.json")).unwrap();
    let aborted = j
        .aborted
        .clone()
        .expect("the journal says why the run stopped");
    assert_eq!(aborted.condition, "halt");
    assert!(aborted.healed_in_ms.is_some());
    assert!(!j.interrupted);
    assert_eq!(
        undone(&j),
        [("blackhole kafka", true), ("pause redis", true)],
        "both faults undone, latest first"
    );
    let settled = j.settled.unwrap();
    // On a failure, the services' last log lines say why the system did not settle.
    if !settled.converged {
        let logs = run_dir_in(&reports).join("logs");
        for f in std::fs::read_dir(&logs).unwrap().flatten() {
            let name = f.file_name().to_string_lossy().into_owned();
            let t = std::fs::read_to_string(f.path()).unwrap_or_default();
            let tail: Vec<&str> = t.lines().rev().take(30).collect();
            eprintln!(
                "==== {name}\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
    }
    assert!(
        settled.converged,
        "{:?} {:?}\n{stderr}",
        settled.pending,
        settled.trace.last()
    );
    // The registry is left empty.
    assert_eq!(halt(None), "no experiment is running\n");
}

/// The steady-state gate refuses a system that is unhealthy before any fault: the inventory
/// worker is paused (SIGSTOP, from outside) as soon as the load starts, and at the first fault
/// (5 s) the backlog's age is unknown — no worker answers for its partitions — which does not
/// meet `backlog_age: "< 2s"`. No fault is injected, the verdict is NOT RUN (exit 2), and the
/// journal and the report show the warm-up's numbers.
#[test]
fn the_steady_state_gate_refuses_a_stack_whose_worker_is_paused() {
    let dir = tempfile::tempdir().unwrap();
    let (reports, work) = (dir.path().join("reports"), dir.path().join("work"));
    let scenario = write(
        dir.path(),
        "gate.yaml",
        "name: gate\nsale: { product: phone, stock: 1000 }\n\
         load: { model: arrival-rate, rate: 100/s, duration: 20s }\n\
         faults:\n  - { at: 5s, action: kill, service: ingestion-api#1 }\n\
         steady_state: { backlog_age: '< 2s' }\nsettle: { timeout: 10s }\n",
    );
    let child = fgchaos()
        .arg("run")
        .arg(&scenario)
        .args(["--target", "local", "--report-dir"])
        .arg(&reports)
        .arg("--work-dir")
        .arg(&work)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let history = || {
        std::fs::read_dir(&reports)
            .ok()?
            .flatten()
            .map(|e| e.path().join("history.jsonl"))
            .find(|h| h.exists())
    };
    common::wait_until(Duration::from_secs(90), "the load to start", || {
        history().map(drop).ok_or_else(String::new)
    });
    let worker = common::processes_under(&work)
        .into_iter()
        .find(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains("worker"))
        })
        .expect("the inventory worker runs under the run directory");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(worker),
        nix::sys::signal::Signal::SIGSTOP,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("gate: NOT RUN — the system was not healthy before any fault"),
        "{stdout}"
    );
    let j = Journal::read(&run_dir_in(&reports).join("journal.json")).unwrap();
    let w = j.warm_up.expect("the warm-up is recorded");
    assert!(!w.held);
    assert_eq!(w.seconds, 5);
    assert!(w.ops >= 300, "{w:?}");
    assert!(w.summary.contains("backlog age unknown"), "{w:?}");
    assert!(j.timeline.is_empty(), "no fault injected: {:?}", j.timeline);
    // The load stopped at the gate, long before its 20 s.
    assert!(j.load.unwrap().elapsed_ms < 10_000);
    let report = std::fs::read_to_string(run_dir_in(&reports).with_extension("md")).unwrap();
    assert!(
        report.contains("steady state: before did not hold (warm-up 5 s"),
        "{report}"
    );
    assert_eq!(common::processes_under(&work), Vec::<i32>::new());
}

/// `--dry-run` on the local target resolves the scenario and starts nothing: no process, no run
/// directory, no report; the timeline is the seed's, and the guardrails are named.
#[test]
fn a_local_dry_run_starts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (reports, work) = (dir.path().join("reports"), dir.path().join("work"));
    let out = fgchaos()
        .args([
            "run",
            "--dry-run",
            "--seed",
            "3",
            "--target",
            "local",
            "--report-dir",
        ])
        .arg(&reports)
        .arg("--work-dir")
        .arg(&work)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../scenarios/api-kill.yaml"
        ))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    for want in [
        "api-kill: dry run with seed 3",
        "process   ingestion-api#",
        "+4.000s",
        "steady state before the first fault: availability >= 100%",
        "blast radius: never every instance of a service at once",
        "ok       signals to the stack's own process groups",
    ] {
        assert!(stdout.contains(want), "{want}: {stdout}");
    }
    assert!(!work.exists(), "no run directory");
    assert!(!reports.exists(), "no report");
    assert_eq!(common::processes_under(dir.path()), Vec::<i32>::new());
}

/// Loads go only to loopback: `fgchaos load` refuses any other address before it sends one
/// request (a run's load goes to the stack's own entry, the load balancer the local target
/// started or the project's port published on 127.0.0.1 — `tests/docker_target.rs`).
#[test]
fn load_goes_only_to_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("h.jsonl");
    let out = fgchaos()
        .args([
            "load",
            "--entry",
            "192.0.2.7:80",
            "--product",
            "p",
            "--rate",
            "10/s",
        ])
        .args(["--duration", "1s", "--history"])
        .arg(&history)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("--entry 192.0.2.7:80: fgchaos sends load only to loopback addresses"),
        "{stderr}"
    );
    assert!(!history.exists(), "nothing sent, nothing recorded");
}

/// The log filter under which the executor logs each fault step at info: the log says when
/// the faults are on.
const NEMESIS_LOG: &str = "warn,noxious=off,fgchaos::nemesis=info";

/// The two faults of an [`interrupted_run`].
const BOTH: &[&str] = &["pause redis", "blackhole kafka"];

/// Starts `run` (logging at [`NEMESIS_LOG`]) and returns once every fault in `labels` is on,
/// with its stderr captured.
fn with_faults_on(mut run: Command, labels: &[&str]) -> (std::process::Child, common::Lines) {
    let mut child = run
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = common::Lines::capture(child.stderr.take().unwrap());
    wait_applied(&mut child, &stderr, labels);
    (child, stderr)
}

/// Waits until fgchaos has logged the apply of every fault in `labels` (at info on
/// `fgchaos::nemesis`). The executor logs a fault's apply and records the fault as in effect
/// with no await in between, so the log line is the proof that it is on.
fn wait_applied(child: &mut std::process::Child, stderr: &common::Lines, labels: &[&str]) {
    let applied = |lines: &[String], label: &str| {
        lines
            .iter()
            .any(|l| l.contains("fault step done") && l.contains("apply") && l.contains(label))
    };
    common::wait_until(Duration::from_secs(90), "the faults applied", || {
        let lines = stderr.now();
        if labels.iter().all(|label| applied(&lines, label)) {
            return Ok(());
        }
        match child.try_wait().unwrap() {
            Some(s) => panic!(
                "fgchaos exited ({s}) before the faults were on:\n{}",
                lines.join("\n")
            ),
            None => Err(format!("stderr so far:\n{}", lines.join("\n"))),
        }
    });
}

/// Faults may be due after the load's end (a `start` that repairs a kill). Ctrl-C then still
/// reaches them: the repair at 8 s is never applied, the kill is undone, and fgchaos exits
/// 130 — it does not wait out the schedule.
#[test]
fn ctrl_c_after_the_load_stops_the_faults_still_due() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = write(
        dir.path(),
        "late.yaml",
        "name: late\nsale: { product: phone, stock: 100 }\n\
         load: { model: arrival-rate, rate: 50/s, duration: 2s }\n\
         faults:\n  - { at: 1s, action: kill, service: ingestion-api#1 }\n\
         \x20 - { at: 8s, action: start, service: ingestion-api#1 }\n",
    );
    let reports = dir.path().join("reports");
    let mut run = fgchaos();
    run.arg("run")
        .arg(&scenario)
        .args(["--target", "local", "--report-dir"])
        .arg(&reports)
        .arg("--work-dir")
        .arg(dir.path().join("work"))
        .args(["--log", NEMESIS_LOG]);
    let (mut child, mut stderr) = with_faults_on(run, &["kill ingestion-api#1"]);
    // The load ends 1 s after the kill; interrupt 2 s after it, 5 s before the start is due.
    std::thread::sleep(Duration::from_secs(2));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let status = common::wait_until(Duration::from_secs(40), "fgchaos to stop", || {
        child.try_wait().unwrap().ok_or_else(|| stderr.text())
    });
    let stderr = stderr.finish();
    assert_eq!(status.code(), Some(130), "{stderr}");
    let j = Journal::read(&run_dir_in(&reports).join("journal.json")).unwrap();
    let steps: Vec<(String, &str)> = j
        .timeline
        .iter()
        .map(|e| (format!("{:?}", e.kind), e.label.as_str()))
        .collect();
    assert_eq!(
        steps,
        [
            ("Apply".to_owned(), "kill ingestion-api#1"),
            ("Undo".to_owned(), "kill ingestion-api#1")
        ],
        "{stderr}"
    );
}

/// `fgchaos run` of a 60 s load with Redis paused and the Kafka link cut from 1 s on — two
/// faults an interrupt must find and undo — reporting to `dir/reports`, working in `dir/work`.
fn interrupted_run(dir: &Path, log: &str) -> Command {
    let scenario = write(
        dir,
        "long.yaml",
        "name: interrupted\nsale: { product: phone, stock: 100 }\n\
         load: { model: arrival-rate, rate: 100/s, duration: 60s }\n\
         allow_total_outage: true\n\
         faults:\n  - { at: 1s, action: pause, service: redis }\n  - { at: 1s, action: blackhole, link: kafka }\n",
    );
    let mut run = fgchaos();
    run.arg("run")
        .arg(&scenario)
        .args(["--target", "local", "--report-dir"])
        .arg(dir.join("reports"))
        .arg("--work-dir")
        .arg(dir.join("work"))
        .args(["--log", log]);
    run
}

/// The undo steps of a run's timeline, in order: (label, whether it landed).
fn undone(j: &Journal) -> Vec<(&str, bool)> {
    j.timeline
        .iter()
        .filter(|e| e.kind == fgchaos::nemesis::EventKind::Undo)
        .map(|e| (e.label.as_str(), e.ok))
        .collect()
}

fn assert_both_faults_undone(reports: &Path) {
    let run_dir = run_dir_in(reports);
    let j = Journal::read(&run_dir.join("journal.json")).unwrap();
    assert!(j.interrupted);
    assert_eq!(
        undone(&j),
        [("blackhole kafka", true), ("pause redis", true)],
        "both faults undone, latest first"
    );
}

/// The runner that started fgchaos is gone — its output pipes have no reader — and then it is
/// told to stop. Writing to a closed pipe fails, and `eprintln!` panics on that failure: before
/// the fix fgchaos died of it at its first log line (exit 101), and a panic in the task that
/// hears signals would leave SIGTERM caught by nobody. It must heal, tear down and exit as for
/// any interrupt.
#[test]
fn an_interrupt_with_nobody_reading_its_output_still_heals_and_stops() {
    let dir = tempfile::tempdir().unwrap();
    let (reports, work) = (dir.path().join("reports"), dir.path().join("work"));
    let mut child = interrupted_run(dir.path(), "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    drop(child.stderr.take());
    // The pause is on once a Redis of the run is stopped (state T).
    common::wait_until(Duration::from_secs(90), "Redis paused", || {
        if let Some(s) = child.try_wait().unwrap() {
            panic!("fgchaos exited ({s}) before the faults were on");
        }
        let paused = common::processes_under(&work).into_iter().any(|pid| {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            comm.trim() == "redis-server" && common::state(pid as u32) == Some('T')
        });
        paused.then_some(()).ok_or_else(|| "not yet".to_owned())
    });
    // The cut is due at the same instant, on the proxy's lane; nothing of it can be read from
    // outside, and it takes milliseconds: half a second is far beyond it.
    std::thread::sleep(Duration::from_millis(500));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = common::wait_until(Duration::from_secs(40), "fgchaos to stop", || {
        child
            .try_wait()
            .unwrap()
            .ok_or_else(|| "running".to_owned())
    });
    assert_eq!(status.code(), Some(130));
    assert_eq!(
        common::processes_under(&work),
        Vec::<i32>::new(),
        "no service process may survive"
    );
    assert_both_faults_undone(&reports);
}

#[test]
fn published_json_schema_is_current() {
    let out = fgchaos().arg("schema").output().unwrap();
    assert!(out.status.success());
    let published = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/scenario.schema.json"
    ))
    .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        published,
        "docs/scenario.schema.json is stale: run `fgchaos schema > docs/scenario.schema.json`"
    );
}

#[test]
fn up_leaves_the_stack_running_and_down_stops_it() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    let mut up = start_up(&work, &[]);
    let state = work.join("up.json");
    let s: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    let entry: std::net::SocketAddr = s["endpoints"]["entry"]
        .as_str()
        .unwrap()
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    assert!(
        std::net::TcpStream::connect(entry).is_ok(),
        "the load balancer answers"
    );
    assert!(
        common::processes_under(&work).len() >= 8,
        "every service runs"
    );
    let out = fgchaos()
        .arg("down")
        .arg("--work-dir")
        .arg(&work)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(up.wait().unwrap().code(), Some(0));
    assert_eq!(common::processes_under(&work), Vec::<i32>::new());
    assert!(!state.exists());
    // Nothing up any more: a clear error, exit 3.
    let out = fgchaos()
        .arg("down")
        .arg("--work-dir")
        .arg(&work)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no stack is up"));
}

#[test]
fn cleanup_kills_what_a_killed_harness_left_behind() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    // Unguarded, as when the guardian was killed too: `cleanup` is what is left.
    let mut up = start_up(&work, &["--no-guard"]);
    // SIGKILL: no teardown, no Drop — every service is orphaned.
    up.kill().unwrap();
    up.wait().unwrap();
    let orphans = common::processes_under(&work);
    assert!(orphans.len() >= 8, "{orphans:?}");
    let out = fgchaos()
        .arg("cleanup")
        .arg("--work-dir")
        .arg(&work)
        .output()
        .unwrap();
    assert!(out.status.success());
    // The count moves a little (PostgreSQL forks and reaps workers): every service was killed.
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let killed: usize = stdout
        .strip_prefix("killed ")
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(killed >= 8, "{stdout}");
    common::wait_none_under(
        &work,
        Duration::from_secs(5),
        "every killed process to be gone",
    );
}

/// `fgchaos proxy --config FILE` (Toxiproxy's `-config`): the file's proxies exist and listen
/// as soon as the API answers; a bad file stops it with the file and the fault named.
#[tokio::test]
async fn proxy_config_file_populates_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let (api, link) = (common::free_port(), common::free_port());
    let config = write(
        dir.path(),
        "toxiproxy.json",
        &format!(
            r#"[{{"name": "api-redis", "listen": "127.0.0.1:{link}", "upstream": "127.0.0.1:1"}},
               {{"name": "spare", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:2", "enabled": false}}]"#
        ),
    );
    let mut proxy = fgchaos()
        .args(["proxy", "--listen", &format!("127.0.0.1:{api}"), "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let client = fgchaos::toxiproxy::Client::new(format!("http://127.0.0.1:{api}"));
    let proxies =
        common::wait_until_async(Duration::from_secs(20), "the API to answer", || async {
            client.proxies().await.map_err(|e| e.to_string())
        })
        .await;
    assert_eq!(proxies.keys().collect::<Vec<_>>(), ["api-redis", "spare"]);
    assert!(proxies["api-redis"].enabled);
    assert_eq!(proxies["api-redis"].upstream, "127.0.0.1:1");
    assert!(!proxies["spare"].enabled);
    assert!(std::net::TcpStream::connect(("127.0.0.1", link)).is_ok());
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(proxy.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert!(proxy.wait().unwrap().success());

    let bad = write(
        dir.path(),
        "bad.json",
        r#"[{"name": "kafka", "listen": "0.0.0.0:9092"}]"#,
    );
    let out = fgchaos()
        .args(["proxy", "--listen", &format!("127.0.0.1:{api}"), "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.json") && err.contains("proxy `kafka` has no \"upstream\""),
        "{err}"
    );

    // A proxy that cannot listen (its port is taken) is named too.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = write(
        dir.path(),
        "busy.json",
        &format!(
            r#"[{{"name": "kafka", "listen": "{}", "upstream": "127.0.0.1:1"}}]"#,
            taken.local_addr().unwrap()
        ),
    );
    let out = fgchaos()
        .args(["proxy", "--listen", &format!("127.0.0.1:{api}"), "--config"])
        .arg(&busy)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("busy.json") && err.contains("proxy `kafka`"),
        "{err}"
    );
}

/// `--strategy`'s default is the one `Strategy::DEFAULT` names (the CLI sits below `explore`
/// in the layers, so it spells the word; this keeps the two one).
#[test]
fn explore_defaults_to_the_strategy_the_search_names() {
    use clap::Parser;
    let cli = fgchaos::cli::Cli::try_parse_from(["fgchaos", "explore"]).unwrap();
    let fgchaos::cli::Command::Explore(args) = cli.command else {
        panic!("`fgchaos explore` parsed as another command");
    };
    assert_eq!(args.strategy, fgchaos::explore::Strategy::DEFAULT.as_str());
}
