//! The broker's sockets: one accept loop per listener, one task per connection, all on the
//! cluster's own tokio runtime, and a graceful stop: stop accepting, tell every connection (and
//! every parked fetch), wait until they are done, then shut the runtime down.
//!
//! A cluster has one or more brokers, each with one or more listeners. A single broker can be
//! stopped (its listeners close and its connections are reset, as when a broker crashes) and
//! started again on the same ports; live connections can be dropped on demand.

use std::collections::{BTreeSet, HashMap};
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::runtime::{Handle, Runtime};
use tokio::sync::{mpsc, watch, Notify, Semaphore};

use crate::connection::{Connection, Stream};
use crate::handlers::{self, intercept, RequestContext};
use crate::logging::{events, Logger};
use crate::protocol::{self, DecodeError};
use crate::state::brokers::{Broker, Endpoint, LeaderChange, SecurityProtocol};
use crate::state::security::sasl::{Admit, Mechanism, Session, UserSpec};
use crate::state::{BrokerConfig, Cluster};
use crate::tls::TlsSettings;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};

/// A listener to open, as server.properties' `listeners` and `advertised.listeners` describe
/// one. Port 0 asks the OS for one (kept when the broker restarts).
#[derive(Debug, Clone)]
pub struct ListenerSpec {
    pub broker_id: i32,
    /// The listener's name; clients connected through it are told every broker's address on
    /// the listener of the same name. Defaults to the security protocol's name.
    pub name: String,
    pub security: SecurityProtocol,
    /// The address to bind.
    pub host: String,
    pub port: u16,
    /// The address clients are given: the bound host and port unless set (a wildcard bind
    /// host is advertised as loopback).
    pub advertised_host: Option<String>,
    pub advertised_port: Option<u16>,
}

impl ListenerSpec {
    /// A PLAINTEXT listener of `broker_id`.
    pub fn plaintext(broker_id: i32, host: &str, port: u16) -> Self {
        ListenerSpec {
            broker_id,
            name: SecurityProtocol::Plaintext.name().into(),
            security: SecurityProtocol::Plaintext,
            host: host.into(),
            port,
            advertised_host: None,
            advertised_port: None,
        }
    }

    /// The host clients are given.
    pub fn advertised_host(&self) -> String {
        self.advertised_host
            .clone()
            .unwrap_or_else(|| match self.host.as_str() {
                "0.0.0.0" | "" => "127.0.0.1".into(),
                "::" | "[::]" => "::1".into(),
                host => host.into(),
            })
    }

    fn endpoint(&self, bound_port: u16) -> Endpoint {
        Endpoint {
            listener: self.name.clone(),
            security: self.security,
            host: self.advertised_host(),
            port: self.advertised_port.unwrap_or(bound_port),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ServerOptions {
    pub cluster_id: String,
    pub config: BrokerConfig,
    pub listeners: Vec<ListenerSpec>,
    /// How many requests the request log keeps.
    pub request_log_capacity: usize,
    /// `log.retention.check.interval.ms`
    pub log_retention_check_interval: Duration,
    /// Certificates of the SSL and SASL_SSL listeners.
    pub tls: Option<TlsSettings>,
    /// Mechanisms and users of the SASL_PLAINTEXT and SASL_SSL listeners.
    pub sasl: Option<SaslSettings>,
    pub limits: ConnectionLimits,
    /// Where the cluster's log goes, and how much of it.
    pub logger: Logger,
}

/// What one client may hold of a broker: Kafka's socket-server limits.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// `max.connections`, per broker. Kafka's default is unbounded; a broker inside a test
    /// process shares that process's file descriptors, so it stops accepting well before
    /// them. Beyond it, new connections wait in the listen backlog, as on Kafka.
    pub max_connections: usize,
    /// `connections.max.idle.ms`: a connection that sends no request for this long is closed.
    pub connections_max_idle: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            connections_max_idle: Duration::from_millis(600_000),
        }
    }
}

/// The default `max.connections` of a broker here (see `ConnectionLimits`).
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;

/// `sasl.enabled.mechanisms`, the users, and `connections.max.reauth.ms`.
#[derive(Debug, Clone)]
pub struct SaslSettings {
    pub mechanisms: Vec<Mechanism>,
    /// Each user's PLAIN password and SCRAM credentials.
    pub users: Vec<UserSpec>,
    /// Sessions last this long unless the client re-authenticates (KIP-368); none: for ever.
    pub connections_max_reauth_ms: Option<i64>,
}

impl ServerOptions {
    /// Checks the cluster layout: broker ids, listener names, security protocols.
    pub fn validate(&self) -> Result<(), String> {
        if self.listeners.is_empty() {
            return Err("a cluster needs at least one listener".into());
        }
        let mut names: HashMap<i32, BTreeSet<&str>> = HashMap::new();
        for l in &self.listeners {
            if l.broker_id < 0 {
                return Err(format!("broker id {} is negative", l.broker_id));
            }
            if !names.entry(l.broker_id).or_default().insert(&l.name) {
                return Err(format!(
                    "broker {} has two listeners named {}: give each a distinct name",
                    l.broker_id, l.name
                ));
            }
            // Refuse rather than serve in clear what the listener promises to protect.
            let needs_tls = matches!(
                l.security,
                SecurityProtocol::Ssl | SecurityProtocol::SaslSsl
            );
            let needs_sasl = matches!(
                l.security,
                SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
            );
            for (needed, given, what, option) in [
                (needs_tls, self.tls.is_some(), "TLS", "tls"),
                (needs_sasl, self.sasl.is_some(), "SASL", "sasl"),
            ] {
                if needed && !given {
                    return Err(format!(
                        "listener {} of broker {} (port {}) uses {}, which needs {what} settings: start the cluster with the {option} option",
                        l.name,
                        l.broker_id,
                        l.port,
                        l.security.name()
                    ));
                }
            }
        }
        if self.sasl.as_ref().is_some_and(|s| s.mechanisms.is_empty()) {
            return Err("sasl.mechanisms is empty: enable at least one mechanism".into());
        }
        // Clients are told of every broker on the listener they connected through, so every
        // broker needs the same listeners.
        let mut layouts = names.iter();
        if let Some((first_id, first)) = layouts.next() {
            for (id, listeners) in layouts {
                if listeners != first {
                    let (a, b) = if id < first_id {
                        ((id, listeners), (first_id, first))
                    } else {
                        ((first_id, first), (id, listeners))
                    };
                    return Err(format!(
                        "broker {} has listeners {:?} but broker {} has {:?}: every broker needs the same listener names",
                        a.0, a.1, b.0, b.1
                    ));
                }
            }
        }
        Ok(())
    }

