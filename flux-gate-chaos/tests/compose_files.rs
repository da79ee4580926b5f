//! The compose files as compose itself reads them (`docker-compose config`): valid, and
//! keeping the rules the docker target relies on — only three ports published, all on
//! loopback; a healthcheck on every long-running service; no restart policy; every link the
//! scenarios cut is a proxy of the project's Toxiproxy.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use serde_yaml::Value;

fn compose_config(files: &[&str]) -> Option<Value> {
    let mut c = Command::new("docker-compose");
    c.current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
    for f in files {
        c.args(["-f", f]);
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

fn check(cfg: &Value) {
    let services = cfg["services"].as_mapping().unwrap();
    let names: BTreeSet<&str> = services.keys().filter_map(Value::as_str).collect();
    assert_eq!(
        names,
        BTreeSet::from([
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
        ])
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

#[test]
fn every_link_a_scenario_cuts_is_a_proxy_of_the_compose_toxiproxy() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let config: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(root.join("docker/toxiproxy.json")).unwrap())
            .unwrap();
    let proxies: BTreeSet<String> = config
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect();
    let mut used = BTreeSet::new();
    // A scenario naming its own stack file (`stack:`, a local stack description) runs on that
    // topology; the compose project has no Sentinel topology yet, so those are local-only.
    let mut own_stack = Vec::new();
    for e in std::fs::read_dir(root.join("scenarios")).unwrap().flatten() {
        let text = std::fs::read_to_string(e.path()).unwrap();
        let s = fgchaos::scenario::parse_str(&text, &e.path().display().to_string()).unwrap();
        if s.stack.is_some() {
            own_stack.push(s.name.clone());
            continue;
        }
        let yaml = serde_json::to_value(&s).unwrap();
        collect_links(&yaml, &mut used);
    }
    own_stack.sort();
    assert_eq!(own_stack, ["redis-failover", "redis-partition"]);
    assert!(used.contains("api-redis"), "{used:?}");
    let missing: Vec<&String> = used.difference(&proxies).collect();
    assert!(missing.is_empty(), "links without a proxy: {missing:?}");
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
