use crate::socket::{SocketListener, SocketStream};
use crate::{
    error::NotFoundError,
    link::Link,
    signal::{Closer, Stop},
    state::{ProxyState, SharedProxyInfo, ToxicStateHolder},
    stream::{Read, Write},
    toxic::{
        update_toxic_list_in_place, StreamDirection, Toxic, ToxicEvent, ToxicEventKind,
        ToxicEventResult,
    },
};
use async_trait::async_trait;
use bmrng::{Payload, RequestReceiver};
use futures::future::join_all;
#[cfg(test)]
use mockall::automock;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tokio_util::codec::{BytesCodec, FramedRead, FramedWrite};
use tracing::{debug, error, info, instrument};

/// The default Go io.Copy buffer size is 32K, so also use 32K buffers here to imitate Toxiproxy.
const READ_BUFFER_SIZE: usize = 32768;

/// How long a toxic event waits for the open connections to run with the new toxics. A link
/// re-forms once what its toxics hold has been written, which waits on its peer reading; one
/// whose peer does not read switches later, in order, without holding up the event.
const RELINK_WAIT: Duration = Duration::from_secs(5);

/// The immutable configuration for a proxy
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProxyConfig {
    /// An arbitrary name
    #[serde(default = "default_name")]
    pub name: String,
    /// The host name and the port the proxy listens on, like 127.0.0.1:5431
    pub listen: String,
    /// The host name and the port the proxy connects to, like 127.0.0:5432
    pub upstream: String,
    /// The client can set the enabled field to false to stop this proxy.
    /// Proxies are enabled by default
    #[serde(default = "default_enabled")]
    pub enabled: bool,
    /// A random seed. Not exposed in the API
    #[serde(skip)]
    pub rand_seed: Option<u64>,
}

fn default_name() -> String {
    "".to_owned()
}

fn default_enabled() -> bool {
    true
}

/// A holder for upstream and downstream links, as well as the per-connection state
#[derive(Debug)]
pub struct Links {
    upstream: Link,
    client: Link,
    /// Connection-wide state for toxics that need such state (like LimitData)
    /// Toxic Name -> State
    state_holder: Arc<ToxicStateHolder>,
}

impl Links {
    /// Re-forms both links of a live connection with the new toxics: the connection stays
    /// open, no byte is lost, and the toxic state is carried over (added for fgchaos, see
    /// PATCHED.md). Resolves once both links run with the new toxics, or are over.
    fn relink(&self, toxics: &Toxics) -> impl Future<Output = ()> + Send + 'static {
        self.state_holder.update_for_toxics(toxics);
        let upstream = self.upstream.relink(toxics.upstream.clone());
        let downstream = self.client.relink(toxics.downstream.clone());
        async move {
            futures::join!(upstream, downstream);
        }
    }
}

/// Toxics applied on a proxy connection
#[derive(Debug, Clone, PartialEq)]
pub struct Toxics {
    /// The toxics applied on the upstream link
    pub upstream: Vec<Toxic>,
    /// The toxics applied on the downstream link
    pub downstream: Vec<Toxic>,
}

/// The serializable API response
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ProxyWithToxics {
    /// The proxy details
    #[serde(flatten)]
    pub proxy: ProxyConfig,
    /// Toxics installed on the proxy
    pub toxics: Vec<Toxic>,
}

impl ProxyConfig {
    /// Validate the proxy config, return `ProxyValidateError` if invalid
    pub fn validate(&self) -> Result<(), ProxyValidateError> {
        if self.name.is_empty() {
            Err(ProxyValidateError::MissingName)
        } else if self.upstream.is_empty() {
            Err(ProxyValidateError::MissingUpstream)
        } else if self.listen.is_empty() {
            Err(ProxyValidateError::MissingListen)
        } else {
            Ok(())
        }
    }
}

impl Toxics {
    /// Initialize an empty set up toxics
    pub fn empty() -> Self {
        Toxics {
            upstream: Vec::new(),
            downstream: Vec::new(),
        }
    }