    fn broker_ids(&self) -> Vec<i32> {
        let ids: BTreeSet<i32> = self.listeners.iter().map(|l| l.broker_id).collect();
        ids.into_iter().collect()
    }
}

/// A broker's listeners and, while it runs, how to stop it.
struct BrokerHandle {
    id: i32,
    /// Its listeners, with the port each is bound to once bound.
    listeners: Vec<ListenerSpec>,
    running: Option<RunningBroker>,
    /// While stopped: its ports, bound but not listening. Connections are refused as by a
    /// crashed broker, yet no other socket (an outgoing connection's ephemeral port, say) can
    /// take a port the OS picked for it, so it starts again on the same ones.
    reserved: Vec<TcpSocket>,
}

struct RunningBroker {
    /// Flips to true to close the broker's listeners and reset its connections.
    down: watch::Sender<bool>,
    /// Closes when every accept loop and connection of the broker has finished.
    done: mpsc::Receiver<()>,
}

/// Which live connections `disconnect` drops.
#[derive(Debug, Clone, Default)]
pub struct ConnectionFilter {
    pub broker: Option<i32>,
    pub client_id: Option<String>,
}

/// A running cluster: its runtime, its state and its brokers' listeners.
pub struct Server {
    runtime: Mutex<Option<Runtime>>,
    /// Let go of on stop: a handle keeps the runtime's I/O driver (its epoll and event file
    /// descriptors) open for as long as it lives, and JS may hold a stopped cluster for long.
    handle: Mutex<Option<Handle>>,
    cluster: Arc<Cluster>,
    shutdown: watch::Sender<bool>,
    /// Held by every task; the server's own copy is dropped on stop.
    done_tx: Mutex<Option<mpsc::Sender<()>>>,
    /// Closes when every accept loop and connection task has finished.
    done: Mutex<Option<mpsc::Receiver<()>>>,
    brokers: Mutex<Vec<BrokerHandle>>,
    connections: Arc<Connections>,
    tls: Option<TlsSettings>,
    max_reauth_ms: Option<i64>,
    limits: ConnectionLimits,
}

/// How long stopping waits for connections to finish their current request.
const STOP_GRACE: Duration = Duration::from_secs(2);

