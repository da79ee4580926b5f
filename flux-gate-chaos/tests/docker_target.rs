//! The docker target against this machine's Docker engine: a real compose project built from
//! this repository's Dockerfile and compose files (scripts/docker-images builds the images
//! locally; no registry), driven through the Docker API. No engine → skipped, unless
//! `FG_REQUIRE_DOCKER=1` (CI), which makes it a failure.
//!
//! One test function: bringing a project up costs tens of seconds, so every check shares it.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use fgchaos::target::docker::project::Scope;
use fgchaos::target::docker::{DockerSpec, DockerTarget};
use fgchaos::target::{Lifecycle, Target};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn docker(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// `running`, `paused`, `exited` — as the engine reports a container.
fn status(id: &str) -> String {
    docker(&["inspect", "-f", "{{.State.Status}}", id])
}

/// A compose project of this repository's stack, torn down (volumes too) when dropped.
struct Project {
    name: String,
    env: Vec<(String, String)>,
}

impl Project {
    fn compose(&self) -> Command {
        let mut c = Command::new("docker-compose");
        c.current_dir(repo())
            .args(["-p", &self.name])
            .args(["-f", "docker-compose.yml", "-f", "docker-compose.local.yml"])
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        c
    }

    fn up() -> Project {
        let bin = Path::new(env!("CARGO_BIN_EXE_fgchaos"));
        let profile = bin
            .parent()
            .and_then(Path::file_name)
            .and_then(|p| p.to_str())
            .unwrap()
            .to_owned();
        let env = vec![
            ("FG_PROFILE".to_owned(), profile),
            ("FG_HTTP_PORT".to_owned(), common::free_port().to_string()),
            (
                "FG_WAITING_ROOM_PORT".to_owned(),
                common::free_port().to_string(),
            ),
            (
                "FG_TOXIPROXY_PORT".to_owned(),
                common::free_port().to_string(),
            ),
        ];
        let st = Command::new(repo().join("scripts/docker-images"))
            .current_dir(repo())
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .status()
            .unwrap();
        assert!(st.success(), "scripts/docker-images failed");
        let p = Project {
            name: format!("fgtest-{}", std::process::id()),
            env,
        };
        let st = p.compose().args(["up", "-d"]).status().unwrap();
        assert!(st.success(), "docker-compose up failed");
        p
    }

    /// Container id of `service` (replica `n`).
    fn id(&self, service: &str, n: u32) -> String {
        docker(&[
            "ps",
            "-aq",
            "--no-trunc",
            "--filter",
            &format!("label=com.docker.compose.project={}", self.name),
            "--filter",
            &format!("label=com.docker.compose.service={service}"),
            "--filter",
            &format!("label=com.docker.compose.container-number={n}"),
        ])
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = self
            .compose()
            .args(["down", "-v", "--remove-orphans", "-t", "2"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A container that looks like one of the project's services but belongs to another project.
struct Foreign(String);

impl Drop for Foreign {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["rm", "-f", &self.0])
            .stdout(Stdio::null())
            .status();
    }
}

/// `fgchaos` run from the repository root (scenario paths are relative to it).
fn fgchaos() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_fgchaos"));
    c.current_dir(repo());
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_target_drives_a_real_compose_project() {
    if common::engine::skip_without_engine() {
        return;
    }

    // A missing project is a harness error (exit 3) that says how to fix it.
    let out = fgchaos()
        .args([
            "run",
            "--target",
            "docker",
            "--project",
            "fgtest-no-such-project",
        ])
        .arg("scenarios/worker-crash.yaml")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("no running containers of compose project `fgtest-no-such-project`")
            && stderr.contains("docker compose up -d"),
        "{stderr}"
    );

    // No engine at DOCKER_HOST: exit 3, and the message says where and what to do.
    let out = fgchaos()
        .env("DOCKER_HOST", "unix:///tmp/fgtest-no-docker.sock")
        .args(["run", "--target", "docker", "scenarios/worker-crash.yaml"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("cannot reach the Docker engine at unix:///tmp/fgtest-no-docker.sock")
            && stderr.contains("DOCKER_HOST"),
        "{stderr}"
    );

    // A dry run that cannot reach the engine cannot resolve anything: exit 2, not a harness
    // failure.
    let out = fgchaos()
        .env("DOCKER_HOST", "unix:///tmp/fgtest-no-docker.sock")
        .args([
            "run",
            "--dry-run",
            "--target",
            "docker",
            "scenarios/worker-crash.yaml",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("dry run") && stderr.contains("cannot reach the Docker engine"),
        "{stderr}"
    );

    let project = Project::up();

    // `--target auto` picks the running project; a stack file naming a service the project
    // does not have is refused before anything runs.
    let stack = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        stack.path(),
        fgchaos::target::docker::spec::BUILT_IN.replace("service: nginx", "service: shop-front"),
    )
    .unwrap();
    let out = fgchaos()
        .args([
            "run",
            "--target",
            "auto",
            "--project",
            &project.name,
            "--stack",
        ])
        .arg(stack.path())
        .arg("scenarios/worker-crash.yaml")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("target docker"), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "compose project `{}` has no service `shop-front`",
            project.name
        )),
        "{stderr}"
    );
    let foreign = Foreign(docker(&[
        "run",
        "-d",
        "--label",
        "com.docker.compose.project=fgtest-someone-else",
        "--label",
        "com.docker.compose.service=inventory-worker",
        "fluxgate/base:bookworm",
        "sleep",
        "600",
    ]));
    // Named as compose would name a second worker of the project, with no label at all:
    // matching by name alone would take it for one of ours.
    let lookalike = Foreign(docker(&[
        "run",
        "-d",
        "--name",
        &format!("{}-inventory-worker-2", project.name),
        "fluxgate/base:bookworm",
        "sleep",
        "600",
    ]));
    let dir = tempfile::tempdir().unwrap();
    let mut t = DockerTarget::attach(
        DockerSpec::built_in().unwrap(),
        &Scope::Compose(project.name.clone()),
        &Default::default(),
        dir.path(),
    )
    .await
    .unwrap();

    // Discovery: compose services, replicas by number, the proxy's links, reachable endpoints.
    let names = t.names();
    for s in [
        "redis",
        "kafka",
        "postgres",
        "toxiproxy",
        "ingestion-api",
        "ingestion-api#1",
        "ingestion-api#2",
        "inventory-worker",
        "waiting-room",
        "nginx",
    ] {
        assert!(names.services.iter().any(|n| n == s), "{s}: {names:?}");
    }
    let mut links = names.links.clone();
    links.sort();
    assert_eq!(
        links,
        [
            "api-postgres",
            "api-redis",
            "kafka",
            "waiting-room-redis",
            "worker-postgres"
        ]
    );
    assert!(!names.reset_peer, "the embedded proxy has no reset_peer");
    assert_eq!(
        t.instances_of("ingestion-api"),
        ["ingestion-api#1", "ingestion-api#2"]
    );
    let ep = t.endpoints().clone();
    assert!(ep.entry.starts_with("http://127.0.0.1:"), "{}", ep.entry);
    assert_eq!(ep.admin_token, "flux-gate-admin");
    assert_eq!(ep.workers.len(), 1);
    let health = reqwest::get(format!("{}/health", ep.entry)).await.unwrap();
    assert_eq!(health.status(), 200);
    let env = t.environment();
    assert!(env.engine.as_deref().unwrap().starts_with("Docker Engine "));
    assert!(env
        .containers
        .iter()
        .all(|c| c.image_id.starts_with("sha256:")));

    // The foreign look-alike is never one of ours.
    let worker = project.id("inventory-worker", 1);
    assert_eq!(t.instances_of("inventory-worker"), ["inventory-worker"]);
    assert_ne!(worker, foreign.0);
    assert_ne!(worker, lookalike.0);

    // Lifecycle faults land on the right container and are put back.
    t.lifecycle("inventory-worker", Lifecycle::Kill)
        .await
        .unwrap()
        .wait()
        .await
        .unwrap();
    assert_eq!(status(&worker), "exited");
    // SIGKILL, not a stop: exit code 128 + 9.
    assert_eq!(
        docker(&["inspect", "-f", "{{.State.ExitCode}}", &worker]),
        "137"
    );
    assert_eq!(status(&foreign.0), "running");
    t.lifecycle("inventory-worker", Lifecycle::Start)
        .await
        .unwrap()
        .wait()
        .await
        .unwrap();
    assert_eq!(status(&worker), "running");
    // Ready by its own check, run by the harness: the engine's next one (every 5 s) may not
    // have run yet, but the worker answers.
    let health = docker(&["inspect", "-f", "{{.State.Health.Status}}", &worker]);
    assert!(health == "starting" || health == "healthy", "{health}");
    let worker_health = format!("{}/health", t.endpoints().workers[0]);
    assert_eq!(reqwest::get(&worker_health).await.unwrap().status(), 200);

    // Restart: a new start time, healthy again.
    let room = project.id("waiting-room", 1);
    let started = |id: &str| docker(&["inspect", "-f", "{{.State.StartedAt}}", id]);
    let before = started(&room);
    t.lifecycle("waiting-room", Lifecycle::Restart { grace_ms: 1000 })
        .await
        .unwrap()
        .wait()
        .await
        .unwrap();
    assert_ne!(started(&room), before);
    // Ready once the restart returns: its own check passes (`docker` asserts the exit code).
    docker(&[
        "exec",
        &room,
        "flux-gate",
        "probe",
        "--timeout",
        "900ms",
        "http://127.0.0.1:8080/health",
    ]);

    let redis = project.id("redis", 1);
    t.lifecycle("redis", Lifecycle::Pause)
        .await
        .unwrap()
        .wait()
        .await
        .unwrap();
    assert_eq!(status(&redis), "paused");
    t.lifecycle("redis", Lifecycle::Resume)
        .await
        .unwrap()
        .wait()
        .await
        .unwrap();
    assert_eq!(status(&redis), "running");

    let postgres = project.id("postgres", 1);
    t.lifecycle("postgres", Lifecycle::Stop { grace_ms: 2000 })
        .await
        .unwrap()
        .wait()
        .await
        .unwrap();
    assert_eq!(status(&postgres), "exited");
    // Stopped by SIGINT (fast shutdown), not killed after the grace.
    assert_eq!(
        docker(&["inspect", "-f", "{{.State.ExitCode}}", &postgres]),
        "0"
    );

    // restore() brings back everything that ran at attach, and only that: the one-shot
    // containers (migrations, topic creation) stay exited.
    let api2 = project.id("ingestion-api", 2);
    t.lifecycle("ingestion-api#2", Lifecycle::Kill)
        .await
        .unwrap()
        .wait()
        .await
        .unwrap();
    t.lifecycle("kafka", Lifecycle::Pause)
        .await
        .unwrap()
        .wait()
        .await
        .unwrap();
    t.restore().await.unwrap();
    for id in [&postgres, &api2, &project.id("kafka", 1)] {
        assert_eq!(status(id), "running", "{id}");
    }
    assert_eq!(status(&project.id("migrate", 1)), "exited");
    assert!(matches!(
        t.lifecycle("no-such-service", Lifecycle::Kill).await,
        Err(fgchaos::target::TargetError::NoSuchInstance(_))
    ));
    t.teardown(false).await.unwrap();
    // Every container's log since the attach; PostgreSQL's shows the stop and the start.
    for inst in [
        "inventory-worker",
        "ingestion-api-1",
        "ingestion-api-2",
        "postgres",
    ] {
        assert!(
            dir.path().join(format!("logs/{inst}.log")).exists(),
            "{inst}"
        );
    }
    let pg = std::fs::read_to_string(dir.path().join("logs/postgres.log")).unwrap();
    assert!(pg.contains("database system is shut down"), "{pg}");
    assert!(pg.contains("ready to accept connections"), "{pg}");
    assert!(!dir.path().join("docker-attach.json").exists());

    // A harness killed mid-fault with no guardian (`--no-guard`, or the guardian killed too)
    // leaves a paused container; `fgchaos cleanup --target docker` puts it back from the
    // attach ledger.
    let work = tempfile::tempdir().unwrap();
    let reports = tempfile::tempdir().unwrap();
    let scenario = work.path().join("pause.yaml");
    std::fs::write(
        &scenario,
        "name: pause-worker\nsale: { product: p, stock: 100 }\n\
         load: { model: arrival-rate, rate: 50/s, duration: 30s }\n\
         allow_total_outage: true\n\
         faults:\n  - { at: 1s, action: pause, service: inventory-worker, duration: 20s }\n",
    )
    .unwrap();
    let mut child = spawn_run(
        &project,
        work.path(),
        reports.path(),
        &scenario,
        &["--no-guard"],
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while status(&worker) != "paused" {
        assert!(
            std::time::Instant::now() < deadline,
            "the pause never landed"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(status(&worker), "paused", "nobody undid the pause");
    let out = fgchaos()
        .args(["cleanup", "--target", "docker", "--project", &project.name])
        .arg("--work-dir")
        .arg(work.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("resumed 1 and started 0"), "{stdout}");
    assert_eq!(status(&worker), "running");
    assert_eq!(status(&foreign.0), "running");

    dry_run_changes_nothing(&project, &worker, &ep.toxiproxy).await;
    guardian_heals_a_killed_run(&project, &worker, &ep.toxiproxy).await;
    assert_eq!(status(&foreign.0), "running");
    assert_eq!(status(&lookalike.0), "running");

    // `scale:` is checked, not applied: with one worker running, a scenario needing two is
    // refused, naming the compose command; scaled to two by compose, the second is held back
    // (`started: 1`) — stopped at attach, left stopped by `restore` (the run began without
    // it), started again at teardown, so the project is left as it was found.
    let two = std::collections::BTreeMap::from([(
        "inventory-worker".to_owned(),
        fgchaos::scenario::Scale {
            replicas: 2,
            started: Some(1),
        },
    )]);
    let held = tempfile::tempdir().unwrap();
    let e = DockerTarget::attach(
        DockerSpec::built_in().unwrap(),
        &Scope::Compose(project.name.clone()),
        &two,
        held.path(),
    )
    .await
    .err()
    .unwrap()
    .to_string();
    assert!(
        e.starts_with(&format!(
            "`scale.inventory-worker.replicas`: compose project `{}` has 1 container(s) of \
             `inventory-worker`, the scenario needs 2",
            project.name
        )) && e.contains("docker compose up -d --scale inventory-worker=2"),
        "{e}"
    );
    let st = project
        .compose()
        .args([
            "up",
            "-d",
            "--no-deps",
            "--no-recreate",
            "--scale",
            "inventory-worker=2",
            "inventory-worker",
        ])
        .status()
        .unwrap();
    assert!(st.success(), "docker-compose up --scale failed");
    let second = project.id("inventory-worker", 2);
    assert_eq!(status(&second), "running");
    let mut t = DockerTarget::attach(
        DockerSpec::built_in().unwrap(),
        &Scope::Compose(project.name.clone()),
        &two,
        held.path(),
    )
    .await
    .unwrap();
    assert_eq!(
        t.instances_of("inventory-worker"),
        ["inventory-worker#1", "inventory-worker#2"]
    );
    assert_eq!(status(&second), "exited", "held back at attach");
    assert_eq!(status(&worker), "running");
    t.restore().await.unwrap();
    assert_eq!(
        status(&second),
        "exited",
        "restore started a held-back worker"
    );
    t.teardown(false).await.unwrap();
    assert_eq!(
        status(&second),
        "running",
        "teardown did not start it again"
    );
    assert_eq!(status(&worker), "running");
}

/// fgchaos killed outright (SIGKILL) while a pause, a cut and a toxic are on, with its guardian
/// (the default): the worker is resumed, the toxic removed and the cut link enabled again,
/// with nobody running `cleanup`. The time from the kill to the last of them is printed (the
/// promise is 5 s; time is not asserted).
async fn guardian_heals_a_killed_run(project: &Project, worker: &str, toxiproxy_api: &str) {
    let work = tempfile::tempdir().unwrap();
    let reports = tempfile::tempdir().unwrap();
    let scenario = work.path().join("three.yaml");
    std::fs::write(&scenario, THREE_FAULTS).unwrap();
    let mut child = spawn_run(project, work.path(), reports.path(), &scenario, &[]);
    let proxy = fgchaos::toxiproxy::Client::new(toxiproxy_api.to_owned());
    // (paused, kafka cut, a fgchaos toxic on api-redis)
    let faults_on = || async {
        let proxies = proxy.proxies().await.unwrap();
        (
            status(worker) == "paused",
            !proxies["kafka"].enabled,
            proxies["api-redis"]
                .toxics
                .iter()
                .any(|t| t.name.starts_with(fgchaos::nemesis::plan::TOXIC_PREFIX)),
        )
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    while faults_on().await != (true, true, true) {
        assert!(
            std::time::Instant::now() < deadline,
            "the faults never all landed: {:?}",
            faults_on().await
        );
        assert!(child.try_wait().unwrap().is_none(), "fgchaos exited early");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    child.kill().unwrap();
    let killed_at = std::time::Instant::now();
    child.wait().unwrap();
    let deadline = killed_at + Duration::from_secs(30);
    while faults_on().await != (false, false, false) {
        assert!(
            std::time::Instant::now() < deadline,
            "not healed 30 s after the kill: {:?}",
            faults_on().await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "healed {} ms after the SIGKILL",
        killed_at.elapsed().as_millis()
    );
    assert_eq!(status(worker), "running");
    let every_proxy = proxy.proxies().await.unwrap();
    assert!(every_proxy.values().all(|p| p.enabled), "{every_proxy:?}");
    let run_dirs: Vec<_> = std::fs::read_dir(work.path())
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .collect();
    assert_eq!(run_dirs.len(), 1);
    let report_file = run_dirs[0].path().join(fgchaos::guard::REPORT_FILE);
    // The report is written just after the last heal lands.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !report_file.exists() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let report: fgchaos::guard::Report =
        serde_json::from_slice(&std::fs::read(&report_file).unwrap()).unwrap();
    assert_eq!(report.healed.resumed.len(), 1, "{report:?}");
    assert!(
        report.healed.resumed[0].contains("inventory-worker"),
        "{report:?}"
    );
    assert_eq!(report.healed.started, Vec::<String>::new());
    assert_eq!(report.healed.toxics_removed, 1, "{report:?}");
    assert_eq!(report.healed.errors, Vec::<String>::new());
    assert!(
        !run_dirs[0].path().join("docker-attach.json").exists(),
        "the ledger goes once all is healed"
    );
}

/// `fgchaos run` of `scenario` on `project` (with `extra` arguments) in the background, its
/// output discarded.
fn spawn_run(
    project: &Project,
    work: &Path,
    reports: &Path,
    scenario: &Path,
    extra: &[&str],
) -> std::process::Child {
    fgchaos()
        .args(["run", "--target", "docker", "--project", &project.name])
        .args(extra)
        .arg("--work-dir")
        .arg(work)
        .arg("--report-dir")
        .arg(reports)
        .arg(scenario)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// The scenario both the dry run and the guardian's test use: a pause, a cut and a toxic.
const THREE_FAULTS: &str = "name: three\nsale: { product: p, stock: 100 }\n\
     load: { model: arrival-rate, rate: 50/s, duration: 60s }\n\
     allow_total_outage: true\n\
     faults:\n  - { at: 1s, action: pause, service: inventory-worker }\n\
     \x20 - { at: 1s, action: down, link: kafka }\n\
     \x20 - { at: 1s, action: latency, link: api-redis, latency: 20ms, duration: 5s }\n";

/// What a dry run could change: each container of the project (state, start time, pid,
/// restarts) and every link of its proxy (enabled, toxics).
async fn snapshot(project: &Project, toxiproxy_api: &str) -> (String, String) {
    let ids = docker(&[
        "ps",
        "-aq",
        "--no-trunc",
        "--filter",
        &format!("label=com.docker.compose.project={}", project.name),
    ]);
    let mut containers = Vec::new();
    for id in ids.lines() {
        containers.push(docker(&[
            "inspect",
            "-f",
            "{{.Id}} {{.State.Status}} {{.State.StartedAt}} {{.State.Pid}} {{.RestartCount}}",
            id,
        ]));
    }
    containers.sort();
    let proxies = fgchaos::toxiproxy::Client::new(toxiproxy_api.to_owned())
        .proxies()
        .await
        .unwrap();
    (containers.join("\n"), format!("{proxies:?}"))
}

/// `--dry-run` prints what the run would act on — the worker's container by id, name and
/// project, the links with their ends, the timeline, the load, the permissions — and changes
/// nothing on the project.
async fn dry_run_changes_nothing(project: &Project, worker: &str, toxiproxy_api: &str) {
    let work = tempfile::tempdir().unwrap();
    let scenario = work.path().join("three.yaml");
    std::fs::write(&scenario, THREE_FAULTS).unwrap();
    let before = snapshot(project, toxiproxy_api).await;
    let out = fgchaos()
        .args(["run", "--dry-run", "--seed", "7", "--target", "docker"])
        .args(["--project", &project.name, "--work-dir"])
        .arg(work.path())
        .arg(&scenario)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let worker_line = stdout
        .lines()
        .find(|l| l.contains("container inventory-worker"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(worker_line.contains(&worker[..12]), "{stdout}");
    assert!(
        worker_line.contains(&format!("project {}", project.name)),
        "{stdout}"
    );
    for want in [
        "three: dry run with seed 7",
        "link      kafka",
        "link      api-redis",
        "upstream ",
        "+1.000s    latency api-redis",
        "heals at +6.000s",
        "arrival-rate at 50/s for 1m",
        "POST http://127.0.0.1:",
        "ok       the Docker API",
        "ok       the fault proxy's API",
    ] {
        assert!(stdout.contains(want), "{want}: {stdout}");
    }
    assert_eq!(
        stdout.matches("    container ").count(),
        1,
        "the worker only: {stdout}"
    );
    assert_eq!(snapshot(project, toxiproxy_api).await, before);
    assert_eq!(
        std::fs::read_dir(work.path()).unwrap().count(),
        1,
        "no run directory: only the scenario file"
    );
}