    /// Consume this Toxics struct to combine upstream and downstream toxics in a flat unordered vec
    pub fn into_vec(mut self) -> Vec<Toxic> {
        self.upstream.append(&mut self.downstream);
        self.upstream
    }

    /// Find a toxic by name in upstream and downstream lists
    pub fn find_by_name(&self, toxic_name: &str) -> Option<Toxic> {
        self.upstream
            .iter()
            .find(|toxic| toxic.name == toxic_name)
            .or_else(|| {
                self.downstream
                    .iter()
                    .find(|toxic| toxic.name == toxic_name)
            })
            .map(|toxic| toxic.to_owned())
    }
}

impl ProxyWithToxics {
    /// Create the full ProxyWithToxics from SharedProxyInfo
    pub fn from_shared_proxy_info(info: SharedProxyInfo) -> Self {
        let proxy_state = info.state.lock();
        ProxyWithToxics {
            proxy: info.clone_config(),
            toxics: proxy_state.toxics.clone().into_vec(),
        }
    }

    /// Create a new ProxyWithToxics with empty toxics
    pub fn from_proxy_config(proxy_config: ProxyConfig) -> Self {
        ProxyWithToxics {
            proxy: proxy_config,
            toxics: Vec::new(),
        }
    }
}

struct Streams {
    client_read: Read,
    client_write: Write,
    upstream_read: Read,
    upstream_write: Write,
}

/// The proxy runner interface (defined for mocking, mainly)
#[cfg_attr(test, automock)]
#[async_trait]
pub trait Runner {
    /// Initialize a proxy, bind to a TCP port but don't start accepting clients
    async fn initialize_proxy<Listener>(
        config: ProxyConfig,
        initial_toxics: Toxics,
    ) -> io::Result<(Listener, SharedProxyInfo)>
    where
        Listener: SocketListener + 'static;

    /// Run the initialized proxy, accept clients, establish links
    async fn run_proxy<Listener>(
        listener: Listener,
        proxy_info: SharedProxyInfo,
        receiver: RequestReceiver<ToxicEvent, ToxicEventResult>,
        mut stop: Stop,
        closer: Closer,
    ) -> io::Result<()>
    where
        Listener: SocketListener + 'static;
}

/// The proxy runner
#[derive(Debug, Copy, Clone)]
pub struct ProxyRunner;

#[async_trait]
impl Runner for ProxyRunner {
    /// Initialize a proxy, bind to a TCP port but don't start accepting clients
    #[instrument(level = "debug")]
    async fn initialize_proxy<Listener>(
        config: ProxyConfig,
        initial_toxics: Toxics,
    ) -> io::Result<(Listener, SharedProxyInfo)>
    where
        Listener: SocketListener + 'static,
    {
        let listener = Listener::bind(&config.listen).await?;

        info!(name = ?config.name, proxy = ?config.listen, upstream = ?config.upstream, "Initialized proxy");

        let state = Arc::new(ProxyState::new(initial_toxics));

        let proxy_info = SharedProxyInfo {
            state,
            config: Arc::new(config),
        };

        Ok((listener, proxy_info))
    }

