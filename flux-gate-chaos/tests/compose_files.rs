//! The compose files as compose itself reads them (`docker-compose config`): valid, and
//! keeping the rules the docker target relies on — only three ports published, all on
//! loopback; a healthcheck on every long-running service; no restart policy; every link the
//! scenarios cut is a proxy of the project's Toxiproxy.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use serde_yaml::Value;

fn compose_config(files: &[&str]) -> Option<Value> {
    compose_config_with_profiles(files, &[])
}

fn compose_config_with_profiles(files: &[&str], profiles: &[&str]) -> Option<Value> {
    compose_config_with(files, profiles, &[])
}

fn compose_config_with(files: &[&str], profiles: &[&str], env: &[(&str, &str)]) -> Option<Value> {
    let mut c = Command::new("docker-compose");
    // Only what the test says: a developer's own FG_REDIS_IMAGE must not change the result.
    c.env_remove("FG_REDIS_IMAGE").envs(env.iter().copied());
    c.current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
    for f in files {
        c.args(["-f", f]);
    }
    for p in profiles {
        c.args(["--profile", p]);
    }
    let out = match c.arg("config").output() {
        Ok(o) => o,
        Err(_) => {
            assert_ne!(
                std::env::var("FG_REQUIRE_DOCKER").as_deref(),
                Ok("1"),
                "FG_REQUIRE_DOCKER=1 but docker-compose is not installed"
            );
            eprintln!("skipped: docker-compose is not installed");
            return None;
        }
    };
    assert!(
        out.status.success(),
        "docker-compose {files:?} config: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_yaml::from_slice(&out.stdout).unwrap())
}

/// `(host ip, service)` of every published port; short (`127.0.0.1:8080:80/tcp`, compose v1)
/// or long (`host_ip:`, compose v2) syntax.
fn published(cfg: &Value) -> Vec<(String, String)> {
    let mut v = Vec::new();
    for (name, svc) in cfg["services"].as_mapping().unwrap() {
        for p in svc["ports"].as_sequence().into_iter().flatten() {
            let ip = match p {
                Value::String(s) => s.split(':').next().unwrap_or_default().to_owned(),
                other => other["host_ip"].as_str().unwrap_or("0.0.0.0").to_owned(),
            };
            v.push((ip, name.as_str().unwrap().to_owned()));
        }
    }
    v
}

const ONE_SHOTS: [&str; 2] = ["kafka-init", "migrate"];

const SERVICES: [&str; 10] = [
    "ingestion-api",
    "inventory-worker",
    "kafka",
    "kafka-init",
    "migrate",
    "nginx",
    "postgres",
    "redis",
    "toxiproxy",
    "waiting-room",
];

fn check(cfg: &Value) {
    check_with(cfg, &[]);
}

/// The rules, for a project of [`SERVICES`] plus `extra`.
fn check_with(cfg: &Value, extra: &[&str]) {
    let services = cfg["services"].as_mapping().unwrap();
    let names: BTreeSet<&str> = services.keys().filter_map(Value::as_str).collect();
    assert_eq!(
        names,
        SERVICES
            .iter()
            .chain(extra)
            .copied()
            .collect::<BTreeSet<_>>()
    );
    let ports = published(cfg);
    assert!(
        ports.iter().all(|(ip, _)| ip == "127.0.0.1"),
        "every published port binds loopback: {ports:?}"
    );
    let publishing: BTreeSet<&str> = ports.iter().map(|(_, s)| s.as_str()).collect();
    assert_eq!(
        publishing,
        BTreeSet::from(["nginx", "toxiproxy", "waiting-room"])
    );
    for (name, svc) in services {
        let name = name.as_str().unwrap();
        assert!(svc.get("restart").is_none(), "{name} has a restart policy");
        if !ONE_SHOTS.contains(&name) {
            let hc = &svc["healthcheck"];
            assert!(hc["test"].is_sequence(), "{name} has no healthcheck");
            assert_ne!(hc["disable"].as_bool(), Some(true), "{name}");
        }
    }
    assert_eq!(
        cfg["services"]["ingestion-api"]["deploy"]["replicas"].as_u64(),
        Some(2)
    );
}

#[test]
fn user_compose_file_is_valid_and_keeps_the_rules() {
    if let Some(cfg) = compose_config(&["docker-compose.yml"]) {
        check(&cfg);
        // Kafka advertises the proxy, never itself, to clients.
        let env = &cfg["services"]["kafka"]["environment"];
        let adv = env["KAFKA_ADVERTISED_LISTENERS"].as_str().unwrap();
        assert!(adv.contains("PLAINTEXT://toxiproxy:9092"), "{adv}");
    }
}

#[test]
fn local_override_keeps_the_same_shape() {
    if let Some(cfg) = compose_config(&["docker-compose.yml", "docker-compose.local.yml"]) {
        check(&cfg);
        let cmd: Vec<&str> = cfg["services"]["kafka"]["command"]
            .as_sequence()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(cmd.contains(&"tcp://toxiproxy:9092"), "{cmd:?}");
    }
}

/// An environment value as a string: compose v1 keeps YAML numbers, v2 writes strings.
fn env(cfg: &Value, service: &str, key: &str) -> String {
    match &cfg["services"][service]["environment"][key] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => panic!("{service}: {key} = {other:?}"),
    }
}

