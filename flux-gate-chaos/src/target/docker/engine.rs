//! Connecting to the Docker engine, and turning its failures into errors that say what to do.

use bollard::Docker;

/// What went wrong on the docker target. Each message ends with the fix.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error(
        "cannot reach the Docker engine at {addr}: {reason}. Start it (e.g. `sudo systemctl start docker`) or point DOCKER_HOST at it"
    )]
    NoEngine { addr: String, reason: String },
    #[error(
        "permission denied on the Docker socket {addr}. Add your user to the `docker` group (`sudo usermod -aG docker $USER`, then log in again) or run as root"
    )]
    Permission { addr: String },
    #[error(
        "no running containers of compose project `{project}`{others}. Start it with `docker compose up -d` (or `docker-compose up -d`) in its directory, or name it with --project"
    )]
    ProjectNotFound { project: String, others: String },
    #[error(
        "no running tasks of swarm stack `{stack}`. Deploy it with `fgchaos up --target swarm` (or `docker stack deploy`), or name it with --project"
    )]
    StackNotFound { stack: String },
    #[error(
        "{project} has no service `{service}` (it has: {have}). Name the service in the docker stack file (--stack) or add it to the compose file"
    )]
    ServiceMissing {
        project: String,
        service: String,
        have: String,
    },
    #[error(
        "{scope} has no service {missing}: the role(s) the docker stack file (--stack) gives them (it has: {have}). Name its services there, or add these to it"
    )]
    RolesMissing {
        scope: String,
        missing: String,
        have: String,
    },
    #[error(
        "service `{service}` does not publish container port {port} on the host. Add `ports: [\"127.0.0.1:HOSTPORT:{port}\"]` to it in the compose file"
    )]
    NotPublished { service: String, port: u16 },
    #[error(
        "`{instance}` did not become healthy within {waited_s} s (last state: {state}). See `docker logs {name}`"
    )]
    Unhealthy {
        instance: String,
        name: String,
        state: String,
        waited_s: u64,
    },
    #[error("refusing to touch container {id}: it is not part of {scope}")]
    Foreign { id: String, scope: String },
    #[error(
        "swarm started no new task for `{instance}` within {waited_s} s of its end. See `docker service ps` for why"
    )]
    NotReplaced { instance: String, waited_s: u64 },
    #[error(
        "compose project `{project}` runs part of the Redis Sentinel topology the docker stack file names (`redis_ha`): it has {present} but not {absent}. Start it with every file and profile of that topology (docker-compose.redis-ha.yml, `--profile redis-ha`), or remove `redis_ha` from the stack file"
    )]
    PartialRedisHa {
        project: String,
        present: String,
        absent: String,
    },
    #[error(
        "the docker stack file names `{link}` as the peer link of `{instance}` (`redis_ha.peer_links`), but compose project `{project}`'s Toxiproxy has no proxy `{link}`"
    )]
    NoPeerLink {
        project: String,
        instance: String,
        link: String,
    },
    #[error(
        "swarm node `{node}` is up, but fgchaos does not know where its engine answers: only a node's own engine can act on its tasks' containers. Label it with the address, e.g. `docker node update --label-add {label}=tcp://NODE-IP:2375 {node}` (scripts/swarm-nodes does), or drain it"
    )]
    NodeEngineUnknown { node: String, label: &'static str },
    #[error(
        "swarm node `{node}`'s engine address `{addr}` (its `{label}` label) is not `tcp://IP:PORT`: fgchaos reaches the node's published ports on that IP"
    )]
    NodeEngineAddress {
        node: String,
        addr: String,
        label: &'static str,
    },
    #[error("{what}: {reason}")]
    Api { what: String, reason: String },
}

impl DockerError {
    pub fn api(what: impl Into<String>, e: bollard::errors::Error) -> Self {
        DockerError::Api {
            what: what.into(),
            reason: e.to_string(),
        }
    }
}

/// The engine's address as the user would write it (for messages).
pub fn address() -> String {
    std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into())
}

/// Connects (honouring `DOCKER_HOST`), checks the engine answers, and agrees on an API version
/// both sides speak: bollard's default is newer than older engines accept.
pub async fn connect() -> Result<Docker, DockerError> {
    let addr = address();
    let docker = Docker::connect_with_defaults().map_err(|e| DockerError::NoEngine {
        addr: addr.clone(),
        reason: e.to_string(),
    })?;
    answering(docker, &addr).await
}

/// Connects to the engine at `addr` (`tcp://HOST:PORT`, no TLS): a swarm node's own engine
/// (`fleet.rs`), whatever `DOCKER_HOST` says.
pub async fn connect_to(addr: &str) -> Result<Docker, DockerError> {
    let docker = Docker::connect_with_http(addr, DEFAULT_TIMEOUT_S, bollard::API_DEFAULT_VERSION)
        .map_err(|e| DockerError::NoEngine {
        addr: addr.to_owned(),
        reason: e.to_string(),
    })?;
    answering(docker, addr).await
}

/// bollard's own default read timeout for a connection, in seconds.
const DEFAULT_TIMEOUT_S: u64 = 120;

async fn answering(docker: Docker, addr: &str) -> Result<Docker, DockerError> {
    if let Err(e) = docker.ping().await {
        return Err(classify(addr, &e));
    }
    docker
        .negotiate_version()
        .await
        .map_err(|e| classify(addr, &e))
}

/// Whether an engine answers at all (for `--target auto` and the test gate).
pub async fn available() -> bool {
    connect().await.is_ok()
}

fn classify(addr: &str, e: &bollard::errors::Error) -> DockerError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::PermissionDenied {
                return DockerError::Permission {
                    addr: addr.to_owned(),
                };
            }
        }
        source = s.source();
    }
    let text = e.to_string();
    if text.contains("ermission denied") {
        return DockerError::Permission {
            addr: addr.to_owned(),
        };
    }
    DockerError::NoEngine {
        addr: addr.to_owned(),
        reason: text,
    }
}

/// `true` for the engine's "nothing to do" answers (304 Not Modified: already started or
/// stopped; 409 for "is not running" / "is not paused"), which lifecycle faults treat as done.
pub fn already_there(e: &bollard::errors::Error) -> bool {
    match e {
        bollard::errors::Error::DockerResponseServerError {
            status_code,
            message,
        } => {
            *status_code == 304
                || (*status_code == 409
                    && (message.contains("is not running")
                        || message.contains("is not paused")
                        || message.contains("is already paused")))
        }
        _ => false,
    }
}