    /// Run the initialized proxy, accept clients, establish links
    #[instrument(level = "debug", skip(listener, receiver, stop, closer))]
    async fn run_proxy<Listener>(
        listener: Listener,
        proxy_info: SharedProxyInfo,
        receiver: RequestReceiver<ToxicEvent, ToxicEventResult>,
        mut stop: Stop,
        closer: Closer,
    ) -> io::Result<()>
    where
        Listener: SocketListener + 'static,
    {
        let state = proxy_info.state;
        let config = proxy_info.config;

        tokio::spawn(listen_toxic_events(
            state.clone(),
            receiver,
            stop.clone(),
            config.clone(),
        ));

        while !stop.stop_received() {
            let maybe_connection = tokio::select! {
                res = listener.accept() => {
                    Ok::<Option<(Listener::Stream, SocketAddr)>, io::Error>(Some(res?))
                },
                _ = stop.recv() => {
                    Ok(None)
                },
            }?;

            if let Some((client_stream, addr)) = maybe_connection {
                debug!(proxy = ?&config, addr = ?&addr, "Accepted client {}", addr);
                // Patched for fgchaos (see PATCHED.md): the upstream connection is opened in a
                // task of the client's own. Opened here, one slow name lookup or connect (an
                // upstream container that has just stopped) held up every later client of
                // this proxy, for seconds after the upstream was back.
                tokio::spawn(connect_client::<Listener>(
                    client_stream,
                    addr,
                    state.clone(),
                    config.clone(),
                    stop.clone(),
                ));
            } else {
                break;
            }
        }
        drop(listener);
        let _ = closer.close();
        debug!(proxy = ?&config.name, listen = ?&config.listen, "Shutting down proxy");
        Ok(())
    }
}

/// Opens the upstream connection of one accepted client and links the two (or drops the
/// client, as a refused connection would, if the upstream cannot be reached). Nothing is
/// linked once the proxy is stopping: a client accepted just before a stop is dropped.
async fn connect_client<Listener>(
    client_stream: Listener::Stream,
    addr: SocketAddr,
    state: Arc<ProxyState>,
    config: Arc<ProxyConfig>,
    mut stop: Stop,
) where
    Listener: SocketListener + 'static,
{
    let upstream = tokio::select! {
        res = Listener::Stream::connect(&config.upstream) => res,
        _ = stop.recv() => return,
    };
    let upstream = match upstream {
        Ok(upstream) => upstream,
        Err(err) => {
            error!(err = ?err, proxy = ?&config.name, upstream = ?&config.upstream, listen = ?&config.listen, "Unable to open connection to upstream");
            // This is not a fatal error, can retry next time another client connects
            return;
        }
    };

    let (client_read, client_write) = client_stream.into_split();
    let (upstream_read, upstream_write) = upstream.into_split();

    let client_read = FramedRead::with_capacity(client_read, BytesCodec::new(), READ_BUFFER_SIZE);
    let client_write = FramedWrite::new(client_write, BytesCodec::new());
    let upstream_read =
        FramedRead::with_capacity(upstream_read, BytesCodec::new(), READ_BUFFER_SIZE);
    let upstream_write = FramedWrite::new(upstream_write, BytesCodec::new());

    let streams = Streams {
        client_read,
        client_write,
        upstream_read,
        upstream_write,
    };

    if stop.stop_received() {
        return;
    }
    if let Err(err) = create_links(state, addr, &config, &mut stop, streams) {
        error!(err = ?err, proxy = ?&config.name, listen = ?&config.listen, "Unable to establish link for proxy");
    }
}

#[instrument(level = "debug", skip(state, streams, stop))]
fn create_links(
    state: Arc<ProxyState>,
    addr: SocketAddr,
    config: &ProxyConfig,
    stop: &mut Stop,
    streams: Streams,
) -> io::Result<()> {
    let mut current_state = state.lock();
    // Read under the same lock as the client is inserted: a toxic event either finds this
    // client to relink or has already changed the toxics it starts with.
    let toxics = current_state.toxics.clone();

    if current_state.clients.contains_key(&addr) {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!(
                "State error: there is already a client connected with this address: {}",
                addr.to_string()
            ),
        ));
    }

    let (links_stop, links_stopper) = stop.fork();

    let toxics_state_holder =
        ToxicStateHolder::for_toxics(&toxics).unwrap_or_else(ToxicStateHolder::empty);

    let mut upstream_link = Link::new(
        addr,
        StreamDirection::Upstream,
        config.clone(),
        links_stop.clone(),
    );
    let mut client_link = Link::new(
        addr,
        StreamDirection::Downstream,
        config.clone(),
        links_stop,
    );

    let upstream_handle = upstream_link.establish(
        streams.client_read,
        streams.upstream_write,
        toxics.upstream,
        Some(toxics_state_holder.clone()),
    );
    let downstream_handle = client_link.establish(
        streams.upstream_read,
        streams.client_write,
        toxics.downstream,
        Some(toxics_state_holder.clone()),
    );

    let state = state.clone();
    tokio::spawn(async move {
        // No need to listen for the stop signal here, we're ending as soon as one of the tasks have stopped.
        let _ = tokio::select! {
            up = upstream_handle => {
                debug!("Upstream joined first");
                up
            },
            down = downstream_handle => {
                debug!("Downstream joined first");
                down
            }
        };
        links_stopper.stop();
        let mut state = state.lock();
        state.clients.remove(&addr);
        debug!("Removed client {}", addr);
    });

    current_state.clients.insert(
        addr,
        Links {
            upstream: upstream_link,
            client: client_link,
            state_holder: toxics_state_holder,
        },
    );
    Ok(())
}

