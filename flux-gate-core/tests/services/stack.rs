//! A private Flux-Gate stack for one test: real Redis, PostgreSQL and tansu from the testbed,
//! plus `flux-gate api` and `flux-gate worker` processes of the binary under test.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use flux_gate_core::contract::{Answer, IDEMPOTENCY_HEADER};
use flux_gate_core::db;
use flux_gate_testbed::{ports, ready, Postgres, Redis, Spec, Supervised, Tansu};
use reqwest::StatusCode;
use sqlx::PgPool;
use tempfile::TempDir;

pub const ADMIN_TOKEN: &str = "test-admin-token";

/// The `flux-gate` binary under test: Cargo names it for integration tests; an example (the
/// demo and benchmarks share this file) finds it beside its own directory.
fn flux_gate_bin() -> PathBuf {
    if let Some(p) = option_env!("CARGO_BIN_EXE_flux-gate") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("current exe");
    exe.parent()
        .and_then(Path::parent)
        .expect("target dir")
        .join("flux-gate")
}

/// One `flux-gate` service process.
pub struct Service {
    pub process: Supervised,
    pub port: u16,
}

impl Service {
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn addr(&self) -> SocketAddr {
        (Ipv4Addr::LOCALHOST, self.port).into()
    }

    /// (Re)starts the process and waits until it is ready (`/ready` for the API, which
    /// includes a warm Kafka producer, and the worker, which has migrated the schema;
    /// `/health` for the others).
    pub async fn start(&mut self) {
        self.process.start().expect("start service");
        let addr = self.addr();
        let probe = if matches!(self.process.name(), "api" | "worker") {
            "/ready"
        } else {
            "/health"
        };
        ready::wait_until(&self.process.watch(), Duration::from_secs(30), || {
            ready::http_ok(addr, probe)
        })
        .await
        .expect("service ready");
    }
}

pub struct Stack {
    pub dir: TempDir,
    pub redis: Redis,
    pub postgres: Postgres,
    pub kafka: Tansu,
    pub api: Service,
    pub worker: Service,
    pub http: reqwest::Client,
    pub db: PgPool,
}

