//! A private PostgreSQL cluster in a directory of the caller's.
//!
//! PostgreSQL refuses to run as root, so when this process is root the cluster is created and
//! run as the `postgres` system user (the Debian package creates it). Authentication is
//! `trust` on loopback only.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::{binaries, io, ports, ready, Error, Result, Spec, Supervised};

pub struct Postgres {
    pub process: Supervised,
    pub port: u16,
    pub data: PathBuf,
}

impl Postgres {
    /// `initdb` into `dir/data`, start the server, wait until it accepts connections.
    pub async fn start(dir: &Path) -> Result<Self> {
        let bins = binaries::postgres_bin_dir();
        let initdb = binaries::find("initdb", &bins)?;
        let postgres = binaries::find("postgres", &bins)?;
        let pg_isready = binaries::find("pg_isready", &bins)?;
        let user = crate::user::run_as("postgres")?;
        let data = dir.join("data");
        std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
        if let Some((uid, gid)) = user {
            crate::user::make_reachable(dir, uid, gid)?;
        }
        let mut cmd = tokio::process::Command::new(&initdb);
        cmd.args([
            "--auth=trust",
            "--username=postgres",
            "--encoding=UTF8",
            "--no-sync",
            "--no-instructions",
            "-D",
        ])
        .arg(&data);
        if let Some((uid, gid)) = user {
            cmd.uid(uid.as_raw()).gid(gid.as_raw());
        }
        let out = cmd.output().await.map_err(io("running initdb"))?;
        if !out.status.success() {
            return Err(Error::Setup(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        let port = ports::free_port().map_err(io("finding a free port"))?;
        let mut spec = Spec::new("postgres", postgres, dir.join("postgres.log"))
            .arg("-D")
            .arg(&data)
            .args([
                "-p".to_owned(),
                port.to_string(),
                "-c".into(),
                "listen_addresses=127.0.0.1".into(),
                // TCP only: a Unix socket's path may not exceed 107 bytes, which a deep
                // temporary directory does; every client connects to 127.0.0.1.
                "-c".into(),
                "unix_socket_directories=".into(),
                // Durable against a killed process (the WAL is in the OS page cache); only an OS
                // crash could lose data, which no test here causes. Commits stay synchronous.
                "-c".into(),
                "fsync=off".into(),
                "-c".into(),
                "max_connections=200".into(),
            ]);
        spec.user = user;
        let mut pg = Postgres {
            process: Supervised::new(spec),
            port,
            data,
        };
        pg.start_again_with(&pg_isready).await?;
        Ok(pg)
    }

    /// (Re)starts the server and waits until it accepts connections.
    pub async fn start_again(&mut self) -> Result<()> {
        let pg_isready = binaries::find("pg_isready", &binaries::postgres_bin_dir())?;
        self.start_again_with(&pg_isready).await
    }

    async fn start_again_with(&mut self, pg_isready: &Path) -> Result<()> {
        self.process.start()?;
        let port = self.port.to_string();
        ready::wait_until(&self.process.watch(), Duration::from_secs(30), || async {
            tokio::process::Command::new(pg_isready)
                .args(["-h", "127.0.0.1", "-p", &port, "-U", "postgres", "-q"])
                .status()
                .await
                .is_ok_and(|s| s.success())
        })
        .await
    }

    pub fn addr(&self) -> SocketAddr {
        (Ipv4Addr::LOCALHOST, self.port).into()
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}
