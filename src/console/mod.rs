//! The web console: an HTTP server on the cluster's own runtime that shows the cluster (brokers,
//! topics, records, groups, the request log) and changes it (produce, reset a group's offsets,
//! inject faults, stop and start brokers) through the same `control` functions as the JS
//! helpers. `serve` is the entry point; `api` has the JSON routes the page uses, `events` the
//! Server-Sent Events stream that tells it what changed, `assets/` the page itself.

mod api;
mod events;

use std::net::SocketAddr;
use std::sync::{Arc, Weak};

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

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
    /// The host the console was bound to, which requests may name besides IP addresses and
    /// localhost.
    host: String,
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
        host: options.host.clone(),
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
        .layer(middleware::from_fn_with_state(app.clone(), guard))
        .with_state(app)
}

/// Keeps other web sites out of a console on loopback: a page elsewhere that a browser lets
/// reach 127.0.0.1 names its own host (DNS rebinding), and a cross-site request can only
/// carry JSON after a CORS preflight, which the console never grants.
async fn guard(State(app): State<App>, request: Request, next: Next) -> Response {
    let refuse = |status: StatusCode, code: &str, message: String| {
        let body = serde_json::json!({ "code": code, "message": message });
        (status, Json(body)).into_response()
    };
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    if !allowed_host(host, &app.host) {
        return refuse(
            StatusCode::FORBIDDEN,
            "ERR_KAFKA_CONSOLE_HOST",
            format!("the console answers requests for its own address, not for \"{host}\""),
        );
    }
    if request.method() != Method::GET && !is_json(request.headers()) {
        return refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "ERR_KAFKA_CONSOLE_JSON",
            "send changes as JSON (content-type: application/json)".into(),
        );
    }
    next.run(request).await
}

/// Whether a Host header names an IP address, localhost or the bound host.
fn allowed_host(host: &str, bound: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => {
            return v6
                .split(']')
                .next()
                .is_some_and(|ip| ip.parse::<std::net::Ipv6Addr>().is_ok())
        }
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.parse::<std::net::IpAddr>().is_ok()
        || name.eq_ignore_ascii_case("localhost")
        || name.eq_ignore_ascii_case(bound)
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/json")
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_may_name_an_address_localhost_or_the_bound_host() {
        for host in [
            "127.0.0.1:8080",
            "localhost:1",
            "[::1]:80",
            "10.0.0.5",
            "dev-box:9",
        ] {
            assert!(allowed_host(host, "dev-box"), "{host}");
        }
        for host in [
            "evil.example:8080",
            "",
            "[evil]:1",
            "127.0.0.1.evil.example",
        ] {
            assert!(!allowed_host(host, "127.0.0.1"), "{host}");
        }
    }
}