impl Server {
    /// Binds every listener and starts serving. Fails (and leaves nothing running) if any
    /// listener cannot bind.
    pub fn start(options: ServerOptions) -> std::io::Result<Server> {
        options
            .validate()
            .map_err(|m| std::io::Error::new(std::io::ErrorKind::InvalidInput, m))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("kafka-emulator")
            .enable_all()
            .build()?;
        let mut cluster = Cluster::new(options.cluster_id.clone(), options.config.clone());
        if let Some(sasl) = &options.sasl {
            cluster.credentials.mechanisms = sasl.mechanisms.clone();
            for user in &sasl.users {
                cluster.credentials.add(user);
            }
        }
        cluster.logger = options.logger.clone();
        let cluster = Arc::new(cluster);
        cluster
            .faults
            .set_log_capacity(options.request_log_capacity);
        let (shutdown, _) = watch::channel(false);
        let (done_tx, done_rx) = mpsc::channel::<()>(1);

        let mut brokers = Vec::new();
        let mut bound = Vec::new();
        for id in options.broker_ids() {
            let mut listeners: Vec<ListenerSpec> = options
                .listeners
                .iter()
                .filter(|l| l.broker_id == id)
                .cloned()
                .collect();
            bound.push(runtime.block_on(bind(&mut listeners))?);
            brokers.push(BrokerHandle {
                id,
                listeners,
                running: None,
                reserved: Vec::new(),
            });
        }
        let maintenance = cluster.clone();
        let mut maintenance_shutdown = shutdown.subscribe();
        let maintenance_done = done_tx.clone();
        let interval = options.log_retention_check_interval;
        runtime.spawn(async move {
            // Retention and compaction run periodically, as Kafka's log manager does
            // (log.retention.check.interval.ms); tests can also force a run.
            let mut ticks = tokio::time::interval(interval);
            ticks.tick().await;
            loop {
                tokio::select! {
                    _ = ticks.tick() => {
                        maintenance.run_log_maintenance(crate::state::now_ms());
                    }
                    _ = maintenance_shutdown.changed() => break,
                }
            }
            drop(maintenance_done);
        });
        let logger = cluster.logger.clone();
        let mut logger_shutdown = shutdown.subscribe();
        let logger_done = done_tx.clone();
        runtime.spawn(async move {
            // Summaries of rate-limited events are written once their window is over, even if
            // no event of the kind follows.
            let mut ticks = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    _ = ticks.tick() => logger.flush(),
                    _ = logger_shutdown.changed() => break,
                }
            }
            drop(logger_done);
        });
        let timers = cluster.clone();
        let timers_shutdown = shutdown.subscribe();
        let timers_done = done_tx.clone();
        runtime.spawn(async move {
            timers.groups.run_timers(timers_shutdown).await;
            drop(timers_done);
        });
        let txn_timers = cluster.clone();
        let txn_timers_shutdown = shutdown.subscribe();
        let txn_timers_done = done_tx.clone();
        runtime.spawn(async move {
            let cluster = &txn_timers;
            cluster
                .txns
                .run_timers(&cluster.topics, &cluster.groups, txn_timers_shutdown)
                .await;
            drop(txn_timers_done);
        });
        let server = Server {
            handle: Mutex::new(Some(runtime.handle().clone())),
            runtime: Mutex::new(Some(runtime)),
            cluster,
            shutdown,
            done_tx: Mutex::new(Some(done_tx)),
            done: Mutex::new(Some(done_rx)),
            brokers: Mutex::new(Vec::new()),
            connections: Arc::default(),
            tls: options.tls.clone(),
            max_reauth_ms: options
                .sasl
                .as_ref()
                .and_then(|s| s.connections_max_reauth_ms),
            limits: options.limits,
        };
        for (mut broker, sockets) in brokers.into_iter().zip(bound) {
            server.register(&broker, true);
            broker.running = server.spawn_broker(&broker, sockets);
            server.brokers.lock().push(broker);
        }
        Ok(server)
    }

    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
    }

    /// The TLS settings of the SSL and SASL_SSL listeners, if any.
    pub fn tls(&self) -> Option<&TlsSettings> {
        self.tls.as_ref()
    }

    /// Runs a task on the cluster's runtime, for work started from outside (waits for
    /// records). A task spawned after `stop` is dropped at once.
    pub fn spawn<F>(&self, task: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        if let Some(handle) = self.handle.lock().as_ref() {
            handle.spawn(task);
        }
    }

    /// Flips to true when the cluster stops.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Runs `future` to completion on the cluster's runtime, from a thread outside it; `None`
    /// once the cluster is stopped. Holding the runtime meanwhile keeps `stop` from shutting it
    /// down under the future.
    fn block_on<F: std::future::Future>(&self, future: F) -> Option<F::Output> {
        let runtime = self.runtime.lock();
        Some(runtime.as_ref()?.block_on(future))
    }

    /// Every broker with its listeners' advertised addresses, up or down.
    pub fn brokers(&self) -> Vec<Broker> {
        self.cluster.all_brokers()
    }

    /// Registers a broker with the controller (again, after an UnregisterBroker), live or not.
    fn register(&self, broker: &BrokerHandle, alive: bool) {
        self.cluster.register_broker(Broker {
            node_id: broker.id,
            rack: None,
            endpoints: broker
                .listeners
                .iter()
                .map(|l| l.endpoint(l.port))
                .collect(),
            alive,
        });
    }

    /// Starts the accept loops of a broker whose listeners are bound.
    fn spawn_broker(
        &self,
        broker: &BrokerHandle,
        sockets: Vec<TcpListener>,
    ) -> Option<RunningBroker> {
        let done_tx = self.done_tx.lock().clone()?;
        let (down, _) = watch::channel(false);
        let (broker_done_tx, broker_done) = mpsc::channel::<()>(1);
        // Shared by the broker's listeners: max.connections counts the broker's connections.
        let slots = Arc::new(Semaphore::new(self.limits.max_connections));
        for (spec, listener) in broker.listeners.iter().zip(sockets) {
            self.spawn(accept_loop(
                listener,
                Listening {
                    cluster: self.cluster.clone(),
                    broker_id: broker.id,
                    listener: Arc::from(spec.name.as_str()),
                    security: spec.security,
                    tls: match spec.security {
                        SecurityProtocol::Ssl | SecurityProtocol::SaslSsl => {
                            self.tls.as_ref().map(TlsSettings::acceptor)
                        }
                        _ => None,
                    },
                    max_reauth_ms: self.max_reauth_ms,
                    shutdown: self.shutdown.subscribe(),
                    down: down.subscribe(),
                    connections: self.connections.clone(),
                    slots: slots.clone(),
                    idle: self.limits.connections_max_idle,
                    _done: (done_tx.clone(), broker_done_tx.clone()),
                },
            ));
        }
        Some(RunningBroker {
            down,
            done: broker_done,
        })
    }

    /// Stops one broker as if it crashed: its partitions elect new leaders and Metadata stops
    /// listing it, then its listeners close and its connections are reset. Returns once they
    /// are. Stopping a stopped broker does nothing.
    pub fn stop_broker(&self, id: i32) -> Result<Vec<LeaderChange>, (ResponseError, String)> {
        let changes = match self.cluster.stop_broker(id) {
            Ok(changes) => changes,
            // Unregistered, it has no partitions left to hand over; its listeners still close.
            Err(_) if self.brokers.lock().iter().any(|b| b.id == id) => Vec::new(),
            Err(e) => return Err(e),
        };
        let running = {
            let mut brokers = self.brokers.lock();
            brokers
                .iter_mut()
                .find(|b| b.id == id)
                .and_then(|b| b.running.take())
        };
        if let Some(mut running) = running {
            let _ = running.down.send(true);
            self.block_on(async {
                let _ = tokio::time::timeout(STOP_GRACE, running.done.recv()).await;
            });
            let mut brokers = self.brokers.lock();
            if let Some(broker) = brokers.iter_mut().find(|b| b.id == id) {
                broker.reserved = reserve(&broker.listeners);
            }
        }
        Ok(changes)
    }

    /// Starts a stopped broker again on the same ports; it leads the partitions left without a
    /// leader. Starting a running broker does nothing.
    pub fn start_broker(&self, id: i32) -> Result<Vec<LeaderChange>, (ResponseError, String)> {
        let mut brokers = self.brokers.lock();
        let Some(broker) = brokers.iter_mut().find(|b| b.id == id) else {
            return Err((
                ResponseError::BrokerNotAvailable,
                format!("there is no broker {id} in this cluster"),
            ));
        };
        // Unregistered (UnregisterBroker), a broker registers again when it starts, as Kafka's
        // does; one that kept running registers again at a reset.
        let registered = self.cluster.is_registered(id);
        if broker.running.is_some() {
            if !registered {
                self.register(broker, false);
                return self.cluster.start_broker(id);
            }
            return Ok(Vec::new());
        }
        let reserved = std::mem::take(&mut broker.reserved);
        let sockets = self
            .block_on(async {
                if reserved.len() == broker.listeners.len() {
                    reserved
                        .into_iter()
                        .map(|socket| socket.listen(LISTEN_BACKLOG))
                        .collect()
                } else {
                    bind(&mut broker.listeners).await
                }
            })
            .ok_or_else(|| {
                (
                    ResponseError::BrokerNotAvailable,
                    "the cluster is stopped".to_string(),
                )
            })?
            .map_err(|e| {
                (
                    ResponseError::BrokerNotAvailable,
                    format!("broker {id} cannot listen again: {e}"),
                )
            })?;
        if !registered {
            self.register(broker, false);
        }
        let changes = self.cluster.start_broker(id)?;
        broker.running = self.spawn_broker(broker, sockets);
        if broker.running.is_none() {
            return Err((
                ResponseError::BrokerNotAvailable,
                "the cluster is stopped".into(),
            ));
        }
        Ok(changes)
    }

    /// Brings the cluster back to how it started, in place: stopped brokers start again, and
    /// every topic, group, fault and logged request is gone (`control::reset`).
    pub fn reset(&self) -> Result<(), (ResponseError, String)> {
        let ids: Vec<i32> = self.brokers.lock().iter().map(|b| b.id).collect();
        for id in ids {
            self.start_broker(id)?;
        }
        crate::control::reset(&self.cluster);
        Ok(())
    }

    /// Ids of the stopped brokers.
    pub fn stopped_brokers(&self) -> Vec<i32> {
        self.brokers
            .lock()
            .iter()
            .filter(|b| b.running.is_none())
            .map(|b| b.id)
            .collect()
    }

    /// Resets the live connections matching `filter` (clients must reconnect) and returns once
    /// they are closed, with how many there were.
    pub fn disconnect(&self, filter: &ConnectionFilter) -> usize {
        let killed = self.connections.kill(filter);
        let count = killed.len();
        let connections = self.connections.clone();
        self.block_on(async move {
            let closed = connections.wait_closed(&killed);
            let _ = tokio::time::timeout(STOP_GRACE, closed).await;
        });
        count
    }

    /// Stops the cluster and releases its ports and threads. Blocks until done; calling it
    /// again is a no-op.
    pub fn stop(&self) {
        let Some(runtime) = self.runtime.lock().take() else {
            return;
        };
        let _ = self.shutdown.send(true);
        self.done_tx.lock().take();
        if let Some(mut done) = self.done.lock().take() {
            // Connections finish their current request (a parked fetch answers at once); one
            // stuck writing to a client that does not read is cut off by the runtime shutdown.
            runtime.block_on(async {
                let _ = tokio::time::timeout(STOP_GRACE, done.recv()).await;
            });
        }
        runtime.shutdown_timeout(Duration::from_secs(1));
        self.handle.lock().take();
        // Last, so that what the closing connections logged is summarised.
        self.cluster.logger.close();
    }

    /// Whether `stop` has been called.
    pub fn is_stopped(&self) -> bool {
        self.runtime.lock().is_none()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.lock().take() {
            let _ = self.shutdown.send(true);
            runtime.shutdown_background();
        }
        self.handle.lock().take();
        self.cluster.logger.close();
    }
}

