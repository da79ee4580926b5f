//! `fgchaos`: the command-line edge. Parses arguments, wires Ctrl-C, maps outcomes to exit
//! codes (0 pass · 1 a promise broken · 2 inconclusive · 3 the harness failed · 130
//! interrupted); everything else lives in the library.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{CommandFactory, Parser};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use fgchaos::cli::{Cli, Command, TargetKind};
use fgchaos::journal::Journal;
use fgchaos::record::Record;
use fgchaos::run::{self, RunOptions, TargetChoice};
use fgchaos::scenario::{self, validate};
use fgchaos::stack::{local, LocalStack, StackSpec};
use fgchaos::target::Target;
use fgchaos::toxiproxy;
use fgchaos::verdict::progress::Diagnosis;
use fgchaos::verdict::{Judgement, Verdict};
use tokio::sync::watch;

const EXIT_HARNESS: u8 = 3;
const EXIT_INTERRUPTED: u8 = 130;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    match dispatch(cli.command).await {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("fgchaos: {e:#}");
            ExitCode::from(EXIT_HARNESS)
        }
    }
}

/// First SIGINT/SIGTERM: ask the run to stop (faults undone, stack torn down). Second: kill
/// every service process group at once and exit.
fn interrupts() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        else {
            return;
        };
        let mut seen = 0;
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            seen += 1;
            if seen == 1 {
                eprintln!("fgchaos: interrupted — undoing faults and tearing down (again to kill at once)");
                let _ = tx.send(true);
            } else {
                local::kill_everything_now();
                std::process::exit(i32::from(EXIT_INTERRUPTED));
            }
        }
    });
    rx
}

