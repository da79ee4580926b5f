//! tansu: an Apache-Kafka-compatible broker, with SQLite storage that survives `kill -9`.
//! It does not auto-create topics (callers create theirs) and has no transactions.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use crate::{binaries, io, ports, ready, Result, Spec, Supervised};

pub struct Tansu {
    pub process: Supervised,
    pub port: u16,
}

impl Tansu {
    /// Starts a broker storing into `dir/tansu.db`, advertising its own address.
    pub async fn start(dir: &Path) -> Result<Self> {
        let port = ports::free_port().map_err(io("finding a free port"))?;
        Self::start_advertising(dir, port, port).await
    }

    /// Starts a broker on `port` that tells clients to connect to `advertised_port` (the port
    /// of a proxy in front of it, so clients never bypass the proxy after their first
    /// metadata request).
    pub async fn start_advertising(dir: &Path, port: u16, advertised_port: u16) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
        let bin = binaries::find("tansu", &binaries::cargo_bin_dir())?;
        let mut spec = Spec::new("tansu", bin, dir.join("tansu.log"))
            .arg("broker")
            .arg("--listener-url")
            .arg(format!("tcp://127.0.0.1:{port}"))
            .arg("--advertised-listener-url")
            .arg(format!("tcp://127.0.0.1:{advertised_port}"))
            .arg("--storage-engine")
            // tansu resolves the database path against its working directory.
            .arg("sqlite://tansu.db")
            // FG_TANSU_LOG sets tansu's log filter for a diagnosis, e.g.
            // `warn,tansu_broker::coordinator=debug` for the group coordinator.
            .env(
                "RUST_LOG",
                std::env::var("FG_TANSU_LOG").unwrap_or_else(|_| "warn".to_owned()),
            );
        spec.cwd = Some(dir.to_path_buf());
        let mut t = Tansu {
            process: Supervised::new(spec),
            port,
        };
        t.start_again().await?;
        Ok(t)
    }

    /// (Re)starts the broker and waits until its port accepts connections.
    pub async fn start_again(&mut self) -> Result<()> {
        self.process.start()?;
        let addr = self.addr();
        ready::wait_until(&self.process.watch(), Duration::from_secs(20), || {
            ready::tcp(addr)
        })
        .await
    }

    pub fn addr(&self) -> SocketAddr {
        (Ipv4Addr::LOCALHOST, self.port).into()
    }

    /// `host:port` for `bootstrap.servers`.
    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}
