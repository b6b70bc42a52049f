//! The web console: an HTTP server on the cluster's own runtime that shows the cluster (brokers,
//! topics, records, groups, the request log) and changes it (produce, reset a group's offsets,
//! inject faults, stop and start brokers) through the same `control` functions as the JS
//! helpers. `serve` is the entry point; `api` has the JSON routes the page uses, `events` the
//! Server-Sent Events stream that tells it what changed, `assets/` the page itself.

mod api;
mod events;

use std::net::SocketAddr;
use std::sync::{Arc, Weak};

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::server::Server;

/// Where the console listens and whom it acts as.
#[derive(Debug, Clone)]
pub struct ConsoleOptions {
    /// Loopback unless the user names another address.
    pub host: String,
    /// 0 asks the OS for a free port.
    pub port: u16,
    /// With the cluster's authorizer enabled, the console's actions are authorized as this
    /// principal (`User:admin`); without one it may do anything, as a super user.
    pub principal: Option<String>,
}

impl Default for ConsoleOptions {
    fn default() -> Self {
        ConsoleOptions {
            host: "127.0.0.1".into(),
            port: 0,
            principal: None,
        }
    }
}

/// What the console's handlers share. The server is held weakly: the console must not keep a
/// cluster alive that its owner dropped.
#[derive(Clone)]
struct App {
    server: Weak<Server>,
    principal: Option<String>,
}

/// Binds the console's port and serves it on the cluster's runtime until the cluster stops
/// (which closes the port). Returns the bound address.
pub fn serve(server: &Arc<Server>, options: &ConsoleOptions) -> std::io::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind((options.host.as_str(), options.port))?;
    listener.set_nonblocking(true)?;
    let address = listener.local_addr()?;
    let app = App {
        server: Arc::downgrade(server),
        principal: options.principal.clone(),
    };
    let router = routes(app);
    let mut shutdown = server.shutdown_signal();
    server.spawn(async move {
        let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
            return;
        };
        let stopped = async move {
            let _ = shutdown.wait_for(|stopped| *stopped).await;
        };
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(stopped)
            .await;
    });
    Ok(address)
}

/// The console's URL for a bound address (a wildcard bind is reached through loopback).
pub fn url(address: SocketAddr) -> String {
    let host = match address.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_string(),
        ip if ip.is_unspecified() => "[::1]".to_string(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    format!("http://{host}:{}/", address.port())
}

fn routes(app: App) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/app.js", get(script))
        .route("/app.css", get(stylesheet))
        .route("/api/events", get(events::stream))
        .merge(api::routes())
        .with_state(app)
}

async fn index() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        include_str!("assets/index.html"),
    )
}

async fn script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("assets/app.js"),
    )
}

async fn stylesheet() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("assets/app.css"),
    )
}