/// Binds a broker's listeners, recording the ports the OS picked so a restart reuses them.
/// The listen backlog of a broker's sockets (what std and tokio use for `bind`).
const LISTEN_BACKLOG: u32 = 1024;

/// Binds each listener's port again without listening (see `BrokerHandle::reserved`); a port
/// that cannot be bound is left out, and the broker then binds afresh when it starts.
fn reserve(listeners: &[ListenerSpec]) -> Vec<TcpSocket> {
    let reserve_one = |spec: &ListenerSpec| -> std::io::Result<TcpSocket> {
        use std::net::ToSocketAddrs;
        let addr = (spec.host.as_str(), spec.port)
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::AddrNotAvailable))?;
        let socket = || {
            if addr.is_ipv4() {
                TcpSocket::new_v4()
            } else {
                TcpSocket::new_v6()
            }
        };
        // Without SO_REUSEADDR no other socket can bind the port at all; that fails while
        // closed connections of the port linger in TIME_WAIT, and then a reuse-address socket
        // (as std's and tokio's listeners are on Unix) still keeps ephemeral ports off it.
        let exclusive = socket()?;
        if exclusive.bind(addr).is_ok() {
            return Ok(exclusive);
        }
        let shared = socket()?;
        #[cfg(unix)]
        shared.set_reuseaddr(true)?;
        shared.bind(addr)?;
        Ok(shared)
    };
    listeners
        .iter()
        .map(reserve_one)
        .collect::<std::io::Result<Vec<_>>>()
        .unwrap_or_default()
}

async fn bind(listeners: &mut [ListenerSpec]) -> std::io::Result<Vec<TcpListener>> {
    let mut sockets = Vec::with_capacity(listeners.len());
    for spec in listeners.iter_mut() {
        let socket = TcpListener::bind((spec.host.as_str(), spec.port))
            .await
            .map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!(
                        "kafka-emulator cannot listen on {}:{}: {e}",
                        spec.host, spec.port
                    ),
                )
            })?;
        spec.port = socket.local_addr()?.port();
        sockets.push(socket);
    }
    Ok(sockets)
}

/// What an accept loop hands each of its connections.
#[derive(Clone)]
struct Listening {
    cluster: Arc<Cluster>,
    broker_id: i32,
    listener: Arc<str>,
    security: SecurityProtocol,
    /// Set on SSL and SASL_SSL listeners.
    tls: Option<tokio_rustls::TlsAcceptor>,
    max_reauth_ms: Option<i64>,
    shutdown: watch::Receiver<bool>,
    down: watch::Receiver<bool>,
    connections: Arc<Connections>,
    /// One permit a connection of the broker (max.connections).
    slots: Arc<Semaphore>,
    /// connections.max.idle.ms
    idle: Duration,
    /// Held until the task ends: the cluster's and the broker's "all done" channels.
    _done: (mpsc::Sender<()>, mpsc::Sender<()>),
}

async fn accept_loop(listener: TcpListener, listening: Listening) {
    accept_until_down(&listener, &listening).await;
    // The port closes before `listening` lets go of the broker's "done" sender: stop_broker
    // then finds it free to reserve, and no one else can take it in between.
    drop(listener);
    drop(listening);
}