#[doc(hidden)]
pub async fn listen_toxic_events(
    state: Arc<ProxyState>,
    mut receiver: RequestReceiver<ToxicEvent, ToxicEventResult>,
    mut stop: Stop,
    config: Arc<ProxyConfig>,
) {
    while !stop.stop_received() {
        let maybe_payload: Option<Payload<ToxicEvent, ToxicEventResult>> = tokio::select! {
            res = receiver.recv() => {
                if let Ok(payload) = res {
                    Some(payload)
                } else {
                    None
                }
            },
            _ = stop.recv() => None,
        };
        if let Some(payload) = maybe_payload {
            process_toxic_event(state.clone(), config.clone(), payload).await;
        } else {
            break;
        }
    }
}

async fn process_toxic_event(
    state: Arc<ProxyState>,
    config: Arc<ProxyConfig>,
    (request, mut responder): Payload<ToxicEvent, ToxicEventResult>,
) {
    // Patched for fgchaos (see PATCHED.md): live connections are relinked in place, without
    // being closed, and none of their bytes is lost (the original tore every link down and
    // dropped the chunks its toxics held).
    let relinks: Vec<_> = {
        let mut current_state = state.lock();
        if let Err(err) = update_toxics(request, &mut current_state.toxics) {
            let _ = responder.respond(Err(err.into()));
            return;
        }
        let new_toxics = current_state.toxics.clone();
        current_state
            .clients
            .values()
            .map(|links| links.relink(&new_toxics))
            .collect()
    };
    if tokio::time::timeout(RELINK_WAIT, join_all(relinks))
        .await
        .is_err()
    {
        info!(proxy = ?&config.name, "Some connections are still draining before they take the new toxics");
    }
    let _ = responder.respond(Ok(()));
}

/// Update the toxics collection in place
fn update_toxics(event: ToxicEvent, toxics: &mut Toxics) -> Result<(), NotFoundError> {
    match event.kind {
        // Both directions (the original cleared only the upstream toxics)
        ToxicEventKind::RemoveAllToxics => {
            toxics.upstream.clear();
            toxics.downstream.clear();
            Ok(())
        }
        ToxicEventKind::ReplaceAllToxics(new_toxics) => {
            *toxics = new_toxics;
            Ok(())
        }
        kind => update_toxic_list_in_place(&mut toxics.upstream, kind, StreamDirection::Upstream)
            .or_else(|kind| {
                update_toxic_list_in_place(
                    &mut toxics.downstream,
                    kind,
                    StreamDirection::Downstream,
                )
            })
            .or(Err(NotFoundError)),
    }
}

/// Errors return when ProxyConfig validation fails
#[derive(Debug, Clone, Copy, Error, PartialEq)]
pub enum ProxyValidateError {
    /// The name field is empty
    #[error("name missing")]
    MissingName,
    /// The upstream field is empty
    #[error("upstream missing")]
    MissingUpstream,
    /// The listen field is empty
    #[error("listen address missing")]
    MissingListen,
}