async fn dispatch(cmd: Command) -> anyhow::Result<u8> {
    match cmd {
        Command::Run {
            scenarios,
            target,
            project,
            seed,
            report_dir,
            work_dir,
            keep,
            stack,
            json,
            junit,
        } => {
            let target = choose_target(target, &project).await;
            // Validate every file before running any.
            match &target {
                TargetChoice::Local => {
                    for s in &scenarios {
                        run::prepare(s, stack.as_deref())?;
                    }
                }
                TargetChoice::Docker { project } => {
                    let spec = run::docker_spec(stack.as_deref())?;
                    let names = fgchaos::docker::target::probe_names(&spec, project).await?;
                    for s in &scenarios {
                        let (sc, _) = run::load_scenario(s)?;
                        run::check_names(s, &sc, &names)?;
                    }
                }
            }
            let interrupt = interrupts();
            let opts = RunOptions {
                seed,
                report_dir,
                work_dir,
                keep,
                stack,
                target,
                progress: true,
            };
            let mut worst: Option<Verdict> = None;
            let mut interrupted = false;
            let mut outcomes = Vec::new();
            for s in &scenarios {
                if *interrupt.borrow() {
                    interrupted = true;
                    break;
                }
                let verdict = match run::run(s, &opts, interrupt.clone()).await {
                    Ok(outcome) => {
                        print_summary(&outcome.journal, &outcome.judgement, Some(&outcome.report));
                        interrupted |= outcome.journal.interrupted;
                        let v = outcome.judgement.verdict;
                        outcomes.push(outcome);
                        v
                    }
                    Err(e) => {
                        eprintln!("fgchaos: {}: {e}", s.display());
                        Verdict::HarnessError
                    }
                };
                worst = worst.max(Some(verdict));
            }
            if let Some(path) = json {
                let all: Vec<serde_json::Value> = outcomes
                    .iter()
                    .map(|o| serde_json::json!({ "journal": o.journal, "verdict": o.judgement, "report": o.report }))
                    .collect();
                std::fs::write(&path, serde_json::to_vec_pretty(&all)?)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            if let Some(path) = junit {
                let runs: Vec<_> = outcomes
                    .iter()
                    .map(|o| (&o.journal, &o.judgement))
                    .collect();
                let xml = fgchaos::report::junit::render(&runs).map_err(anyhow::Error::msg)?;
                std::fs::write(&path, xml)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            if interrupted {
                return Ok(EXIT_INTERRUPTED);
            }
            Ok(worst.map_or(0, Verdict::exit_code))
        }
        Command::Check {
            runs,
            write_report,
            json,
        } => check(&runs, write_report, json.as_deref()),
        Command::Validate { scenarios, stack } => {
            let mut bad = 0;
            for s in &scenarios {
                match run::prepare(s, stack.as_deref()) {
                    Ok((sc, _, _)) => println!("{}: ok ({})", s.display(), sc.name),
                    Err(e) => {
                        bad += 1;
                        eprintln!("{e}");
                    }
                }
            }
            Ok(if bad > 0 { EXIT_HARNESS } else { 0 })
        }
        Command::List { dir } => list(&dir),
        Command::Load {
            entry,
            product,
            rate,
            vus,
            duration,
            connections,
            users,
            history,
            seed,
        } => {
            if !entry.ip().is_loopback() {
                bail!("--entry {entry}: fgchaos sends load only to loopback addresses");
            }
            let duration: scenario::Dur = duration.parse().map_err(anyhow::Error::msg)?;
            let (model, rate) = match (rate, vus) {
                (Some(r), _) => (
                    scenario::LoadModel::ArrivalRate,
                    Some(r.parse::<scenario::Rate>().map_err(anyhow::Error::msg)?),
                ),
                (None, Some(_)) => (scenario::LoadModel::VirtualUsers, None),
                (None, None) => bail!("give --rate (open model) or --vus (closed model)"),
            };
            let load = scenario::Load {
                model,
                rate,
                stages: Vec::new(),
                vus,
                duration: Some(duration),
                max_requests: None,
                users,
                duplicate_ratio: 0.0,
                timeout: scenario::Dur::secs(2),
                connections,
            };
            let plan = fgchaos::load::LoadPlan {
                entry,
                product,
                key_prefix: run::run_id("load"),
                seed,
                load,
                duration: duration.get(),
            };
            let summary =
                fgchaos::load::run(plan, &history, Default::default(), watch::channel(false).1)
                    .await?;
            let secs = summary.elapsed_ms as f64 / 1000.0;
            let t = &summary.totals;
            println!(
                "requests {}  {:.0} req/s  ok {} fail {} info {}  history {}",
                t.ops,
                t.ops as f64 / secs.max(0.001),
                t.ok,
                t.fail,
                t.info,
                history.display()
            );
            Ok(0)
        }
        Command::Schema => {
            let schema = schemars::schema_for!(scenario::Scenario);
            println!("{}", serde_json::to_string_pretty(&schema)?);
            Ok(0)
        }
        Command::Up { stack, work_dir } => up(stack, &work_dir).await,
        Command::Down { work_dir } => down(&work_dir).await,
        Command::Proxy { listen, config } => {
            // Like Toxiproxy's `-config`: a bad file stops the server before it serves.
            let initial = match &config {
                Some(path) => toxiproxy::server::read_config(path)?,
                None => Vec::new(),
            };
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| {
                    format!("listening on {listen} (is another proxy running there?)")
                })?;
            let server = toxiproxy::ProxyServer::new();
            if let Some(path) = &config {
                if let Err(e) = server.populate(initial).await {
                    server.stop_all().await;
                    bail!("{}: {e}", path.display());
                }
            }
            println!(
                "fault proxy (Toxiproxy API {}) on http://{listen}",
                toxiproxy::server::API_VERSION
            );
            let mut interrupt = interrupts();
            let shutdown = async move {
                let _ = interrupt.wait_for(|v| *v).await;
            };
            server.serve(listener, shutdown).await?;
            Ok(0)
        }
        Command::Cleanup {
            target,
            project,
            work_dir,
            toxiproxy,
        } => {
            if target != TargetKind::Docker {
                cleanup(&work_dir, toxiproxy.as_deref()).await?;
            }
            let docker = match target {
                TargetKind::Docker => true,
                TargetKind::Auto => fgchaos::docker::engine::available().await,
                TargetKind::Local => false,
            };
            if docker {
                cleanup_docker(&work_dir, &project).await?;
            }
            Ok(0)
        }
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "fgchaos",
                &mut std::io::stdout(),
            );
            Ok(0)
        }
    }
}