/// Options for the API under test.
#[derive(Default, Clone)]
pub struct ApiEnv(pub Vec<(&'static str, String)>);

impl ApiEnv {
    /// For tests about correctness under concurrency or faults, not about timeouts: Redis
    /// calls get room on a loaded 2-core machine (another test's stack may run beside this one).
    pub fn patient() -> Self {
        ApiEnv(vec![("FG_REDIS_TIMEOUT_MS", "5000".into())])
    }
}

impl Stack {
    pub async fn start() -> Stack {
        Self::start_with(ApiEnv::default()).await
    }

    pub async fn start_with(api_env: ApiEnv) -> Stack {
        // FG_KEEP_TEST_DIRS=1 keeps the stack's directory (its logs and data) after the test,
        // for the failure that is gone once its tempdir is.
        let dir = tempfile::Builder::new()
            .prefix("fg-test-")
            .disable_cleanup(std::env::var_os("FG_KEEP_TEST_DIRS").is_some())
            .tempdir()
            .expect("tempdir");
        let (redis_dir, pg_dir, kafka_dir) = (
            dir.path().join("redis"),
            dir.path().join("postgres"),
            dir.path().join("tansu"),
        );
        let (redis, postgres, kafka) = tokio::try_join!(
            Redis::start(&redis_dir),
            Postgres::start(&pg_dir),
            Tansu::start(&kafka_dir)
        )
        .expect("infrastructure starts");
        let env = base_env(&redis, &postgres, &kafka);
        migrate(dir.path(), &env).await;
        let mut api_vars = env.clone();
        api_vars.extend(api_env.0.iter().map(|(k, v)| (k.to_string(), v.clone())));
        let api = service(dir.path(), "api", &api_vars).await;
        let worker = service(dir.path(), "worker", &env).await;
        let db = db::pool(&postgres.url(), 4).expect("pool");
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(256)
            .timeout(Duration::from_secs(30))
            .build()
            .expect("http client");
        Stack {
            dir,
            redis,
            postgres,
            kafka,
            api,
            worker,
            http,
            db,
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Starts a sale through the API.
    pub async fn init(&self, product: &str, quantity: i64, per_user_limit: Option<i64>) {
        let mut body = serde_json::json!({ "productId": product, "quantity": quantity });
        if let Some(l) = per_user_limit {
            body["perUserLimit"] = l.into();
        }
        let r = self
            .http
            .post(self.api.url("/init"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
            .await
            .expect("init request");
        assert_eq!(
            r.status(),
            StatusCode::OK,
            "init: {}",
            r.text().await.unwrap_or_default()
        );
    }

    /// Places one order; returns the HTTP status and the parsed body.
    pub async fn order(&self, product: &str, user: &str, key: &str) -> (StatusCode, Answer) {
        order_at(&self.http, &self.api.url("/order"), product, user, key).await
    }

    /// Waits until the database holds at least `n` orders for `product` and returns them —
    /// or, after `limit`, returns what it holds then (the caller judges; the tests'
    /// `wait::orders` fails there with the worker's log).
    pub async fn wait_for_orders(
        &self,
        product: &str,
        n: usize,
        limit: Duration,
    ) -> Vec<db::OrderRow> {
        let deadline = Instant::now() + limit;
        loop {
            let rows = db::orders_of(&self.db, product).await.unwrap_or_default();
            if rows.len() >= n || Instant::now() > deadline {
                return rows;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `flux-gate reconcile --product P --json`: exit status and parsed lines.
    pub async fn reconcile(&self, product: &str, fix: bool) -> (bool, serde_json::Value) {
        let mut cmd = tokio::process::Command::new(flux_gate_bin());
        cmd.args(["reconcile", "--json", "--product", product])
            .env("FG_REDIS_URL", self.redis.url())
            .env("FG_DATABASE_URL", self.postgres.url());
        if fix {
            cmd.arg("--fix");
        }
        let out = cmd.output().await.expect("run reconcile");
        let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "reconcile printed no JSON ({e}): {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (out.status.success(), json)
    }

    /// Produces one raw message to the `orders` topic, bypassing the API (as a buggy or
    /// hostile producer, or a Redis that lost writes, would).
    pub async fn produce_raw(&self, key: &str, payload: &str) {
        use rdkafka::producer::FutureRecord;
        let producer: flux_gate_core::kafka::Producer =
            flux_gate_core::kafka::producer(&self.kafka.brokers(), Duration::from_secs(10))
                .expect("producer");
        let record = FutureRecord::to(flux_gate_core::message::ORDERS_TOPIC)
            .key(key)
            .payload(payload);
        producer
            .send(record, Duration::from_secs(5))
            .await
            .expect("delivered");
    }

    /// `GET url` and its body as text.
    pub async fn get_text(&self, url: &str) -> String {
        let r = self.http.get(url).send().await.expect("GET request");
        r.text().await.expect("GET body")
    }

    pub async fn redis(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.redis.url())
            .expect("client")
            .get_multiplexed_async_connection()
            .await
            .expect("redis connection")
    }

    /// Another `flux-gate worker` like the stack's own — same environment, same consumer group
    /// — on a port of its own, logging to `NAME.log`; not started (`Service::start`), so a
    /// caller can start several at the same moment.
    pub fn another_worker(&self, name: &str) -> Service {
        let port = ports::free_port().expect("free port");
        let mut spec = self.worker.process.spec().clone();
        spec.name = name.to_owned();
        spec.log = self.path().join(format!("{name}.log"));
        // Later entries win: this replaces the copied FG_LISTEN.
        spec.env
            .push(("FG_LISTEN".into(), format!("127.0.0.1:{port}")));
        Service {
            process: Supervised::new(spec),
            port,
        }
    }

    /// Reads a service's log (for assertions and failure messages).
    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.path().join(format!("{name}.log"))).unwrap_or_default()
    }
}

pub async fn order_at(
    http: &reqwest::Client,
    url: &str,
    product: &str,
    user: &str,
    key: &str,
) -> (StatusCode, Answer) {
    let r = http
        .post(url)
        .header(IDEMPOTENCY_HEADER, key)
        .json(&serde_json::json!({ "productId": product, "userId": user }))
        .send()
        .await
        .expect("order request");
    let status = r.status();
    let body = r.text().await.expect("body");
    let answer = serde_json::from_str(&body)
        .unwrap_or_else(|e| panic!("{status}: body {body:?} is not an answer: {e}"));
    (status, answer)
}

fn base_env(redis: &Redis, postgres: &Postgres, kafka: &Tansu) -> Vec<(String, String)> {
    vec![
        ("FG_REDIS_URL".into(), redis.url()),
        ("FG_DATABASE_URL".into(), postgres.url()),
        ("FG_KAFKA_BROKERS".into(), kafka.brokers()),
        ("FG_ADMIN_TOKEN".into(), ADMIN_TOKEN.into()),
        (
            "FG_LOG".into(),
            "info,flux_gate_core=debug,rdkafka=warn".into(),
        ),
    ]
}

async fn migrate(dir: &Path, env: &[(String, String)]) {
    let out = tokio::process::Command::new(flux_gate_bin())
        .arg("migrate")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .await
        .expect("run migrate");
    assert!(
        out.status.success(),
        "migrate failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::write(dir.join("migrate.log"), &out.stderr);
}

pub async fn service(dir: &Path, subcommand: &str, env: &[(String, String)]) -> Service {
    let port = ports::free_port().expect("free port");
    let vars: HashMap<_, _> = env.iter().cloned().collect();
    let mut spec = Spec::new(
        subcommand,
        flux_gate_bin(),
        dir.join(format!("{subcommand}.log")),
    )
    .arg(subcommand)
    .env("FG_LISTEN", format!("127.0.0.1:{port}"));
    spec.env.extend(vars);
    let mut s = Service {
        process: Supervised::new(spec),
        port,
    };
    s.start().await;
    s
}