async fn accept_until_down(listener: &TcpListener, listening: &Listening) {
    let mut shutdown = listening.shutdown.clone();
    let mut down = listening.down.clone();
    loop {
        // At max.connections the broker stops accepting until a connection closes.
        let slot = tokio::select! {
            slot = listening.slots.clone().acquire_owned() => slot,
            _ = shutdown.changed() => return,
            _ = down.wait_for(|down| *down) => return,
        };
        let Ok(slot) = slot else { return };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.changed() => return,
            _ = down.wait_for(|down| *down) => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                let logger = &listening.cluster.logger;
                if logger.enabled(events::CONNECTION_ACCEPTED.level) {
                    let peer = peer.to_string();
                    logger.log(&events::CONNECTION_ACCEPTED, Some(&peer), || {
                        format!(
                            "broker {} accepted a connection from {peer} on listener {}",
                            listening.broker_id, listening.listener
                        )
                    });
                }
                let listening = listening.clone();
                tokio::spawn(async move {
                    serve(stream, listening).await;
                    drop(slot);
                });
            }
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                listening
                    .cluster
                    .logger
                    .log(&events::ACCEPT_FAILED, None, || {
                        format!(
                            "broker {} cannot accept connections on listener {}: {e}",
                            listening.broker_id, listening.listener
                        )
                    });
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Serves one connection until the client leaves, the broker stops, or it is dropped on
/// purpose; the last two reset it.
async fn serve(stream: TcpStream, listening: Listening) {
    let entry = listening.connections.register(listening.broker_id);
    let mut down = listening.down.clone();
    let mut shutdown = listening.shutdown.clone();
    let stream = match &listening.tls {
        None => Stream::Plain(stream),
        Some(acceptor) => {
            let peer = stream
                .peer_addr()
                .map_or_else(|_| "unknown peer".to_string(), |a| a.to_string());
            let accepted = tokio::select! {
                accepted = acceptor.accept(stream) => accepted,
                _ = entry.kill.notified() => return,
                _ = down.wait_for(|down| *down) => return,
                _ = shutdown.changed() => return,
            };
            match accepted {
                Ok(tls) => Stream::Tls(Box::new(tls)),
                Err(e) => {
                    let logger = &listening.cluster.logger;
                    logger.log(&events::TLS_HANDSHAKE_FAILED, Some(&peer), || {
                        format!("TLS handshake with {peer} failed: {e}")
                    });
                    return;
                }
            }
        }
    };
    let mut conn = Connection::new(stream);
    let reset = tokio::select! {
        reset = serve_requests(&mut conn, &listening, &entry) => reset,
        _ = entry.kill.notified() => true,
        _ = down.wait_for(|down| *down) => true,
    };
    if reset {
        conn.reset_on_close();
    }
}

/// Requests are handled one at a time and answered in order, as Kafka does. A frame that cannot
/// be decoded closes this connection only. Returns whether the connection should be reset.
async fn serve_requests(
    conn: &mut Connection,
    listening: &Listening,
    entry: &ConnectionEntry,
) -> bool {
    let peer_addr = conn.peer_addr();
    let peer = peer_addr.map_or_else(|| "unknown peer".to_string(), |a| a.to_string());
    let client_host = peer_addr.map_or_else(String::new, |a| format!("/{}", a.ip()));
    let sasl = matches!(
        listening.security,
        SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
    );
    // SASL listeners name the SASL user once authenticated; SSL ones the client certificate's
    // subject, if the client presented one.
    let mut principal: Arc<str> = match conn.peer_certificate().filter(|_| !sasl) {
        Some(cert) => crate::tls::principal(cert)
            .map_or_else(|| handlers::ANONYMOUS.into(), |p| Arc::from(p.as_str())),
        None => handlers::ANONYMOUS.into(),
    };
    entry.set_principal(&principal);
    let mut session = sasl.then(|| Session::new(listening.max_reauth_ms));
    let mut shutdown = listening.shutdown.clone();
    let logger = &listening.cluster.logger;
    while !*shutdown.borrow() {
        let frame = tokio::select! {
            frame = conn.read_frame() => frame,
            _ = shutdown.changed() => return false,
            // connections.max.idle.ms: Kafka's selector closes connections idle this long.
            _ = tokio::time::sleep(listening.idle) => return false,
        };
        let frame = match frame {
            Ok(Some(frame)) => frame,
            Ok(None) => {
                logger.log(&events::CONNECTION_CLOSED, Some(&peer), || {
                    format!("connection from {peer} closed by the client")
                });
                return false;
            }
            Err(crate::connection::FrameError::Io(e)) => {
                logger.log(&events::CONNECTION_CLOSED, Some(&peer), || {
                    format!("connection from {peer} closed: {e}")
                });
                return false;
            }
            Err(e) => {
                logger.log(&events::MALFORMED_FRAME, Some(&peer), || {
                    format!("closing connection from {peer}: {e}")
                });
                return false;
            }
        };
        if let Some(session) = session.as_mut().filter(|s| s.expects_raw_token()) {
            let now = crate::state::now_ms();
            let cluster = &listening.cluster;
            let answer = handlers::sasl::raw_token(cluster, session, &frame, now);
            log_token_refusal(logger, session, &peer);
            match answer {
                Ok(token) => {
                    if conn.write_token(&token).await.is_err() {
                        return false;
                    }
                    if let Some(user) = session.user() {
                        principal = Arc::from(format!("User:{user}").as_str());
                        entry.set_principal(&principal);
                    }
                    continue;
                }
                Err(message) => {
                    logger.log(&events::AUTHENTICATION_FAILED, Some(&peer), || {
                        format!("SASL authentication from {peer} failed: {message}")
                    });
                    return false;
                }
            }
        }
        let (api_key, header, served) =
            match protocol::decode_request(frame, handlers::supported_versions) {
                Ok(request) => {
                    let admit = session.as_ref().map_or(Admit::Serve, |s| {
                        s.admit(request.api_key, crate::state::now_ms())
                    });
                    if let Admit::Close(reason) = admit {
                        logger.log(&events::SASL_CONNECTION_CLOSED, Some(&peer), || {
                            format!("closing connection from {peer}: {reason}")
                        });
                        return false;
                    }
                    let ctx = RequestContext {
                        cluster: listening.cluster.clone(),
                        broker_id: listening.broker_id,
                        header: request.header,
                        client_host: client_host.clone(),
                        principal: principal.clone(),
                        token_authenticated: session
                            .as_ref()
                            .is_some_and(|s| s.token_authenticated()),
                        listener: listening.listener.clone(),
                        connection_id: entry.id,
                        shutdown: shutdown.clone(),
                    };
                    entry.set_client_id(ctx.client_id());
                    if let Admit::Refuse(reason) = &admit {
                        logger.log(&events::SASL_CONNECTION_CLOSED, Some(&peer), || {
                            format!("closing connection from {peer}: {reason}")
                        });
                        let refused =
                            handlers::sasl::refused_mid_login(&ctx, &request.body, reason);
                        if let Some(response) = refused {
                            let encoded = protocol::encode_response(
                                request.api_key,
                                ctx.version(),
                                ctx.header.correlation_id,
                                &response,
                            );
                            if let Ok(bytes) = encoded {
                                let _ = conn.write_frame(&bytes).await;
                            }
                        }
                        return false;
                    }
                    if let (Admit::Exchange, Some(session)) = (admit, session.as_mut()) {
                        let (response, close) =
                            sasl_exchange(&ctx, request.api_key, request.body, session, &peer);
                        if let Some(user) = session.user() {
                            principal = Arc::from(format!("User:{user}").as_str());
                            entry.set_principal(&principal);
                        }
                        let encoded = protocol::encode_response(
                            request.api_key,
                            ctx.version(),
                            ctx.header.correlation_id,
                            &response,
                        );
                        let Ok(bytes) = encoded else {
                            return false;
                        };
                        // A failed exchange closes the connection once its answer is sent:
                        // gracefully, so that the client reads why.
                        if conn.write_frame(&bytes).await.is_err() || close {
                            return false;
                        }
                        continue;
                    }
                    let served = intercept::serve(&ctx, request.api_key, request.body).await;
                    (request.api_key, ctx.header, served)
                }
                Err(DecodeError::UnsupportedVersion {
                    api_key: ApiKey::ApiVersions,
                    mut header,
                }) => {
                    // Answered at v0 so that any client can read which versions we do speak.
                    header.request_api_version = 0;
                    let response =
                        ResponseKind::ApiVersions(handlers::unsupported_version_response());
                    let served = intercept::Served {
                        response: Some(response),
                        close: false,
                    };
                    (ApiKey::ApiVersions, header, served)
                }
                Err(e) => {
                    logger.log(&events::MALFORMED_FRAME, Some(&peer), || {
                        format!("closing connection from {peer}: {e}")
                    });
                    return false;
                }
            };
        if let Some(response) = served.response {
            let encoded = protocol::encode_response(
                api_key,
                header.request_api_version,
                header.correlation_id,
                &response,
            );
            match encoded {
                Ok(bytes) => {
                    if conn.write_frame(&bytes).await.is_err() {
                        return false;
                    }
                }
                Err(e) => {
                    logger.log(&events::ENCODE_FAILED, Some(&peer), || {
                        format!("cannot encode {api_key:?} response for {peer}: {e}")
                    });
                    return false;
                }
            }
        }
        if served.close {
            return true;
        }
    }
    false
}

/// Serves SaslHandshake or SaslAuthenticate on a SASL listener; true in the second place when
/// the connection closes once the response is sent. The exchange shows in the request log like
/// any request, but faults are not injected into it.
fn sasl_exchange(
    ctx: &RequestContext,
    api_key: ApiKey,
    body: RequestKind,
    session: &mut Session,
    peer: &str,
) -> (ResponseKind, bool) {
    let started = std::time::Instant::now();
    let timestamp_ms = crate::state::now_ms();
    let (response, close) = match body {
        RequestKind::SaslHandshake(req) => {
            let reply = handlers::sasl::handshake(ctx, req, session);
            (ResponseKind::SaslHandshake(reply.response), reply.close)
        }
        RequestKind::SaslAuthenticate(req) => {
            let reply = handlers::sasl::authenticate(ctx, req, session, crate::state::now_ms());
            let logger = &ctx.cluster.logger;
            log_token_refusal(logger, session, peer);
            if let Some(message) = reply
                .response
                .error_message
                .as_deref()
                .filter(|_| reply.close)
            {
                logger.log(&events::AUTHENTICATION_FAILED, Some(peer), || {
                    format!("SASL authentication from {peer} failed: {message}")
                });
            }
            (ResponseKind::SaslAuthenticate(reply.response), reply.close)
        }
        // `Session::admit` lets nothing else through as part of the exchange.
        _ => unreachable!("only SASL requests are exchanged"),
    };
    ctx.cluster.faults.record(crate::faults::RequestRecord {
        api: api_key,
        version: ctx.version(),
        correlation_id: ctx.header.correlation_id,
        client_id: Arc::from(ctx.client_id()),
        broker_id: ctx.broker_id,
        connection_id: ctx.connection_id,
        error_code: handlers::error_response::error_code(&response),
        injected: false,
        timestamp_ms,
        duration: started.elapsed(),
    });
    (response, close)
}

/// Kafka logs why it refused an OAUTHBEARER token; the client is told only the status.
fn log_token_refusal(logger: &Logger, session: &mut Session, peer: &str) {
    if let Some(reason) = session.take_token_refusal() {
        logger.log(&events::TOKEN_REFUSED, Some(peer), || {
            format!("OAUTHBEARER token from {peer} refused: {reason}")
        });
    }
}

/// The live connections, so that tests can drop them.
#[derive(Default)]
struct Connections {
    next_id: AtomicU64,
    live: Mutex<HashMap<u64, Arc<ConnectionState>>>,
    /// Fired whenever a connection closes.
    closed: Notify,
}

struct ConnectionState {
    broker_id: i32,
    /// The client id of its latest request.
    client_id: Mutex<Option<Arc<str>>>,
    /// Who it authenticated as (`User:ANONYMOUS` until it does).
    principal: Mutex<Arc<str>>,
    kill: Notify,
}

/// A registered connection; unregisters it when the connection task ends.
struct ConnectionEntry {
    id: u64,
    state: Arc<ConnectionState>,
    registry: Arc<Connections>,
}

impl std::ops::Deref for ConnectionEntry {
    type Target = ConnectionState;
    fn deref(&self) -> &ConnectionState {
        &self.state
    }
}

impl ConnectionState {
    fn set_principal(&self, principal: &Arc<str>) {
        *self.principal.lock() = principal.clone();
    }

    fn set_client_id(&self, client_id: &str) {
        let mut current = self.client_id.lock();
        if current.as_deref() != Some(client_id) {
            *current = Some(Arc::from(client_id));
        }
    }
}

impl Drop for ConnectionEntry {
    fn drop(&mut self) {
        self.registry.live.lock().remove(&self.id);
        self.registry.closed.notify_waiters();
    }
}

impl Connections {
    fn register(self: &Arc<Self>, broker_id: i32) -> ConnectionEntry {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let state = Arc::new(ConnectionState {
            broker_id,
            client_id: Mutex::new(None),
            principal: Mutex::new(handlers::ANONYMOUS.into()),
            kill: Notify::new(),
        });
        self.live.lock().insert(id, state.clone());
        ConnectionEntry {
            id,
            state,
            registry: self.clone(),
        }
    }

    /// Tells every matching connection to reset; returns their ids.
    fn kill(&self, filter: &ConnectionFilter) -> Vec<u64> {
        self.live
            .lock()
            .iter()
            .filter(|(_, c)| filter.broker.is_none_or(|b| b == c.broker_id))
            .filter(|(_, c)| {
                filter
                    .client_id
                    .as_deref()
                    .is_none_or(|wanted| c.client_id.lock().as_deref() == Some(wanted))
            })
            .map(|(&id, c)| {
                // A stored permit: a connection between two awaits still sees it.
                c.kill.notify_one();
                id
            })
            .collect()
    }

    async fn wait_closed(&self, ids: &[u64]) {
        loop {
            let mut closed = pin!(self.closed.notified());
            closed.as_mut().enable();
            if ids.iter().all(|id| !self.live.lock().contains_key(id)) {
                return;
            }
            closed.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(listeners: Vec<ListenerSpec>) -> ServerOptions {
        ServerOptions {
            cluster_id: "test".into(),
            config: BrokerConfig::default(),
            listeners,
            request_log_capacity: 10,
            log_retention_check_interval: Duration::from_secs(300),
            tls: None,
            sasl: None,
            limits: Default::default(),
            logger: Logger::default(),
        }
    }

    fn named(broker_id: i32, name: &str) -> ListenerSpec {
        ListenerSpec {
            name: name.into(),
            ..ListenerSpec::plaintext(broker_id, "127.0.0.1", 0)
        }
    }

    #[test]
    fn every_broker_needs_the_same_listener_names() {
        assert!(options(vec![
            named(0, "A"),
            named(0, "B"),
            named(1, "B"),
            named(1, "A")
        ])
        .validate()
        .is_ok());
        let err = options(vec![named(0, "A"), named(1, "B")])
            .validate()
            .unwrap_err();
        assert!(err.contains("same listener names"), "{err}");
        let err = options(vec![named(0, "A"), named(0, "A")])
            .validate()
            .unwrap_err();
        assert!(err.contains("two listeners named A"), "{err}");
        assert!(options(vec![]).validate().is_err());
    }

    #[test]
    fn tls_and_sasl_listeners_need_their_settings() {
        let listener = |security| ListenerSpec {
            security,
            ..named(0, security.name())
        };
        let err = options(vec![named(0, "PLAINTEXT"), listener(SecurityProtocol::Ssl)])
            .validate()
            .unwrap_err();
        assert!(err.contains("uses SSL, which needs TLS settings"), "{err}");
        let err = options(vec![listener(SecurityProtocol::SaslPlaintext)])
            .validate()
            .unwrap_err();
        assert!(err.contains("needs SASL settings"), "{err}");
        let sasl = SaslSettings {
            mechanisms: vec![Mechanism::Plain],
            users: vec![],
            connections_max_reauth_ms: None,
        };
        let with_sasl = ServerOptions {
            sasl: Some(sasl.clone()),
            ..options(vec![listener(SecurityProtocol::SaslPlaintext)])
        };
        assert!(with_sasl.validate().is_ok());
        let err = ServerOptions {
            sasl: Some(sasl),
            ..options(vec![listener(SecurityProtocol::SaslSsl)])
        }
        .validate()
        .unwrap_err();
        assert!(err.contains("needs TLS settings"), "{err}");
    }

    #[test]
    fn a_wildcard_bind_is_advertised_as_loopback() {
        let spec = ListenerSpec::plaintext(0, "0.0.0.0", 0);
        assert_eq!(spec.endpoint(9092).host, "127.0.0.1");
        let spec = ListenerSpec {
            advertised_host: Some("kafka.local".into()),
            advertised_port: Some(19092),
            ..spec
        };
        assert_eq!(
            (spec.endpoint(9092).host.as_str(), spec.endpoint(9092).port),
            ("kafka.local", 19092)
        );
    }

    #[test]
    fn a_stopped_broker_refuses_connections_and_restarts_on_its_port() {
        let server = Server::start(options(vec![
            ListenerSpec::plaintext(0, "127.0.0.1", 0),
            ListenerSpec::plaintext(1, "127.0.0.1", 0),
        ]))
        .unwrap();
        let port = server.brokers()[1].endpoints[0].port;
        let connect = || std::net::TcpStream::connect(("127.0.0.1", port));
        let open = connect().unwrap();
        server.stop_broker(1).unwrap();
        // A connect to a closed port in the ephemeral range can, rarely, connect the socket to
        // itself (TCP simultaneous open): that is not a listener.
        let refused = match connect() {
            Err(_) => true,
            Ok(stream) => stream.local_addr().is_ok_and(|a| a.port() == port),
        };
        assert!(refused, "the port is closed");
        // The open connection was reset.
        use std::io::Read;
        let mut buf = [0u8; 1];
        assert!(matches!((&open).read(&mut buf), Ok(0) | Err(_)));
        assert_eq!(server.stopped_brokers(), vec![1]);
        assert_eq!(server.cluster().brokers().len(), 1);
        server.start_broker(1).unwrap();
        assert!(connect().is_ok());
        assert_eq!(server.cluster().brokers().len(), 2);
        server.stop();
    }

    /// A connection that has had an ApiVersions request answered.
    fn connected(port: u16, client_id: &str) -> std::net::TcpStream {
        use bytes::BufMut;
        use kafka_protocol::messages::{ApiVersionsRequest, RequestHeader};
        use kafka_protocol::protocol::{encode_request_header_into_buffer, Encodable, StrBytes};
        use std::io::{Read, Write};
        let header = RequestHeader::default()
            .with_request_api_key(ApiKey::ApiVersions as i16)
            .with_request_api_version(0)
            .with_correlation_id(1)
            .with_client_id(Some(StrBytes::from_string(client_id.into())));
        let mut frame = bytes::BytesMut::new();
        frame.put_i32(0);
        encode_request_header_into_buffer(&mut frame, &header).unwrap();
        ApiVersionsRequest::default().encode(&mut frame, 0).unwrap();
        let len = (frame.len() - 4) as i32;
        frame[..4].copy_from_slice(&len.to_be_bytes());
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.write_all(&frame).unwrap();
        let mut len = [0u8; 4];
        stream.read_exact(&mut len).unwrap();
        let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
        stream.read_exact(&mut body).unwrap();
        stream
    }

    #[test]
    fn disconnect_resets_matching_connections_only() {
        let server = Server::start(options(vec![
            ListenerSpec::plaintext(0, "127.0.0.1", 0),
            ListenerSpec::plaintext(1, "127.0.0.1", 0),
        ]))
        .unwrap();
        let brokers = server.brokers();
        // A served request proves each connection is registered.
        let a = connected(brokers[0].endpoints[0].port, "a");
        let _b = connected(brokers[1].endpoints[0].port, "b");
        let registered = || server.connections.live.lock().len();
        assert_eq!(registered(), 2);
        assert_eq!(
            server.disconnect(&ConnectionFilter {
                broker: None,
                client_id: Some("nobody".into()),
            }),
            0
        );
        let dropped = server.disconnect(&ConnectionFilter {
            broker: Some(0),
            client_id: None,
        });
        assert_eq!(dropped, 1);
        use std::io::Read;
        let mut buf = [0u8; 1];
        assert!(matches!((&a).read(&mut buf), Ok(0) | Err(_)));
        assert_eq!(registered(), 1);
        server.stop();
    }

    /// Writes a request frame and reads the response frame (without its length prefix).
    fn round_trip(
        stream: &mut (impl std::io::Read + std::io::Write),
        api_key: ApiKey,
        version: i16,
        body: &RequestKind,
    ) -> Vec<u8> {
        use bytes::BufMut;
        use kafka_protocol::messages::RequestHeader;
        use kafka_protocol::protocol::{encode_request_header_into_buffer, StrBytes};
        let header = RequestHeader::default()
            .with_request_api_key(api_key as i16)
            .with_request_api_version(version)
            .with_correlation_id(1)
            .with_client_id(Some(StrBytes::from_static_str("test")));
        let mut frame = bytes::BytesMut::new();
        frame.put_i32(0);
        encode_request_header_into_buffer(&mut frame, &header).unwrap();
        body.encode(&mut frame, version).unwrap();
        let len = (frame.len() - 4) as i32;
        frame[..4].copy_from_slice(&len.to_be_bytes());
        stream.write_all(&frame).unwrap();
        stream.flush().unwrap();
        let mut len = [0u8; 4];
        stream.read_exact(&mut len).unwrap();
        let mut response = vec![0u8; i32::from_be_bytes(len) as usize];
        stream.read_exact(&mut response).unwrap();
        response
    }

    fn principals(server: &Server) -> Vec<String> {
        let mut all: Vec<String> = server
            .connections
            .live
            .lock()
            .values()
            .map(|c| c.principal.lock().to_string())
            .collect();
        all.sort();
        all
    }

    #[test]
    fn a_client_certificate_or_a_sasl_login_names_the_connections_principal() {
        use kafka_protocol::messages::{
            ApiVersionsRequest, SaslAuthenticateRequest, SaslHandshakeRequest,
        };
        use kafka_protocol::protocol::StrBytes;
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

        let tls = TlsSettings::generate(&["127.0.0.1".into()], true).unwrap();
        let alice = tls.issue("alice", &[]).unwrap().unwrap();
        let listener = |security: SecurityProtocol| ListenerSpec {
            security,
            ..named(0, security.name())
        };
        let server = Server::start(ServerOptions {
            tls: Some(tls.clone()),
            sasl: Some(SaslSettings {
                mechanisms: vec![Mechanism::Plain],
                users: vec![UserSpec {
                    username: "bob".into(),
                    password: Some("bob-secret".into()),
                    scram: vec![],
                }],
                connections_max_reauth_ms: None,
            }),
            ..options(vec![
                listener(SecurityProtocol::Ssl),
                listener(SecurityProtocol::SaslPlaintext),
            ])
        })
        .unwrap();
        let endpoints = server.brokers()[0].endpoints.clone();

        // Mutual TLS: the certificate's subject.
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(tls.ca.as_deref().unwrap().as_bytes()).unwrap())
            .unwrap();
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(
            vec![CertificateDer::from_pem_slice(alice.cert.as_bytes()).unwrap()],
            PrivateKeyDer::from_pem_slice(alice.key.as_bytes()).unwrap(),
        )
        .unwrap();
        let client = rustls::ClientConnection::new(
            Arc::new(config),
            ServerName::try_from("127.0.0.1").unwrap(),
        )
        .unwrap();
        let tcp = std::net::TcpStream::connect(("127.0.0.1", endpoints[0].port)).unwrap();
        let mut tls_stream = rustls::StreamOwned::new(client, tcp);
        let api_versions = RequestKind::ApiVersions(ApiVersionsRequest::default());
        round_trip(&mut tls_stream, ApiKey::ApiVersions, 0, &api_versions);
        assert_eq!(principals(&server), vec!["User:CN=alice"]);

        // SASL: anonymous until authenticated, then the user.
        let mut sasl = std::net::TcpStream::connect(("127.0.0.1", endpoints[1].port)).unwrap();
        round_trip(&mut sasl, ApiKey::ApiVersions, 0, &api_versions);
        assert_eq!(principals(&server), vec!["User:ANONYMOUS", "User:CN=alice"]);
        let handshake = RequestKind::SaslHandshake(
            SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("PLAIN")),
        );
        round_trip(&mut sasl, ApiKey::SaslHandshake, 1, &handshake);
        let authenticate = RequestKind::SaslAuthenticate(
            SaslAuthenticateRequest::default()
                .with_auth_bytes(bytes::Bytes::from_static(b"\0bob\0bob-secret")),
        );
        let response = round_trip(&mut sasl, ApiKey::SaslAuthenticate, 2, &authenticate);
        // correlation id, header tagged fields, then the error code.
        assert_eq!(i16::from_be_bytes([response[5], response[6]]), 0);
        assert_eq!(principals(&server), vec!["User:CN=alice", "User:bob"]);
        server.stop();
    }

    #[test]
    fn a_request_mid_login_is_answered_with_illegal_sasl_state_then_the_connection_closes() {
        use bytes::Buf;
        use kafka_protocol::messages::{
            metadata_request::MetadataRequestTopic, ApiVersionsRequest, MetadataRequest,
            MetadataResponse, SaslHandshakeRequest, TopicName,
        };
        use kafka_protocol::protocol::{Decodable, StrBytes};
        use std::io::Read;

        let server = Server::start(ServerOptions {
            sasl: Some(SaslSettings {
                mechanisms: vec![Mechanism::Plain],
                users: vec![UserSpec {
                    username: "bob".into(),
                    password: Some("bob-secret".into()),
                    scram: vec![],
                }],
                connections_max_reauth_ms: None,
            }),
            ..options(vec![ListenerSpec {
                security: SecurityProtocol::SaslPlaintext,
                ..named(0, "SASL_PLAINTEXT")
            }])
        })
        .unwrap();
        let port = server.brokers()[0].endpoints[0].port;
        let handshake = RequestKind::SaslHandshake(
            SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("PLAIN")),
        );
        let mid_login = || {
            let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            let response = round_trip(&mut stream, ApiKey::SaslHandshake, 1, &handshake);
            assert_eq!(i16::from_be_bytes([response[4], response[5]]), 0);
            stream
        };
        let closed = |mut stream: std::net::TcpStream| {
            let mut buf = [0u8; 1];
            assert!(matches!(stream.read(&mut buf), Ok(0) | Err(_)));
        };
        let illegal_sasl_state = ResponseError::IllegalSaslState.code();

        // ApiVersions (its response header has no tagged fields): the top-level error code.
        let mut stream = mid_login();
        let api_versions = RequestKind::ApiVersions(ApiVersionsRequest::default());
        let response = round_trip(&mut stream, ApiKey::ApiVersions, 3, &api_versions);
        assert_eq!(
            i16::from_be_bytes([response[4], response[5]]),
            illegal_sasl_state
        );
        closed(stream);

        // Metadata v12: each topic named carries the error, with Kafka's message.
        let mut stream = mid_login();
        let metadata = RequestKind::Metadata(MetadataRequest::default().with_topics(Some(vec![
            MetadataRequestTopic::default()
                .with_name(Some(TopicName(StrBytes::from_static_str("t")))),
        ])));
        let response = round_trip(&mut stream, ApiKey::Metadata, 12, &metadata);
        // Correlation id and the header's (empty) tagged fields.
        let mut body = bytes::Bytes::from(response);
        body.advance(5);
        let decoded = MetadataResponse::decode(&mut body, 12).unwrap();
        assert_eq!(decoded.topics.len(), 1);
        // Nothing about the cluster for a client that has not logged in.
        assert!(decoded.brokers.is_empty());
        assert_eq!(decoded.topics[0].error_code, illegal_sasl_state);
        closed(stream);
        server.stop();
    }
}