#[test]
fn kafka_cluster_profile_is_three_kraft_nodes_replicating_everything_three_times() {
    let files = ["docker-compose.yml", "docker-compose.kafka-cluster.yml"];
    let Some(cfg) = compose_config_with_profiles(&files, &["kafka-cluster"]) else {
        return;
    };
    check_with(&cfg, &["kafka-2", "kafka-3"]);
    let brokers = ["kafka", "kafka-2", "kafka-3"];
    for (i, b) in brokers.iter().enumerate() {
        let node = i + 1;
        assert_eq!(env(&cfg, b, "KAFKA_NODE_ID"), node.to_string(), "{b}");
        assert_eq!(env(&cfg, b, "KAFKA_PROCESS_ROLES"), "broker,controller");
        assert_eq!(
            env(&cfg, b, "KAFKA_CONTROLLER_QUORUM_VOTERS"),
            "1@kafka:9093,2@kafka-2:9093,3@kafka-3:9093"
        );
        assert_eq!(env(&cfg, b, "CLUSTER_ID"), env(&cfg, "kafka", "CLUSTER_ID"));
        for (key, want) in [
            ("KAFKA_DEFAULT_REPLICATION_FACTOR", "3"),
            ("KAFKA_MIN_INSYNC_REPLICAS", "2"),
            ("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "3"),
            ("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "3"),
            ("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "2"),
            ("KAFKA_UNCLEAN_LEADER_ELECTION_ENABLE", "false"),
        ] {
            assert_eq!(env(&cfg, b, key), want, "{b}: {key}");
        }
        // Clients reach each broker through its own proxy; brokers reach each other directly.
        assert_eq!(
            env(&cfg, b, "KAFKA_ADVERTISED_LISTENERS"),
            format!("PLAINTEXT://toxiproxy:{},INTERNAL://{b}:29092", 9091 + node)
        );
    }
    // The one-shot creates both topics with three replicas, once all three nodes are healthy.
    let init = &cfg["services"]["kafka-init"];
    let script: String = init["command"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect::<Vec<_>>()
        .join(" ");
    for want in [
        "--replication-factor 3",
        "--config min.insync.replicas=2",
        "orders:3",
        "orders.dlq:1",
    ] {
        assert!(script.contains(want), "kafka-init lacks `{want}`: {script}");
    }
    for b in brokers {
        assert_eq!(
            init["depends_on"][b]["condition"].as_str(),
            Some("service_healthy"),
            "kafka-init waits for {b}"
        );
    }
    for s in ["ingestion-api", "inventory-worker", "migrate"] {
        assert_eq!(
            env(&cfg, s, "FG_KAFKA_BROKERS"),
            "toxiproxy:9092,toxiproxy:9093,toxiproxy:9094",
            "{s}"
        );
    }
    // The proxies behind those addresses: one per broker, the others as in the default file.
    let mounted: Vec<&str> = cfg["services"]["toxiproxy"]["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str().or_else(|| v["source"].as_str()))
        .collect();
    assert!(
        mounted
            .iter()
            .any(|v| v.contains("docker/toxiproxy.kafka-cluster.json")),
        "{mounted:?}"
    );
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let read = |f: &str| -> Vec<serde_json::Value> {
        serde_json::from_slice(&std::fs::read(root.join(f)).unwrap()).unwrap()
    };
    let (single, cluster) = (
        read("docker/toxiproxy.json"),
        read("docker/toxiproxy.kafka-cluster.json"),
    );
    let mut expected = single.clone();
    for (b, port) in [("kafka-2", 9093), ("kafka-3", 9094)] {
        expected.push(serde_json::json!({
            "name": b, "listen": format!("0.0.0.0:{port}"),
            "upstream": format!("{b}:9092"), "enabled": true,
        }));
    }
    assert_eq!(cluster, expected);
    // Without the override the profile changes nothing.
    if let Some(plain) = compose_config_with_profiles(&["docker-compose.yml"], &["kafka-cluster"]) {
        check(&plain);
    }
}

/// The proxies a Toxiproxy config file defines, as JSON objects.
fn proxies_of(file: &str) -> Vec<serde_json::Value> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    serde_json::from_slice(&std::fs::read(root.join(file)).unwrap()).unwrap()
}

fn proxy_names(file: &str) -> BTreeSet<String> {
    proxies_of(file)
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn every_link_a_scenario_cuts_is_a_proxy_of_the_compose_toxiproxy() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let (plain, ha) = (
        proxy_names("docker/toxiproxy.json"),
        proxy_names("docker/toxiproxy.redis-ha.json"),
    );
    // A scenario naming its own stack file (`stack:`, the local Sentinel topology) runs on
    // docker against the Sentinel project (docker-compose.redis-ha.yml); the others against
    // the plain one.
    let (mut used, mut used_ha) = (BTreeSet::new(), BTreeSet::new());
    let mut own_stack = Vec::new();
    // (`scenarios/swarm/` needs a swarm of several nodes: never run on docker.)
    for e in std::fs::read_dir(root.join("scenarios")).unwrap().flatten() {
        if e.path().extension().is_none_or(|x| x != "yaml") {
            continue;
        }
        let text = std::fs::read_to_string(e.path()).unwrap();
        let s = fgchaos::scenario::parse_str(&text, &e.path().display().to_string()).unwrap();
        let yaml = serde_json::to_value(&s).unwrap();
        if s.stack.is_some() {
            own_stack.push(s.name.clone());
            collect_links(&yaml, &mut used_ha);
        } else {
            collect_links(&yaml, &mut used);
        }
    }
    own_stack.sort();
    assert_eq!(
        own_stack,
        [
            "found-planned-failover",
            "redis-failover",
            "redis-partition"
        ]
    );
    assert!(used.contains("api-redis"), "{used:?}");
    // A role names the peer link of the instance holding it when the fault fires: every peer
    // link the docker stack file gives must be a proxy of the Sentinel project.
    assert!(used_ha.remove("redis-primary"), "{used_ha:?}");
    used_ha.remove("redis-replica");
    let peer_links = fgchaos::target::docker::spec::DockerSpec::built_in()
        .unwrap()
        .redis_ha
        .unwrap()
        .peer_links;
    assert_eq!(peer_links, ["redis-1", "redis-2", "redis-3"]);
    used_ha.extend(peer_links);
    let missing: Vec<&String> = used.difference(&plain).collect();
    assert!(missing.is_empty(), "links without a proxy: {missing:?}");
    let missing: Vec<&String> = used_ha.difference(&ha).collect();
    assert!(
        missing.is_empty(),
        "Sentinel links without a proxy: {missing:?}"
    );
}

/// A service's command as one string.
fn command(cfg: &Value, service: &str) -> String {
    cfg["services"][service]["command"]
        .as_sequence()
        .unwrap_or_else(|| panic!("{service} has no command"))
        .iter()
        .filter_map(Value::as_str)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The value following `flag` in a service's command.
fn arg_after(cfg: &Value, service: &str, flag: &str) -> String {
    let cmd = command(cfg, service);
    let mut words = cmd.split(' ');
    words.find(|w| *w == flag);
    words
        .next()
        .unwrap_or_else(|| panic!("{service}: no {flag} in {cmd}"))
        .to_owned()
}

#[test]
fn redis_ha_override_is_the_sentinel_topology_of_the_local_stack_over_proxies() {
    let files = [
        "docker-compose.yml",
        "docker-compose.local.yml",
        "docker-compose.redis-ha.yml",
    ];
    let local_image = [("FG_REDIS_IMAGE", "fluxgate/base:bookworm")];
    let Some(cfg) = compose_config_with(&files, &["redis-ha"], &local_image) else {
        return;
    };
    let (instances, sentinels) = (
        ["redis", "redis-2", "redis-3"],
        ["redis-sentinel-1", "redis-sentinel-2", "redis-sentinel-3"],
    );
    check_with(&cfg, &[&instances[1..], &sentinels[..]].concat());
    for s in instances[1..].iter().chain(&sentinels) {
        assert_eq!(
            cfg["services"][*s]["image"].as_str(),
            Some("fluxgate/base:bookworm"),
            "{s}"
        );
    }
    // The proxies: the plain file's, less the single Redis's, plus four per instance.
    let ha = proxies_of("docker/toxiproxy.redis-ha.json");
    let by_name = |n: &str| -> &serde_json::Value {
        ha.iter()
            .find(|p| p["name"] == n)
            .unwrap_or_else(|| panic!("no proxy {n}"))
    };
    let port = |listen: &serde_json::Value| {
        listen
            .as_str()
            .unwrap()
            .rsplit(':')
            .next()
            .unwrap()
            .to_owned()
    };
    let mut plain: Vec<_> = proxies_of("docker/toxiproxy.json")
        .into_iter()
        .filter(|p| !["api-redis", "waiting-room-redis"].contains(&p["name"].as_str().unwrap()))
        .collect();
    assert_eq!(ha.len(), plain.len() + 12, "{ha:?}");
    plain.retain(|p| !ha.contains(p));
    assert!(
        plain.is_empty(),
        "plain proxies missing or changed: {plain:?}"
    );
    let (mut api_nat, mut room_nat) = (Vec::new(), Vec::new());
    for (i, instance) in instances.iter().enumerate() {
        let n = i + 1;
        // Each instance announces its peer link; that proxy leads back to it.
        let peer = by_name(&format!("redis-{n}"));
        assert_eq!(peer["upstream"], format!("{instance}:6379"));
        assert_eq!(
            arg_after(&cfg, instance, "--replica-announce-ip"),
            "toxiproxy"
        );
        let announced = arg_after(&cfg, instance, "--replica-announce-port");
        assert_eq!(announced, port(&peer["listen"]), "{instance}");
        assert_eq!(arg_after(&cfg, instance, "--min-replicas-to-write"), "1");
        if n > 1 {
            assert_eq!(
                arg_after(&cfg, instance, "--replicaof"),
                "toxiproxy",
                "{instance} replicates through redis-1's peer link"
            );
            assert!(command(&cfg, instance).ends_with(&format!(
                "toxiproxy {}",
                port(&by_name("redis-1")["listen"])
            )));
        }
        for (client, nat) in [("api", &mut api_nat), ("waiting-room", &mut room_nat)] {
            let link = by_name(&format!("{client}-redis-{n}"));
            assert_eq!(link["upstream"], format!("{instance}:6379"));
            nat.push(format!(
                "toxiproxy:{announced}=toxiproxy:{}",
                port(&link["listen"])
            ));
        }
        let sentinel = by_name(&format!("sentinel-{n}"));
        assert_eq!(sentinel["upstream"], format!("{}:26379", sentinels[i]));
    }
    let sentinel_links = (1..=3)
        .map(|n| {
            format!(
                "toxiproxy:{}",
                port(&by_name(&format!("sentinel-{n}"))["listen"])
            )
        })
        .collect::<Vec<_>>()
        .join(",");
    for (service, nat) in [("ingestion-api", &api_nat), ("waiting-room", &room_nat)] {
        assert_eq!(
            env(&cfg, service, "FG_REDIS_SENTINELS"),
            sentinel_links,
            "{service}"
        );
        assert_eq!(
            env(&cfg, service, "FG_REDIS_NAT_MAP"),
            nat.join(","),
            "{service}"
        );
        for s in sentinels {
            assert_eq!(
                cfg["services"][service]["depends_on"][s]["condition"].as_str(),
                Some("service_healthy"),
                "{service} waits for {s}"
            );
        }
    }
    assert_eq!(env(&cfg, "ingestion-api", "FG_REDIS_REPLICA_ACKS"), "1");
    // The Sentinels watch the first primary through its peer link, by name.
    for s in sentinels {
        let script = command(&cfg, s);
        for want in [
            "sentinel resolve-hostnames yes",
            "sentinel announce-hostnames yes",
            &format!(
                "sentinel monitor flux-gate toxiproxy {} 2",
                port(&by_name("redis-1")["listen"])
            ),
        ] {
            assert!(script.contains(want), "{s} lacks `{want}`: {script}");
        }
    }
    let mounted = cfg["services"]["toxiproxy"]["volumes"]
        .as_sequence()
        .unwrap();
    assert!(
        mounted.iter().any(|v| v
            .as_str()
            .or_else(|| v["source"].as_str())
            .is_some_and(|v| v.contains("docker/toxiproxy.redis-ha.json"))),
        "{mounted:?}"
    );
    assert_eq!(
        cfg["services"]["inventory-worker"]["deploy"]["replicas"].as_u64(),
        Some(4)
    );
    // The docker stack description names exactly these services.
    let spec = fgchaos::target::docker::DockerSpec::built_in().unwrap();
    let named = spec.redis_ha.unwrap();
    assert_eq!(named.instances, instances);
    assert_eq!(named.sentinels, sentinels);
    // Without a registry's image: the upstream one unless FG_REDIS_IMAGE says otherwise.
    let upstream = compose_config_with_profiles(
        &["docker-compose.yml", "docker-compose.redis-ha.yml"],
        &["redis-ha"],
    )
    .unwrap();
    assert_eq!(
        upstream["services"]["redis-2"]["image"].as_str(),
        Some("redis:7")
    );
}

/// Every string under a `link` or `links` key.
fn collect_links(v: &serde_json::Value, out: &mut BTreeSet<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("link", serde_json::Value::String(s)) => {
                        out.insert(s.clone());
                    }
                    ("links", serde_json::Value::Array(a)) => {
                        out.extend(a.iter().filter_map(|l| l.as_str().map(str::to_owned)));
                    }
                    _ => collect_links(x, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| collect_links(x, out)),
        _ => {}
    }
}
