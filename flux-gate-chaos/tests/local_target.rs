//! The local target for real: the built-in stack on loopback, lifecycle faults seen happening,
//! a partition seen by the API, and a teardown that leaves nothing behind.

mod common;

use std::time::Duration;

use fgchaos::target::local::{LocalTarget, StackSpec};
use fgchaos::target::{Lifecycle, Target};
use fgchaos::toxiproxy::Client;
use flux_gate_testbed::ready;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_and_link_faults_on_the_local_stack() {
    let dir = tempfile::tempdir().unwrap();
    let mut st = LocalTarget::start(
        StackSpec::built_in().unwrap(),
        dir.path(),
        "token",
        &Default::default(),
    )
    .await
    .unwrap();
    let ep = st.endpoints().clone();
    let addr = |name: &str| ep.services[name].parse::<std::net::SocketAddr>().unwrap();
    let entry = ep.entry.trim_start_matches("http://").parse().unwrap();
    assert!(ready::http_ok(entry, "/health").await, "nginx → API works");
    assert_eq!(ep.links.len(), 7);
    let proxy = Client::new(ep.toxiproxy.clone());
    assert_eq!(proxy.proxies().await.unwrap().len(), 7);

    // kill: the process is gone and its port closed; start: back and healthy.
    let worker = st.pid("inventory-worker").unwrap();
    st.lifecycle("inventory-worker", Lifecycle::Kill)
        .await
        .unwrap()
        .wait()
        .await
        .unwrap();
    assert!(!st.is_running("inventory-worker"));
    assert_eq!(common::state(worker), None, "killed and reaped");
    assert!(!ready::tcp(addr("inventory-worker")).await);
    st.lifecycle("inventory-worker", Lifecycle::Start)
        .await
        .unwrap()
        .wait()
        .await
        .unwrap();
    assert!(ready::http_ok(addr("inventory-worker"), "/health").await);
    assert_ne!(st.pid("inventory-worker"), Some(worker), "a new process");

    // pause: stopped (T) and silent; resume: answers again.
    let redis = st.pid("redis").unwrap();
    st.lifecycle("redis", Lifecycle::Pause)
        .await
        .unwrap()
        .wait()
        .await
        .unwrap();
    assert_eq!(common::state(redis), Some('T'));
    assert!(
        !ready::redis_pong(addr("redis")).await,
        "a paused Redis answers nothing"
    );
    st.lifecycle("redis", Lifecycle::Resume)
        .await
        .unwrap()
        .wait()
        .await
        .unwrap();
    assert!(ready::redis_pong(addr("redis")).await);

    // stop one API replica: the load balancer still answers through the other.
    st.lifecycle("ingestion-api#1", Lifecycle::Stop { grace_ms: 5000 })
        .await
        .unwrap()
        .wait()
        .await
        .unwrap();
    assert!(!st.is_running("ingestion-api#1"));
    for _ in 0..5 {
        assert!(
            ready::http_ok(entry, "/health").await,
            "nginx retries on the live replica"
        );
    }

    // Partition api → redis: the API's readiness fails; heal: it recovers.
    let api2 = addr("ingestion-api#2");
    proxy.set_enabled("api-redis", false).await.unwrap();
    let mut down = false;
    for _ in 0..50 {
        if !ready::http_ok(api2, "/ready").await {
            down = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(down, "API must notice Redis is cut off");
    proxy.set_enabled("api-redis", true).await.unwrap();
    let mut back = false;
    for _ in 0..100 {
        if ready::http_ok(api2, "/ready").await {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(back, "API must recover once the link heals");

    // restore brings the stopped replica back; teardown leaves no process behind.
    st.restore().await.unwrap();
    assert!(st.is_running("ingestion-api#1"));
    assert!(!common::processes_under(dir.path()).is_empty());
    st.teardown(false).await.unwrap();
    assert_eq!(common::processes_under(dir.path()), Vec::<i32>::new());
}

/// The built-in stack's Kafka readiness stores a record, so a broker that accepts connections
/// but cannot store is never taken for ready: it passes against tansu and fails against a
/// listener that only accepts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_is_ready_when_it_stores_a_record_not_when_its_port_opens() {
    let spec = StackSpec::built_in().unwrap();
    let fgchaos::target::local::spec::Ready::Command(probe) = spec.services["kafka"].ready.clone()
    else {
        panic!("the built-in kafka readiness is not a command");
    };
    let run = |port: u16| {
        let probe: Vec<String> = probe
            .iter()
            .map(|a| a.replace("{{port}}", &port.to_string()))
            .collect();
        async move {
            tokio::time::timeout(
                Duration::from_secs(10),
                tokio::process::Command::new(&probe[0])
                    .args(&probe[1..])
                    .kill_on_drop(true)
                    .status(),
            )
            .await
            .expect("the probe bounds its own time")
            .unwrap()
            .success()
        }
    };

    // Accepts connections and never answers: an open port, no broker.
    let mute = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mute_port = mute.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = mute.accept().await {
            held.push(s);
        }
    });
    assert!(!run(mute_port).await, "an open port is not a broker");

    let dir = tempfile::tempdir().unwrap();
    let tansu = flux_gate_testbed::Tansu::start(dir.path()).await.unwrap();
    let port = tansu.addr().port();
    assert!(run(port).await, "tansu stores the probe record");
    // Again: the probe topic exists by now.
    assert!(run(port).await, "and does so on every start");
}

/// `started:` below `replicas:` (a scenario's `scale:`): the last instance exists — its port,
/// its name for faults — but only a `start` runs it, and `restore` does not start it on its
/// own, since it began stopped. Two small HTTP servers stand in for workers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_that_starts_stopped_runs_only_when_started() {
    let text = "entry: web\n\
        state: { redis: r, database: d, kafka: k }\n\
        services:\n  web:\n    command: python3\n    \
        args: [-m, http.server, \"{{port}}\", --bind, 127.0.0.1]\n    replicas: 2\n";
    let spec = StackSpec::parse(text, "s.yaml")
        .unwrap()
        .scaled(
            &[(
                "web".to_owned(),
                fgchaos::scenario::Scale {
                    replicas: 3,
                    started: Some(2),
                },
            )]
            .into(),
        )
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut st = LocalTarget::start(spec, dir.path(), "token", &Default::default())
        .await
        .unwrap();
    let ep = st.endpoints().clone();
    let addr = |name: &str| ep.services[name].parse::<std::net::SocketAddr>().unwrap();
    assert_eq!(st.instances_of("web"), ["web#1", "web#2", "web#3"]);
    assert!(ready::tcp(addr("web#2")).await);
    assert!(!st.is_running("web#3"));
    assert_eq!(st.pid("web#3"), None);
    assert!(
        !ready::tcp(addr("web#3")).await,
        "a port of its own, closed"
    );

    st.restore().await.unwrap();
    assert!(!st.is_running("web#3"), "restore leaves it as it began");

    st.lifecycle("web#3", Lifecycle::Start)
        .await
        .unwrap()
        .wait()
        .await
        .unwrap();
    assert!(st.is_running("web#3"));
    assert!(ready::tcp(addr("web#3")).await);
    st.lifecycle("web#1", Lifecycle::Kill)
        .await
        .unwrap()
        .wait()
        .await
        .unwrap();
    st.restore().await.unwrap();
    assert!(
        st.is_running("web#1"),
        "a killed instance that began running comes back"
    );
    assert!(st.is_running("web#3"), "and the started one keeps running");
    st.teardown(false).await.unwrap();
    assert_eq!(common::processes_under(dir.path()), Vec::<i32>::new());
}