/// `fgchaos check`: judges each stored run; an unreadable one is a harness error (exit 3)
/// after the others have been judged.
fn check(runs: &[PathBuf], write_report: bool, json: Option<&Path>) -> anyhow::Result<u8> {
    let mut worst: Option<Verdict> = None;
    let mut all = Vec::new();
    for dir in runs {
        let record = match Record::load(dir) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("fgchaos: cannot judge {}: {e}", dir.display());
                worst = worst.max(Some(Verdict::HarnessError));
                continue;
            }
        };
        let jd = fgchaos::verdict::judge(&record);
        let report = if write_report {
            let report_dir = dir
                .canonicalize()
                .ok()
                .and_then(|d| d.parent().map(Path::to_path_buf))
                .unwrap_or_else(|| PathBuf::from("."));
            Some(
                fgchaos::report::write(&report_dir, &record, &jd)
                    .with_context(|| format!("writing the report of {}", dir.display()))?,
            )
        } else {
            None
        };
        print_summary(&record.journal, &jd, report.as_deref());
        worst = worst.max(Some(jd.verdict));
        all.push(serde_json::json!({ "run": dir, "verdict": jd, "report": report }));
    }
    if let Some(path) = json {
        std::fs::write(path, serde_json::to_vec_pretty(&all)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(worst.map_or(EXIT_HARNESS, Verdict::exit_code))
}

fn print_summary(journal: &Journal, jd: &Judgement, report: Option<&Path>) {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED);
    t.set_header(["checker", "result", "evidence"]);
    for f in &jd.findings {
        t.add_row([
            f.checker.clone(),
            f.status.as_str().to_owned(),
            f.summary.clone(),
        ]);
    }
    println!("{t}");
    let mut p = Table::new();
    p.load_style(UTF8_FULL_CONDENSED);
    p.set_header([
        "phase",
        "req/s",
        "ok",
        "fail",
        "info",
        "p50",
        "p99",
        "available",
    ]);
    for ph in &jd.phases {
        p.add_row([
            ph.name.clone(),
            format!("{:.0}", ph.rps),
            ph.ok.to_string(),
            ph.fail.to_string(),
            ph.info.to_string(),
            format!("{:.1} ms", ph.p50_us as f64 / 1000.0),
            format!("{:.1} ms", ph.p99_us as f64 / 1000.0),
            format!("{:.2}%", ph.availability * 100.0),
        ]);
    }
    println!("{p}");
    if let Some(Diagnosis::Stuck(s)) = &jd.diagnosis {
        for l in &s.log_lines {
            println!("  {l}");
        }
    }
    println!(
        "{}: {} — {}",
        journal.scenario.name,
        jd.verdict.as_str(),
        jd.reason
    );
    if let Some(r) = report {
        println!("report: {}", r.display());
    }
}

fn list(dir: &Path) -> anyhow::Result<u8> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
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
        match scenario::load_file(&f) {
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
                eprintln!("{e}");
            }
        }
    }
    println!("{t}");
    Ok(if bad > 0 { EXIT_HARNESS } else { 0 })
}

/// State of a running `fgchaos up`, for `fgchaos down`.
#[derive(serde::Serialize, serde::Deserialize)]
struct UpState {
    pid: u32,
    endpoints: fgchaos::target::Endpoints,
}

async fn up(stack: Option<PathBuf>, work_dir: &Path) -> anyhow::Result<u8> {
    let spec = match stack {
        Some(p) => StackSpec::load(&p)?,
        None => StackSpec::built_in()?,
    };
    let dir = work_dir.join(run::run_id("up"));
    let token = uuid::Uuid::new_v4().simple().to_string();
    let mut st = LocalStack::start(spec, &dir, &token).await?;
    let ep = st.endpoints().clone();
    let state_file = work_dir.join("up.json");
    std::fs::write(
        &state_file,
        serde_json::to_vec_pretty(&UpState {
            pid: std::process::id(),
            endpoints: ep.clone(),
        })?,
    )?;
    println!("stack up (Ctrl-C or `fgchaos down` stops it)");
    println!("  load balancer   {}", ep.entry);
    println!("  fault proxy API {}", ep.toxiproxy);
    println!("  admin token     {}", ep.admin_token);
    for (name, addr) in &ep.services {
        println!("  {name:<18} {addr}");
    }
    for (name, l) in &ep.links {
        println!("  link {name:<14} {} → {}", l.listen, l.upstream);
    }
    let mut interrupt = interrupts();
    let _ = interrupt.wait_for(|v| *v).await;
    st.teardown(false).await?;
    let _ = std::fs::remove_file(&state_file);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(0)
}