#[cfg(test)]
mod serde_tests {
    use super::*;
    use serde_json::{from_str, to_string};

    #[test]
    fn test_ser_and_de() {
        let config = ProxyConfig {
            name: "foo".to_owned(),
            listen: "127.0.0.1:5431".to_owned(),
            upstream: "127.0.0.1:5432".to_owned(),
            enabled: false,
            rand_seed: Some(3),
        };
        let serialized = to_string(&config).unwrap();
        let expected = "{\"name\":\"foo\",\"listen\":\"127.0.0.1:5431\",\"upstream\":\"127.0.0.1:5432\",\"enabled\":false}";
        assert_eq!(expected, serialized);

        let expected = ProxyConfig {
            name: "foo".to_owned(),
            listen: "127.0.0.1:5431".to_owned(),
            upstream: "127.0.0.1:5432".to_owned(),
            enabled: false,
            rand_seed: None,
        };

        let deserialized = from_str(&serialized).unwrap();
        assert_eq!(expected, deserialized);
    }

    #[test]
    fn test_optional_enabled() {
        let expected = ProxyConfig {
            name: "foo".to_owned(),
            listen: "127.0.0.1:5431".to_owned(),
            upstream: "127.0.0.1:5432".to_owned(),
            enabled: true,
            rand_seed: None,
        };
        let input =
            "{\"name\":\"foo\",\"listen\":\"127.0.0.1:5431\",\"upstream\":\"127.0.0.1:5432\"}";
        let deserialized = from_str(&input).unwrap();
        assert_eq!(expected, deserialized);
    }
}

#[cfg(test)]
mod config_tests {
    use super::*;

    #[test]
    fn validates_name() {
        let config = ProxyConfig {
            name: "".to_owned(),
            listen: "".to_owned(),
            upstream: "".to_owned(),
            enabled: true,
            rand_seed: None,
        };
        assert_eq!(config.validate(), Err(ProxyValidateError::MissingName))
    }

    #[test]
    fn validates_listen() {
        let config = ProxyConfig {
            name: "name".to_owned(),
            listen: "".to_owned(),
            upstream: "bogus_addr".to_owned(),
            enabled: true,
            rand_seed: None,
        };
        assert_eq!(config.validate(), Err(ProxyValidateError::MissingListen))
    }

    #[test]
    fn validates_upstream() {
        let config = ProxyConfig {
            name: "name".to_owned(),
            listen: "bogus_addr".to_owned(),
            upstream: "".to_owned(),
            enabled: true,
            rand_seed: None,
        };
        assert_eq!(config.validate(), Err(ProxyValidateError::MissingUpstream))
    }

    #[test]
    fn allows_invalid_addresses() {
        let config = ProxyConfig {
            name: "name".to_owned(),
            listen: "bogus_addr".to_owned(),
            upstream: "bogus_upstream".to_owned(),
            enabled: true,
            rand_seed: None,
        };
        assert_eq!(config.validate(), Ok(()))
    }
}

#[cfg(test)]
mod relink_tests {
    use super::*;
    use crate::socket::{ReadStream, WriteStream};
    use crate::state::ToxicState;
    use crate::toxic::ToxicKind;
    use tokio_test::{assert_ok, io as test_io};

    fn toxic(name: &str, kind: ToxicKind) -> Toxic {
        Toxic {
            name: name.to_owned(),
            kind,
            direction: StreamDirection::Upstream,
            toxicity: 1.0,
        }
    }