/// Redis with Sentinel, settled and unsettled for real: a planned failover is seen in progress
/// at once, and the stack settles again — every Sentinel naming the promoted replica, the old
/// primary resynced under it — within the kept stack's 30 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_with_sentinel_settles_after_a_failover() {
    // Two instances, each announcing its link, and three Sentinels (quorum 2): the shape of
    // stacks/redis-ha.yaml, small.
    let text = r#"
entry: web
state: { redis: r, database: d, kafka: k }
redis_ha: { instances: [redis-1, redis-2], peer_links: [redis-1, redis-2], sentinels: sentinel, master: m }
links:
  redis-1: { to: redis-1 }
  redis-2: { to: redis-2 }
services:
  web:
    command: python3
    args: [-m, http.server, "{{port}}", --bind, 127.0.0.1]
  redis-1:
    command: redis-server
    args: [--port, "{{port}}", --bind, 127.0.0.1, --dir, "{{dir}}", --save, "", --protected-mode, "no",
           --daemonize, "no", --logfile, "", --replica-announce-ip, 127.0.0.1,
           --replica-announce-port, "{{link_port.redis-1}}"]
    ready: redis
  redis-2:
    command: redis-server
    args: [--port, "{{port}}", --bind, 127.0.0.1, --dir, "{{dir}}", --save, "", --protected-mode, "no",
           --daemonize, "no", --logfile, "", --replica-announce-ip, 127.0.0.1,
           --replica-announce-port, "{{link_port.redis-2}}", --replicaof, 127.0.0.1, "{{link_port.redis-1}}"]
    ready: redis
  sentinel:
    replicas: 3
    command: redis-server
    args: ["{{dir}}/sentinel.conf", --sentinel]
    ready:
      command: [sh, -c, "test \"$(redis-cli -p {{port}} sentinel replicas m | grep -cx ok)\" -ge 1"]
    ready_timeout_secs: 40
    depends_on: [redis-1, redis-2]
    files:
      sentinel.conf: |
        port {{port}}
        bind 127.0.0.1
        protected-mode no
        daemonize no
        logfile ""
        dir {{dir}}
        sentinel announce-ip 127.0.0.1
        sentinel monitor m 127.0.0.1 {{link_port.redis-1}} 2
        sentinel down-after-milliseconds m 2000
        sentinel failover-timeout m 5000
"#;
    let spec = StackSpec::parse(text, "ha.yaml").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut st = LocalTarget::start(spec, dir.path(), "token", &Default::default())
        .await
        .unwrap();
    let topology = st.endpoints().redis_ha.clone().unwrap();
    topology
        .settled_within(Duration::from_secs(30))
        .await
        .expect("settled once every Sentinel saw the replica in sync");
    assert_eq!(topology.roles().await.primary.as_deref(), Some("redis-1"));

    topology.failover().await.unwrap();
    let during = topology.unsettled().await;
    assert!(
        during
            .as_deref()
            .is_some_and(|why| why.contains("failover_in_progress")),
        "{during:?}"
    );
    topology
        .settled_within(Duration::from_secs(30))
        .await
        .expect("settled after the failover");
    let roles = topology.roles().await;
    assert_eq!(roles.primary.as_deref(), Some("redis-2"));
    assert_eq!(roles.replicas, ["redis-1"]);

    st.teardown(false).await.unwrap();
    assert_eq!(common::processes_under(dir.path()), Vec::<i32>::new());
}