async fn down(work_dir: &Path) -> anyhow::Result<u8> {
    let state_file = work_dir.join("up.json");
    let text = std::fs::read(&state_file)
        .with_context(|| format!("no stack is up ({} not found)", state_file.display()))?;
    let state: UpState = serde_json::from_slice(&text)?;
    let pid = nix::unistd::Pid::from_raw(state.pid as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM)
        .with_context(|| format!("stopping fgchaos up (pid {})", state.pid))?;
    for _ in 0..300 {
        // Gone, or a zombie its parent has not reaped yet: either way it has finished.
        let zombie = std::fs::read_to_string(format!("/proc/{}/stat", state.pid)).is_ok_and(|st| {
            st.rsplit(')')
                .next()
                .is_some_and(|r| r.trim_start().starts_with('Z'))
        });
        if zombie || nix::sys::signal::kill(pid, None).is_err() {
            println!("stack down");
            return Ok(0);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!(
        "fgchaos up (pid {}) did not stop within 30 s; `fgchaos cleanup` kills what it left",
        state.pid
    )
}

/// Kills every process whose working directory is inside `work_dir` (each service runs in its
/// own directory there), and optionally resets fgchaos's toxics on a Toxiproxy.
/// `--target auto`: docker when an engine answers and the project runs, else local.
async fn choose_target(kind: TargetKind, project: &str) -> TargetChoice {
    let docker = TargetChoice::Docker {
        project: project.to_owned(),
    };
    match kind {
        TargetKind::Local => TargetChoice::Local,
        TargetKind::Docker => docker,
        TargetKind::Auto => {
            if fgchaos::docker::project::running(project).await {
                eprintln!("fgchaos: target docker (compose project `{project}` is running)");
                docker
            } else {
                eprintln!("fgchaos: target local (no running compose project `{project}`)");
                TargetChoice::Local
            }
        }
    }
}

/// Puts back what crashed docker runs left behind: every container they found running is
/// resumed or started again, every fgchaos toxic removed.
async fn cleanup_docker(work_dir: &Path, project: &str) -> anyhow::Result<()> {
    let records = fgchaos::docker::record::Record::find(work_dir, project);
    if records.is_empty() {
        println!(
            "no interrupted docker run of project `{project}` under {}",
            work_dir.display()
        );
    }
    for (dir, record) in records {
        let done = fgchaos::docker::record::repair(&record).await?;
        println!(
            "project `{project}`: resumed {} and started {} container(s){}",
            done.resumed.len(),
            done.started.len(),
            if done.started.is_empty() && done.resumed.is_empty() {
                String::new()
            } else {
                format!(" ({})", [done.resumed, done.started].concat().join(", "))
            }
        );
        if let Some(url) = &record.toxiproxy {
            remove_toxics(url).await?;
        }
        fgchaos::docker::record::Record::remove(&dir);
    }
    Ok(())
}

async fn cleanup(work_dir: &Path, toxiproxy_url: Option<&str>) -> anyhow::Result<u8> {
    let mut killed = 0;
    if let Ok(root) = work_dir.canonicalize() {
        for entry in std::fs::read_dir("/proc")?.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<i32>().ok())
            else {
                continue;
            };
            if pid as u32 == std::process::id() {
                continue;
            }
            let Ok(cwd) = std::fs::read_link(entry.path().join("cwd")) else {
                continue;
            };
            if cwd.starts_with(&root) {
                let p = nix::unistd::Pid::from_raw(pid);
                let _ = nix::sys::signal::kill(p, nix::sys::signal::Signal::SIGCONT);
                if nix::sys::signal::kill(p, nix::sys::signal::Signal::SIGKILL).is_ok() {
                    killed += 1;
                }
            }
        }
    }
    println!(
        "killed {killed} stray service process(es) under {}",
        work_dir.display()
    );
    if let Some(url) = toxiproxy_url {
        remove_toxics(url).await?;
    }
    Ok(0)
}

/// Removes every fgchaos toxic and re-enables every proxy of a Toxiproxy API.
async fn remove_toxics(url: &str) -> anyhow::Result<()> {
    let c = toxiproxy::Client::new(url);
    let mut removed = 0;
    for (name, p) in c.proxies().await? {
        for t in p
            .toxics
            .iter()
            .filter(|t| t.name.starts_with(fgchaos::fault::plan::TOXIC_PREFIX))
        {
            c.remove_toxic(&name, &t.name).await?;
            removed += 1;
        }
        if !p.enabled {
            c.set_enabled(&name, true).await?;
        }
    }
    println!("removed {removed} fgchaos toxic(s) and re-enabled every proxy at {url}");
    Ok(())
}
