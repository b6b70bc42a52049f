//! The broker's sockets: one accept loop per listener, one task per connection, all on the
//! broker's own tokio runtime, and a graceful stop: stop accepting, tell every connection (and
//! every parked fetch), wait until they are done, then shut the runtime down.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio::sync::{mpsc, watch};

use crate::connection::Connection;
use crate::handlers::{self, RequestContext};
use crate::protocol::{self, DecodeError};
use crate::state::{BrokerConfig, BrokerNode, Cluster};
use kafka_protocol::messages::{ApiKey, ResponseKind};

/// A listener to open: which broker it belongs to and where it binds. Port 0 asks the OS for one.
#[derive(Debug, Clone)]
pub struct ListenerSpec {
    pub broker_id: i32,
    pub host: String,
    pub port: u16,
}

#[derive(Debug, Clone)]
pub struct ServerOptions {
    pub cluster_id: String,
    pub config: BrokerConfig,
    pub listeners: Vec<ListenerSpec>,
    /// `log.retention.check.interval.ms`
    pub log_retention_check_interval: Duration,
}

/// A running cluster: its runtime, its state and its listeners.
pub struct Server {
    runtime: Mutex<Option<Runtime>>,
    cluster: Arc<Cluster>,
    shutdown: watch::Sender<bool>,
    /// Closes when every accept loop and connection task has finished.
    done: Mutex<Option<mpsc::Receiver<()>>>,
}

impl Server {
    /// Binds every listener and starts serving. Fails (and leaves nothing running) if any
    /// listener cannot bind.
    pub fn start(options: ServerOptions) -> std::io::Result<Server> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("kafka-emulator")
            .enable_all()
            .build()?;
        let cluster = Arc::new(Cluster::new(options.cluster_id, options.config));
        let (shutdown, _) = watch::channel(false);
        let (done_tx, done_rx) = mpsc::channel::<()>(1);

        let mut bound = Vec::new();
        for spec in &options.listeners {
            let listener = runtime.block_on(TcpListener::bind((spec.host.as_str(), spec.port)))?;
            let port = listener.local_addr()?.port();
            bound.push((spec.broker_id, listener));
            cluster.add_broker(BrokerNode {
                node_id: spec.broker_id,
                host: spec.host.clone(),
                port,
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
        for (broker_id, listener) in bound {
            runtime.spawn(accept_loop(
                listener,
                cluster.clone(),
                broker_id,
                shutdown.subscribe(),
                done_tx.clone(),
            ));
        }
        Ok(Server {
            runtime: Mutex::new(Some(runtime)),
            cluster,
            shutdown,
            done: Mutex::new(Some(done_rx)),
        })
    }

    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
    }

    /// Stops the cluster and releases its port(s) and threads. Blocks until done; calling it
    /// again is a no-op.
    pub fn stop(&self) {
        let Some(runtime) = self.runtime.lock().take() else {
            return;
        };
        let _ = self.shutdown.send(true);
        if let Some(mut done) = self.done.lock().take() {
            // Connections finish their current request (a parked fetch answers at once); one
            // stuck writing to a client that does not read is cut off by the runtime shutdown.
            runtime.block_on(async {
                let _ = tokio::time::timeout(Duration::from_secs(2), done.recv()).await;
            });
        }
        runtime.shutdown_timeout(Duration::from_secs(1));
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.lock().take() {
            let _ = self.shutdown.send(true);
            runtime.shutdown_background();
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    cluster: Arc<Cluster>,
    broker_id: i32,
    mut shutdown: watch::Receiver<bool>,
    done: mpsc::Sender<()>,
) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.changed() => return,
        };
        match accepted {
            Ok((stream, _)) => {
                tokio::spawn(serve(
                    stream,
                    cluster.clone(),
                    broker_id,
                    shutdown.clone(),
                    done.clone(),
                ));
            }
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                eprintln!("kafka-emulator: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Serves one connection: requests are handled one at a time and answered in order, as Kafka
/// does. A frame that cannot be decoded closes this connection only.
async fn serve(
    stream: TcpStream,
    cluster: Arc<Cluster>,
    broker_id: i32,
    mut shutdown: watch::Receiver<bool>,
    _done: mpsc::Sender<()>,
) {
    let peer_addr = stream.peer_addr().ok();
    let peer = peer_addr.map_or_else(|| "unknown peer".to_string(), |a| a.to_string());
    let client_host = peer_addr.map_or_else(String::new, |a| format!("/{}", a.ip()));
    let mut conn = Connection::new(stream);
    while !*shutdown.borrow() {
        let frame = tokio::select! {
            frame = conn.read_frame() => frame,
            _ = shutdown.changed() => return,
        };
        let frame = match frame {
            Ok(Some(frame)) => frame,
            Ok(None) => return,
            Err(crate::connection::FrameError::Io(_)) => return,
            Err(e) => {
                eprintln!("kafka-emulator: closing connection from {peer}: {e}");
                return;
            }
        };
        let (api_key, header, response) =
            match protocol::decode_request(frame, handlers::supported_versions) {
                Ok(request) => {
                    let ctx = RequestContext {
                        cluster: cluster.clone(),
                        broker_id,
                        header: request.header,
                        client_host: client_host.clone(),
                        shutdown: shutdown.clone(),
                    };
                    let response = handlers::handle(&ctx, request.body).await;
                    (request.api_key, ctx.header, response)
                }
                Err(DecodeError::UnsupportedVersion {
                    api_key: ApiKey::ApiVersions,
                    mut header,
                }) => {
                    // Answered at v0 so that any client can read which versions we do speak.
                    header.request_api_version = 0;
                    let response =
                        ResponseKind::ApiVersions(handlers::unsupported_version_response());
                    (ApiKey::ApiVersions, header, Some(response))
                }
                Err(e) => {
                    eprintln!("kafka-emulator: closing connection from {peer}: {e}");
                    return;
                }
            };
        if cluster.hooks.take_drop(api_key) {
            // A test asked for this response to be lost: handled, never answered.
            return;
        }
        let Some(response) = response else { continue };
        let encoded = protocol::encode_response(
            api_key,
            header.request_api_version,
            header.correlation_id,
            &response,
        );
        match encoded {
            Ok(bytes) => {
                if conn.write_frame(&bytes).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                eprintln!("kafka-emulator: cannot encode {api_key:?} response for {peer}: {e}");
                return;
            }
        }
    }
}