    /// A limit_data toxic added to an open connection gets a state of its own (the original
    /// reused the connection's old state holder, which had none for it: a panic), counts from
    /// the moment it was added, keeps its count across a later relink, and closes the
    /// connection at its limit.
    #[tokio::test]
    async fn limit_data_added_to_a_live_connection() {
        let (client_read, mut client_in) = test_io::Builder::new().build_with_handle();
        let (client_write, _client_out) = test_io::Builder::new().build_with_handle();
        let (upstream_read, _upstream_in) = test_io::Builder::new().build_with_handle();
        let (upstream_write, mut upstream_out) = test_io::Builder::new().build_with_handle();
        upstream_out.write(b"hello0123456789");
        let streams = Streams {
            client_read: FramedRead::with_capacity(
                ReadStream::new(client_read),
                BytesCodec::new(),
                READ_BUFFER_SIZE,
            ),
            client_write: FramedWrite::new(WriteStream::new(client_write), BytesCodec::new()),
            upstream_read: FramedRead::with_capacity(
                ReadStream::new(upstream_read),
                BytesCodec::new(),
                READ_BUFFER_SIZE,
            ),
            upstream_write: FramedWrite::new(WriteStream::new(upstream_write), BytesCodec::new()),
        };
        let config = ProxyConfig {
            name: "foo".to_owned(),
            listen: "127.0.0.1:5431".to_owned(),
            upstream: "127.0.0.1:5432".to_owned(),
            enabled: true,
            rand_seed: None,
        };
        let state = Arc::new(ProxyState::new(Toxics::empty()));
        let (mut stop, stopper) = Stop::new();
        let addr = SocketAddr::from(([127, 0, 0, 1], 29992));
        assert_ok!(create_links(
            state.clone(),
            addr,
            &config,
            &mut stop,
            streams
        ));
        let (events, receiver) = bmrng::channel(1);
        tokio::spawn(listen_toxic_events(
            state.clone(),
            receiver,
            stop.clone(),
            Arc::new(config),
        ));
        let send = |kind| {
            let event = ToxicEvent::new("foo".to_owned(), kind);
            let events = events.clone();
            async move { events.send_receive(event).await.map_err(|_| ()) }
        };

        // Before the toxic: not counted.
        client_in.read(b"hello");
        tokio::time::sleep(Duration::from_millis(50)).await;
        let limiter = toxic("limiter", ToxicKind::LimitData { bytes: 10 });
        assert_eq!(
            Ok(Ok(())),
            send(ToxicEventKind::AddToxic(limiter.clone())).await
        );
        let holder = state.lock().clients[&addr].state_holder.clone();
        let limiter_state = holder
            .get_state_for_toxic("limiter")
            .expect("the added toxic has a state");

        client_in.read(b"01234");
        tokio::time::sleep(Duration::from_millis(50)).await;
        // Another change relinks the connection: the count so far is carried over.
        assert_eq!(
            Ok(Ok(())),
            send(ToxicEventKind::ReplaceAllToxics(Toxics {
                upstream: vec![toxic("noop", ToxicKind::Noop), limiter],
                downstream: Vec::new(),
            }))
            .await
        );
        client_in.read(b"56789abcdef");

        // 10 bytes since the toxic was added: the connection closes.
        let closed = tokio::time::timeout(Duration::from_secs(2), async {
            while !state.lock().clients.is_empty() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        assert_ok!(closed, "the connection must close at the limit");
        assert_eq!(
            ToxicState::LimitData {
                bytes_transmitted: 10
            },
            *limiter_state.lock().await
        );
        stopper.stop();
    }

    #[test]
    fn replace_all_and_remove_all_cover_both_directions() {
        let mut toxics = Toxics::empty();
        let mut down = toxic("down", ToxicKind::Noop);
        down.direction = StreamDirection::Downstream;
        let new_toxics = Toxics {
            upstream: vec![toxic("up", ToxicKind::Noop)],
            downstream: vec![down],
        };
        let event = |kind| ToxicEvent::new("foo".to_owned(), kind);
        assert_ok!(update_toxics(
            event(ToxicEventKind::ReplaceAllToxics(new_toxics.clone())),
            &mut toxics
        ));
        assert_eq!(new_toxics, toxics);
        assert_ok!(update_toxics(
            event(ToxicEventKind::RemoveAllToxics),
            &mut toxics
        ));
        assert_eq!(Toxics::empty(), toxics);
    }
}
