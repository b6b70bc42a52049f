//! The Node.js binding, and only that: JS options in, a running broker out, and the test
//! controls converted to and from JS values. Everything it calls lives in the core modules
//! (`server`, `control`, `faults`, `state`), which know nothing of napi.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use indexmap::IndexMap;
use napi::bindgen_prelude::*;
use napi::threadsafe_function::{
    ThreadsafeFunction, ThreadsafeFunctionCallMode, UnknownReturnValue,
};
use napi::JsDeferred;
use napi_derive::napi;

use crate::{console, control, faults, logging, server, state, tls};

use control::{ControlError, ErrorSpec, FaultSpec, NewRecord, StoredRecord};
use server::{ConnectionFilter, ConnectionLimits, ListenerSpec, Server, ServerOptions};
use state::brokers::SecurityProtocol;
use state::groups::consumer_group::ConsumerGroupSettings;
use state::groups::group::GroupSettings;
use state::share::ShareGroupSettings;
use state::BrokerConfig;

/// Options of `startKafka`. Broker settings mirror their server.properties names in camelCase
/// and apply to every broker of the cluster.
#[napi(object, object_to_js = false)]
#[derive(Default)]
pub struct StartOptions {
    /// Port to listen on; 0 or absent picks a free one. With `brokers: n`, the first broker's
    /// port, the others taking the next ones.
    pub port: Option<u32>,
    /// Address to bind and advertise; `127.0.0.1` unless given.
    pub host: Option<String>,
    /// This broker's node id (default 0); with `brokers: n`, the first broker's.
    pub broker_id: Option<i32>,
    /// How many brokers (each with one listener: PLAINTEXT, or what `sasl` and `tls` make of
    /// it), or each broker's id and listeners as server.properties would describe them.
    #[napi(ts_type = "number | BrokerOptions[]")]
    pub brokers: Option<Either<u32, Vec<BrokerOptions>>>,
    /// The cluster id Metadata reports (default: a fresh random one).
    pub cluster_id: Option<String>,
    /// Finalized feature levels, as `kafka-storage format --feature name=level` sets them:
    /// e.g. `{ 'share.version': 0 }` for a cluster without share groups, or
    /// `{ 'transaction.version': 1 }` for one without transactions v2. Default: Kafka 4.1's
    /// levels, with `share.version` 1.
    pub features: Option<HashMap<String, i32>>,
    /// `auto.create.topics.enable` (default true).
    pub auto_create_topics: Option<bool>,
    /// `num.partitions` for auto-created topics (default 1).
    pub num_partitions: Option<i32>,
    /// `default.replication.factor` for auto-created topics and CreateTopics asking for -1
    /// (default 1); at most the number of brokers.
    pub default_replication_factor: Option<i32>,
    /// `message.max.bytes` (default 1048588).
    pub message_max_bytes: Option<u32>,
    /// `group.initial.rebalance.delay.ms` (default 0: a new group's first member is assigned at
    /// once; Apache Kafka's default is 3000).
    pub group_initial_rebalance_delay_ms: Option<u32>,
    /// `group.min.session.timeout.ms` (default 6000); lower it to test evictions quickly.
    pub group_min_session_timeout_ms: Option<u32>,
    /// `group.max.session.timeout.ms` (default 1800000).
    pub group_max_session_timeout_ms: Option<u32>,
    /// `group.consumer.heartbeat.interval.ms`: how often members of consumer protocol groups
    /// (KIP-848) heartbeat, so how soon they see a rebalance (default 5000).
    pub group_consumer_heartbeat_interval_ms: Option<u32>,
    /// `group.consumer.session.timeout.ms`: how long a silent consumer protocol member stays in
    /// its group (default 45000).
    pub group_consumer_session_timeout_ms: Option<u32>,
    /// `group.consumer.max.size`: members a consumer protocol group admits (default unlimited).
    pub group_consumer_max_size: Option<u32>,
    /// `group.share.heartbeat.interval.ms`: how often share group members (KIP-932) heartbeat
    /// (default 5000).
    pub group_share_heartbeat_interval_ms: Option<u32>,
    /// `group.share.session.timeout.ms`: how long a silent share group member stays in its
    /// group (default 45000).
    pub group_share_session_timeout_ms: Option<u32>,
    /// `group.share.record.lock.duration.ms`: how long a share consumer holds the records it
    /// fetched before they are released to others (default 30000).
    pub group_share_record_lock_duration_ms: Option<u32>,
    /// `group.share.delivery.count.limit`: deliveries of a record before it is archived
    /// (default 5, from 2 to 10 as in Kafka).
    pub group_share_delivery_count_limit: Option<u32>,
    /// Enforce ACLs, as a broker with Kafka's StandardAuthorizer does. Without it, ACLs are
    /// stored and described but everyone may do everything.
    pub authorization: Option<AuthorizationOptions>,
    /// Enable delegation tokens (KIP-48), off by default as in Kafka: clients authenticated by
    /// SASL or a TLS certificate create them, and log in with them over SCRAM.
    pub delegation_tokens: Option<DelegationTokenOptions>,
    /// `log.retention.ms`: retention of topics that do not set `retention.ms` (default 7 days).
    pub log_retention_ms: Option<i64>,
    /// `log.retention.check.interval.ms`: how often retention and compaction run on their own
    /// (default 300000); `applyRetention()` runs them at once.
    pub log_retention_check_interval_ms: Option<u32>,
    /// How many requests `requests()` keeps, newest last (default 1000; 0 keeps none).
    pub request_log_size: Option<u32>,
    /// `max.connections` of each broker (default 10000; Kafka's is unbounded): beyond it a
    /// broker accepts no connection until one closes.
    pub max_connections: Option<u32>,
    /// `connections.max.idle.ms`: a connection silent this long is closed (default 600000).
    pub connections_max_idle_ms: Option<u32>,
    /// SASL authentication: the default listeners become SASL_PLAINTEXT (SASL_SSL with `tls`).
    pub sasl: Option<SaslOptions>,
    /// TLS: `true` generates a CA and a server certificate (see `kafka.tls`); or the server's
    /// own PEMs. The default listeners become SSL (SASL_SSL with `sasl`).
    #[napi(ts_type = "boolean | TlsOptions")]
    pub tls: Option<Either<bool, TlsOptions>>,
    /// What the broker logs: `'warn'` (the default: warnings and errors), `'error'`, `'info'`,
    /// `'debug'`, `'trace'` or `'off'`. Absent: the `KAFKA_EMULATOR_LOG` environment variable,
    /// else `'warn'`. Repeated events are rate-limited: a few lines, then a summary.
    #[napi(ts_type = "'off' | 'error' | 'warn' | 'info' | 'debug' | 'trace'")]
    pub log_level: Option<String>,
    /// Receives each log entry instead of stderr (called on the event loop, never keeping it
    /// alive; an exception it throws is ignored).
    #[napi(ts_type = "(entry: LogEntry) => void")]
    pub log: Option<LogCallback>,
    /// Serves the web console (see `kafka.consoleUrl`): `true` on loopback and a free port, or
    /// where to listen and whom to act as. Off unless given.
    #[napi(ts_type = "boolean | ConsoleOptions")]
    pub console: Option<Either<bool, ConsoleOptions>>,
}

/// Where the web console listens, and whom it acts as.
#[napi(object)]
pub struct ConsoleOptions {
    /// 0 (the default) picks a free port.
    pub port: Option<u32>,
    /// The address to bind: loopback unless given (another address exposes the console, which
    /// can change the cluster, to whoever reaches it).
    pub host: Option<String>,
    /// With `authorization` enabled, the console's actions are authorized as this principal
    /// (`User:admin`); without it the console acts as a super user.
    pub principal: Option<String>,
}

/// The `log` option: called without blocking the broker (entries beyond `LOG_QUEUE` waiting
/// for the event loop are dropped), and weak, so that it never keeps Node alive.
type LogCallback =
    ThreadsafeFunction<LogEntry, UnknownReturnValue, LogEntry, Status, false, true, LOG_QUEUE>;

/// How many entries may wait for the event loop before new ones are dropped.
const LOG_QUEUE: usize = 1000;

/// An entry of the broker's log, as the `log` callback receives it.
#[napi(object, object_from_js = false)]
pub struct LogEntry {
    #[napi(ts_type = "'error' | 'warn' | 'info' | 'debug' | 'trace'")]
    pub level: String,
    /// One line.
    pub message: String,
    /// When, in ms since the epoch.
    pub time: i64,
    /// The kind of event, e.g. `connection.malformed-frame` or `sasl.authentication-failed`.
    pub event: String,
    /// The client's address (`host:port`), when the entry concerns a connection.
    pub peer: Option<String>,
    /// Set on a summary of rate-limited entries: how many it stands for.
    pub suppressed: Option<i64>,
}

/// Hands log entries to the `log` callback.
struct CallbackSink {
    callback: LogCallback,
    /// Whether the callback has thrown yet: said once on stderr.
    threw: Arc<std::sync::atomic::AtomicBool>,
}

impl logging::Sink for CallbackSink {
    fn write(&self, entry: logging::Entry) {
        let entry = LogEntry {
            level: entry.level.name().to_string(),
            message: entry.message,
            time: entry.time_ms,
            event: entry.event.to_string(),
            peer: entry.peer,
            suppressed: entry.suppressed.map(|n| n as i64),
        };
        let threw = self.threw.clone();
        // With a return-value callback, napi-rs hands a thrown exception to it instead of
        // raising it as an uncaught exception: a throwing `log` cannot crash the process.
        self.callback.call_with_return_value(
            entry,
            ThreadsafeFunctionCallMode::NonBlocking,
            move |returned, _env| {
                if let Err(e) = returned {
                    if !threw.swap(true, std::sync::atomic::Ordering::Relaxed) {
                        logging::write_stderr(&format!(
                            "kafka-emulator: ERROR the log callback threw ({}); its exceptions are ignored",
                            logging::one_line(&e.reason, 200)
                        ));
                    }
                }
                Ok(())
            },
        );
    }
}

/// The cluster's logger: the `log` callback or stderr, at `logLevel`, else `KAFKA_EMULATOR_LOG`,
/// else warn.
fn logger(env: &Env, options: &mut StartOptions) -> Result<logging::Logger> {
    let (level, bad_variable) = match &options.log_level {
        Some(name) => match logging::Level::parse(name) {
            Some(level) => (level, None),
            None => {
                return Err(invalid_argument(
                    env,
                    &format!(
                        "logLevel {name:?} is not a level: expected {}",
                        logging::Level::NAMES
                    ),
                ))
            }
        },
        None => logging::Level::from_env(),
    };
    let sink: Arc<dyn logging::Sink> = match options.log.take() {
        Some(callback) => Arc::new(CallbackSink {
            callback,
            threw: Arc::default(),
        }),
        None => Arc::new(logging::Stderr),
    };
    let logger = logging::Logger::new(level, sink);
    if let Some(value) = bad_variable {
        logger.log(&logging::events::BAD_LEVEL, None, || {
            format!(
                "{}={value:?} is not a level ({}): logging at warn",
                logging::LEVEL_VARIABLE,
                logging::Level::NAMES
            )
        });
    }
    Ok(logger)
}

/// Options of `startKafka({ sasl })`.
#[napi(object)]
pub struct SaslOptions {
    /// `sasl.enabled.mechanisms` (default: PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512). OAUTHBEARER
    /// accepts unsecured JWTs (`alg: none`) as Kafka's default validator does.
    #[napi(ts_type = "Array<'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512' | 'OAUTHBEARER'>")]
    pub mechanisms: Option<Vec<String>>,
    /// Each user's password (for PLAIN and every enabled SCRAM mechanism) and SCRAM passwords
    /// of their own per mechanism.
    pub users: Option<Vec<SaslUser>>,
    /// `connections.max.reauth.ms`: sessions last this long unless the client re-authenticates
    /// (KIP-368); a connection whose session expired is closed at its next request.
    pub connections_max_reauth_ms: Option<i64>,
}

/// A user of `startKafka({ sasl: { users } })`.
#[napi(object)]
pub struct SaslUser {
    pub username: String,
    /// The PLAIN password, and the SCRAM password of every enabled SCRAM mechanism that `scram`
    /// does not name. Without it, PLAIN does not know the user.
    pub password: Option<String>,
    /// SCRAM credentials per mechanism, as `kafka-storage format --add-scram` or
    /// AlterUserScramCredentials would store them: a password (4096 iterations) or a password
    /// and its iterations (4096 to 16384). DescribeUserScramCredentials lists them, and
    /// AlterUserScramCredentials changes them.
    #[napi(
        ts_type = "{ 'SCRAM-SHA-256'?: string | ScramPassword, 'SCRAM-SHA-512'?: string | ScramPassword }"
    )]
    pub scram: Option<IndexMap<String, Either<String, ScramPassword>>>,
}

/// A SCRAM password and how many iterations its credential is salted with.
#[napi(object)]
pub struct ScramPassword {
    pub password: String,
    /// Default 4096, Kafka's minimum; at most 16384.
    pub iterations: Option<u32>,
}

/// The users of the `sasl` option, checked: each has a password or SCRAM credentials, for
/// SCRAM mechanisms only, with iterations in Kafka's bounds.
fn sasl_users(
    users: &[SaslUser],
) -> std::result::Result<Vec<state::security::sasl::UserSpec>, String> {
    use state::security::sasl::{Mechanism, DEFAULT_ITERATIONS, MAX_ITERATIONS};
    users
        .iter()
        .map(|user| {
            let mut scram = Vec::new();
            for (name, given) in user.scram.iter().flatten() {
                let mechanism = Mechanism::from_name(name)
                    .filter(|m| m.scram_code() != 0)
                    .ok_or_else(|| {
                        format!(
                            "sasl user {}: unknown SCRAM mechanism {name}: expected SCRAM-SHA-256 or SCRAM-SHA-512",
                            user.username
                        )
                    })?;
                let (password, iterations) = match given {
                    Either::A(password) => (password.clone(), DEFAULT_ITERATIONS),
                    Either::B(p) => (
                        p.password.clone(),
                        p.iterations.unwrap_or(DEFAULT_ITERATIONS),
                    ),
                };
                if !(DEFAULT_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
                    return Err(format!(
                        "sasl user {}: {name} iterations must be between {DEFAULT_ITERATIONS} and {MAX_ITERATIONS}, not {iterations}",
                        user.username
                    ));
                }
                scram.push((mechanism, password, iterations));
            }
            if user.password.is_none() && scram.is_empty() {
                return Err(format!(
                    "sasl user {} has neither a password nor SCRAM credentials",
                    user.username
                ));
            }
            Ok(state::security::sasl::UserSpec {
                username: user.username.clone(),
                password: user.password.clone(),
                scram,
            })
        })
        .collect()
}

/// The broker's own certificate for `startKafka({ tls })`.
#[napi(object)]
pub struct TlsOptions {
    /// The server certificate chain, PEM (with `key`); absent: generated, with a CA.
    pub cert: Option<String>,
    /// Its private key, PEM.
    pub key: Option<String>,
    /// The CA (PEM) that signs client certificates; with a generated certificate, the generated
    /// CA is used.
    pub ca: Option<String>,
    /// Require clients to present a certificate signed by `ca` (`ssl.client.auth=required`);
    /// their principal is then `User:` and the certificate's subject (RFC 2253).
    pub request_cert: Option<bool>,
}

/// The TLS and SASL settings the options describe. Default listeners take the security
/// protocol they imply; explicit ones keep theirs (and are checked against these settings).
fn security_settings(
    options: &StartOptions,
    listeners: &mut [ListenerSpec],
) -> std::result::Result<(Option<tls::TlsSettings>, Option<server::SaslSettings>), String> {
    let sasl = match &options.sasl {
        None => None,
        Some(sasl) => {
            let mechanisms = match &sasl.mechanisms {
                None => vec![
                    state::security::sasl::Mechanism::Plain,
                    state::security::sasl::Mechanism::ScramSha256,
                    state::security::sasl::Mechanism::ScramSha512,
                ],
                Some(names) => names
                    .iter()
                    .map(|name| {
                        state::security::sasl::Mechanism::from_name(&name.to_ascii_uppercase()).ok_or_else(
                            || format!("unsupported SASL mechanism {name}: expected PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER"),
                        )
                    })
                    .collect::<std::result::Result<_, _>>()?,
            };
            Some(server::SaslSettings {
                mechanisms,
                users: sasl_users(sasl.users.as_deref().unwrap_or_default())?,
                connections_max_reauth_ms: sasl.connections_max_reauth_ms.filter(|ms| *ms > 0),
            })
        }
    };
    let explicit = matches!(options.brokers, Some(Either::B(_)));
    let tls_wanted = !matches!(options.tls, None | Some(Either::A(false)));
    if !explicit {
        let security = match (tls_wanted, sasl.is_some()) {
            (false, false) => SecurityProtocol::Plaintext,
            (true, false) => SecurityProtocol::Ssl,
            (false, true) => SecurityProtocol::SaslPlaintext,
            (true, true) => SecurityProtocol::SaslSsl,
        };
        for listener in listeners.iter_mut() {
            listener.security = security;
            listener.name = security.name().to_string();
        }
    }
    let tls = match &options.tls {
        None | Some(Either::A(false)) => None,
        Some(Either::A(true)) => Some(tls::TlsSettings::generate(
            &certificate_hosts(listeners),
            false,
        )?),
        Some(Either::B(tls)) => {
            let client_auth = tls.request_cert.unwrap_or(false);
            Some(match (&tls.cert, &tls.key) {
                (Some(cert), Some(key)) => {
                    tls::TlsSettings::from_pem(cert, key, tls.ca.as_deref(), client_auth)?
                }
                (None, None) if tls.ca.is_none() => {
                    tls::TlsSettings::generate(&certificate_hosts(listeners), client_auth)?
                }
                (None, None) => {
                    return Err("tls.ca needs tls.cert and tls.key: a generated certificate comes with its own CA".into())
                }
                _ => return Err("tls.cert and tls.key go together".into()),
            })
        }
    };
    Ok((tls, sasl))
}

/// The names a generated server certificate is valid for: every advertised host, and loopback.
fn certificate_hosts(listeners: &[ListenerSpec]) -> Vec<String> {
    let mut hosts: Vec<String> = listeners.iter().map(|l| l.advertised_host()).collect();
    hosts.extend(["localhost", "127.0.0.1", "::1"].map(String::from));
    let mut seen = std::collections::HashSet::new();
    hosts.retain(|h| seen.insert(h.clone()));
    hosts
}

/// Options of `startKafka({ authorization })`.
#[napi(object)]
#[derive(Default)]
pub struct AuthorizationOptions {
    /// `super.users`: principals (`User:admin`) that may do anything, whatever the ACLs say.
    pub super_users: Option<Vec<String>>,
    /// `allow.everyone.if.no.acl.found` (default false): a resource no ACL names is open to all.
    pub allow_everyone_if_no_acl_found: Option<bool>,
}

/// Options of `startKafka({ delegationTokens })`.
#[napi(object)]
pub struct DelegationTokenOptions {
    /// `delegation.token.secret.key`: the key tokens are signed with.
    pub secret_key: String,
    /// `delegation.token.max.lifetime.ms`: how long a token may be renewed for (default 7 days).
    pub max_lifetime_ms: Option<i64>,
    /// `delegation.token.expiry.time.ms`: how long a token lives unless renewed (default 24
    /// hours).
    pub expiry_time_ms: Option<i64>,
}

fn delegation_token_settings(
    options: Option<&DelegationTokenOptions>,
) -> std::result::Result<Option<state::security::delegation_tokens::TokenSettings>, String> {
    use state::security::delegation_tokens::{DEFAULT_EXPIRY_TIME_MS, DEFAULT_MAX_LIFETIME_MS};
    let Some(options) = options else {
        return Ok(None);
    };
    if options.secret_key.is_empty() {
        return Err("delegationTokens.secretKey must not be empty".into());
    }
    let positive = |name: &str, value: Option<i64>, default: i64| match value {
        None => Ok(default),
        Some(ms) if ms >= 1 => Ok(ms),
        Some(ms) => Err(format!("delegationTokens.{name} {ms} must be at least 1")),
    };
    Ok(Some(state::security::delegation_tokens::TokenSettings {
        secret_key: options.secret_key.clone(),
        max_lifetime_ms: positive(
            "maxLifetimeMs",
            options.max_lifetime_ms,
            DEFAULT_MAX_LIFETIME_MS,
        )?,
        expiry_time_ms: positive(
            "expiryTimeMs",
            options.expiry_time_ms,
            DEFAULT_EXPIRY_TIME_MS,
        )?,
    }))
}

fn authorizer_config(
    options: Option<&AuthorizationOptions>,
) -> std::result::Result<state::security::acls::AuthorizerConfig, String> {
    let Some(options) = options else {
        return Ok(Default::default());
    };
    let super_users = options.super_users.clone().unwrap_or_default();
    if let Some(bad) = super_users.iter().find(|u| !u.contains(':')) {
        return Err(format!(
            "super user {bad} is not a principal: write it as User:{bad}"
        ));
    }
    Ok(state::security::acls::AuthorizerConfig {
        enabled: true,
        super_users,
        allow_everyone_if_no_acl_found: options.allow_everyone_if_no_acl_found.unwrap_or(false),
    })
}

/// An ACL for `Kafka#createAcls`, in the shape of kafkajs's `admin.createAcls`; each enum is
/// its Kafka name (`'TOPIC'`, `'PREFIXED'`, `'READ'`, `'ALLOW'`) or its code.
#[napi(object)]
pub struct AclOptions {
    #[napi(
        ts_type = "number | 'TOPIC' | 'GROUP' | 'CLUSTER' | 'TRANSACTIONAL_ID' | 'DELEGATION_TOKEN' | 'USER'"
    )]
    pub resource_type: Either<i32, String>,
    /// The resource's name (`kafka-cluster` for the cluster).
    pub resource_name: String,
    /// LITERAL (default) or PREFIXED.
    #[napi(ts_type = "number | 'LITERAL' | 'PREFIXED'")]
    pub resource_pattern_type: Option<Either<i32, String>>,
    /// `User:alice`, or `User:*` for everyone.
    pub principal: String,
    /// The client's IP, or `*` (default).
    pub host: Option<String>,
    #[napi(
        ts_type = "number | 'ALL' | 'READ' | 'WRITE' | 'CREATE' | 'DELETE' | 'ALTER' | 'DESCRIBE' | 'CLUSTER_ACTION' | 'DESCRIBE_CONFIGS' | 'ALTER_CONFIGS' | 'IDEMPOTENT_WRITE' | 'CREATE_TOKENS' | 'DESCRIBE_TOKENS'"
    )]
    pub operation: Either<i32, String>,
    #[napi(ts_type = "number | 'ALLOW' | 'DENY'")]
    pub permission_type: Either<i32, String>,
}

impl AclOptions {
    fn binding(self) -> std::result::Result<state::security::acls::AclBinding, String> {
        use state::security::acls::{
            code_by_name, OPERATIONS, PATTERN_TYPES, PERMISSIONS, RESOURCE_TYPES,
        };
        let code = |value: Either<i32, String>, names: &[(&str, i8)], what: &str| match value {
            Either::A(code) => i8::try_from(code).map_err(|_| format!("{what} {code} is unknown")),
            Either::B(name) => {
                code_by_name(names, &name).ok_or_else(|| format!("{what} {name} is unknown"))
            }
        };
        let binding = state::security::acls::AclBinding {
            resource_type: code(self.resource_type, RESOURCE_TYPES, "resource type")?,
            resource_name: self.resource_name,
            pattern_type: match self.resource_pattern_type {
                None => state::security::acls::pattern::LITERAL,
                Some(p) => code(p, PATTERN_TYPES, "pattern type")?,
            },
            principal: self.principal,
            host: self.host.unwrap_or_else(|| "*".into()),
            operation: code(self.operation, OPERATIONS, "operation")?,
            permission: code(self.permission_type, PERMISSIONS, "permission type")?,
        };
        state::security::acls::validate(&binding)?;
        Ok(binding)
    }
}

/// Options of `Kafka#dropNextResponse`.
#[napi(object)]
pub struct DropResponseOptions {
    /// The API whose responses are lost, by Kafka's name (`Produce`, `EndTxn`) or key.
    pub api: String,
    /// How many responses to lose (default 1).
    pub count: Option<u32>,
}

/// A broker of the cluster, as its server.properties would describe it.
#[napi(object)]
pub struct BrokerOptions {
    /// `node.id`
    pub id: i32,
    /// The host its listeners bind unless they name their own (default `127.0.0.1`).
    pub host: Option<String>,
    /// `listeners` (default: one PLAINTEXT listener on a free port).
    pub listeners: Option<Vec<ListenerOptions>>,
}

/// A listener of a broker (`listeners` and `advertised.listeners`).
#[napi(object)]
pub struct ListenerOptions {
    /// 0 or absent picks a free port.
    pub port: Option<u32>,
    /// The address to bind (default: the broker's host).
    pub host: Option<String>,
    /// The listener's name (default: its security protocol). Clients connected through it are
    /// told every broker's address on the listener of the same name, so every broker needs the
    /// same listener names.
    pub name: Option<String>,
    /// The security protocol (default PLAINTEXT), all four served: PLAINTEXT, SSL (needs
    /// `tls`), SASL_PLAINTEXT (needs `sasl`) and SASL_SSL (needs both); a listener whose
    /// protocol lacks its settings is refused at start.
    #[napi(ts_type = "'PLAINTEXT' | 'SSL' | 'SASL_PLAINTEXT' | 'SASL_SSL'")]
    pub security: Option<String>,
    /// The host clients are given (default: the bind host; loopback for a wildcard bind).
    pub advertised_host: Option<String>,
    /// The port clients are given (default: the bound port).
    pub advertised_port: Option<u32>,
}

fn port_number(port: u32) -> std::result::Result<u16, String> {
    u16::try_from(port).map_err(|_| format!("port {port} is out of range"))
}

/// The listeners of every broker the options describe.
fn listener_specs(options: &StartOptions) -> std::result::Result<Vec<ListenerSpec>, String> {
    let host = options.host.clone().unwrap_or_else(|| "127.0.0.1".into());
    let first_port = port_number(options.port.unwrap_or(0))?;
    let first_id = options.broker_id.unwrap_or(0);
    let brokers = match &options.brokers {
        None => Either::A(1),
        Some(Either::A(count)) => Either::A(*count),
        Some(Either::B(brokers)) => Either::B(brokers),
    };
    match brokers {
        Either::A(0) => Err("a cluster needs at least one broker".to_string()),
        Either::A(count) => (0..count)
            .map(|i| {
                let port = match first_port {
                    0 => 0,
                    first => port_number(first as u32 + i)?,
                };
                Ok(ListenerSpec::plaintext(first_id + i as i32, &host, port))
            })
            .collect(),
        Either::B(brokers) => {
            let mut specs = Vec::new();
            let mut ids = std::collections::HashSet::new();
            for broker in brokers {
                if !ids.insert(broker.id) {
                    return Err(format!("broker id {} is given twice", broker.id));
                }
                let broker_host = broker.host.clone().unwrap_or_else(|| host.clone());
                let default_listener = [ListenerOptions {
                    port: None,
                    host: None,
                    name: None,
                    security: None,
                    advertised_host: None,
                    advertised_port: None,
                }];
                let listeners = broker.listeners.as_deref().unwrap_or(&default_listener);
                for listener in listeners {
                    let security = match listener.security.as_deref() {
                        None => SecurityProtocol::Plaintext,
                        Some(name) => SecurityProtocol::parse(name).ok_or_else(|| {
                            format!("unknown security protocol {name}: expected PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL")
                        })?,
                    };
                    specs.push(ListenerSpec {
                        broker_id: broker.id,
                        name: listener
                            .name
                            .clone()
                            .unwrap_or_else(|| security.name().to_string()),
                        security,
                        host: listener.host.clone().unwrap_or_else(|| broker_host.clone()),
                        port: port_number(listener.port.unwrap_or(0))?,
                        advertised_host: listener.advertised_host.clone(),
                        advertised_port: listener.advertised_port.map(port_number).transpose()?,
                    });
                }
            }
            Ok(specs)
        }
    }
}

/// The `features` option as (name, level) pairs, each checked against what the broker supports.
fn feature_levels(
    features: Option<&HashMap<String, i32>>,
) -> std::result::Result<Vec<(String, i16)>, String> {
    let levels: Vec<(String, i16)> = features
        .into_iter()
        .flatten()
        .map(|(name, &level)| {
            let level = i16::try_from(level)
                .map_err(|_| format!("features.{name}: level {level} is out of range"))?;
            Ok((name.clone(), level))
        })
        .collect::<std::result::Result<_, String>>()?;
    state::features::Features::with_levels(&levels).map_err(|e| format!("features: {e}"))?;
    Ok(levels)
}

/// Starts a cluster on its own runtime. Resolves once every listener accepts connections;
/// rejects with an Error whose `code` is e.g. `EADDRINUSE` if one cannot bind. Options that
/// describe an impossible cluster throw an Error with code `ERR_INVALID_ARG_VALUE`.
#[napi(
    ts_args_type = "options?: number | StartOptions",
    ts_return_type = "Promise<Kafka>"
)]
pub fn start_kafka(
    env: Env,
    options: Option<Either<u32, StartOptions>>,
) -> Result<AsyncTask<Start>> {
    let options = match options {
        None => StartOptions::default(),
        Some(Either::A(port)) => StartOptions {
            port: Some(port),
            ..Default::default()
        },
        Some(Either::B(options)) => options,
    };
    let mut options = options;
    let logger = logger(&env, &mut options)?;
    let defaults = BrokerConfig::default();
    // Settings the user gave are reported by DescribeConfigs as static broker configs.
    let mut set_by_user = std::collections::BTreeSet::new();
    let mut given = |name: &str, present: bool| {
        if present {
            set_by_user.insert(name.to_string());
        }
    };
    given(
        "auto.create.topics.enable",
        options.auto_create_topics.is_some(),
    );
    given("num.partitions", options.num_partitions.is_some());
    given(
        "default.replication.factor",
        options.default_replication_factor.is_some(),
    );
    given("message.max.bytes", options.message_max_bytes.is_some());
    given("log.retention.ms", options.log_retention_ms.is_some());
    given(
        "group.initial.rebalance.delay.ms",
        options.group_initial_rebalance_delay_ms.is_some(),
    );
    given(
        "group.min.session.timeout.ms",
        options.group_min_session_timeout_ms.is_some(),
    );
    given(
        "group.max.session.timeout.ms",
        options.group_max_session_timeout_ms.is_some(),
    );
    given(
        "group.consumer.heartbeat.interval.ms",
        options.group_consumer_heartbeat_interval_ms.is_some(),
    );
    given(
        "group.consumer.session.timeout.ms",
        options.group_consumer_session_timeout_ms.is_some(),
    );
    given(
        "group.consumer.max.size",
        options.group_consumer_max_size.is_some(),
    );
    for (name, value) in [
        (
            "heartbeat.interval.ms",
            options.group_share_heartbeat_interval_ms,
        ),
        ("session.timeout.ms", options.group_share_session_timeout_ms),
        (
            "record.lock.duration.ms",
            options.group_share_record_lock_duration_ms,
        ),
        (
            "delivery.count.limit",
            options.group_share_delivery_count_limit,
        ),
    ] {
        given(&format!("group.share.{name}"), value.is_some());
    }
    let delivery_count_limit = match options.group_share_delivery_count_limit {
        None => defaults.groups.share.delivery_count_limit,
        Some(n @ 2..=10) => n as i16,
        Some(n) => {
            return Err(invalid_argument(
                &env,
                &format!("groupShareDeliveryCountLimit {n} must be between 2 and 10"),
            ))
        }
    };
    let ms = |value: Option<u32>, default: Duration| {
        value.map_or(default, |v| Duration::from_millis(v as u64))
    };
    let groups = GroupSettings {
        initial_rebalance_delay: ms(
            options.group_initial_rebalance_delay_ms,
            defaults.groups.initial_rebalance_delay,
        ),
        min_session_timeout: ms(
            options.group_min_session_timeout_ms,
            defaults.groups.min_session_timeout,
        ),
        max_session_timeout: ms(
            options.group_max_session_timeout_ms,
            defaults.groups.max_session_timeout,
        ),
        consumer: ConsumerGroupSettings {
            heartbeat_interval: ms(
                options.group_consumer_heartbeat_interval_ms,
                defaults.groups.consumer.heartbeat_interval,
            ),
            session_timeout: ms(
                options.group_consumer_session_timeout_ms,
                defaults.groups.consumer.session_timeout,
            ),
            max_size: options
                .group_consumer_max_size
                .map_or(defaults.groups.consumer.max_size, |n| n as usize),
            ..defaults.groups.consumer.clone()
        },
        share: ShareGroupSettings {
            heartbeat_interval: ms(
                options.group_share_heartbeat_interval_ms,
                defaults.groups.share.heartbeat_interval,
            ),
            session_timeout: ms(
                options.group_share_session_timeout_ms,
                defaults.groups.share.session_timeout,
            ),
            record_lock_duration: ms(
                options.group_share_record_lock_duration_ms,
                defaults.groups.share.record_lock_duration,
            ),
            delivery_count_limit,
            ..defaults.groups.share.clone()
        },
    };
    let default_replication_factor = match options.default_replication_factor {
        None => defaults.default_replication_factor,
        Some(rf) => i16::try_from(rf).ok().filter(|rf| *rf > 0).ok_or_else(|| {
            invalid_argument(
                &env,
                &format!("defaultReplicationFactor {rf} must be at least 1"),
            )
        })?,
    };
    let config = BrokerConfig {
        groups,
        auto_create_topics: options
            .auto_create_topics
            .unwrap_or(defaults.auto_create_topics),
        num_partitions: options.num_partitions.unwrap_or(defaults.num_partitions),
        default_replication_factor,
        message_max_bytes: options
            .message_max_bytes
            .map_or(defaults.message_max_bytes, |b| b as usize),
        log_retention_ms: options
            .log_retention_ms
            .unwrap_or(defaults.log_retention_ms),
        set_by_user,
        transactions: Default::default(),
        authorizer: authorizer_config(options.authorization.as_ref())
            .map_err(|message| invalid_argument(&env, &message))?,
        features: feature_levels(options.features.as_ref())
            .map_err(|message| invalid_argument(&env, &message))?,
        delegation_tokens: delegation_token_settings(options.delegation_tokens.as_ref())
            .map_err(|message| invalid_argument(&env, &message))?,
    };
    let mut listeners =
        listener_specs(&options).map_err(|message| invalid_argument(&env, &message))?;
    let (tls, sasl) = security_settings(&options, &mut listeners)
        .map_err(|message| invalid_argument(&env, &message))?;
    let server_options = ServerOptions {
        tls,
        sasl,
        cluster_id: options
            .cluster_id
            .clone()
            .unwrap_or_else(state::random_cluster_id),
        config,
        listeners,
        request_log_capacity: options
            .request_log_size
            .map_or(faults::DEFAULT_LOG_CAPACITY, |n| n as usize),
        log_retention_check_interval: ms(
            options.log_retention_check_interval_ms,
            Duration::from_millis(300_000),
        ),
        limits: ConnectionLimits {
            max_connections: options
                .max_connections
                .map_or(server::DEFAULT_MAX_CONNECTIONS, |n| n as usize),
            connections_max_idle: ms(
                options.connections_max_idle_ms,
                Duration::from_millis(600_000),
            ),
        },
        logger,
    };
    server_options
        .validate()
        .map_err(|message| invalid_argument(&env, &message))?;
    let console = console_options(options.console.take())
        .map_err(|message| invalid_argument(&env, &message))?;
    Ok(AsyncTask::new(Start {
        options: server_options,
        console,
        failure: None,
    }))
}

fn console_options(
    option: Option<Either<bool, ConsoleOptions>>,
) -> std::result::Result<Option<console::ConsoleOptions>, String> {
    let given = match option {
        None | Some(Either::A(false)) => return Ok(None),
        Some(Either::A(true)) => return Ok(Some(console::ConsoleOptions::default())),
        Some(Either::B(given)) => given,
    };
    let defaults = console::ConsoleOptions::default();
    let port = match given.port {
        None => defaults.port,
        Some(port) => u16::try_from(port)
            .map_err(|_| format!("console.port {port} is not a port (0 to 65535)"))?,
    };
    if let Some(principal) = &given.principal {
        if !principal.contains(':') {
            return Err(format!(
                "console.principal must be a principal such as User:admin, not \"{principal}\""
            ));
        }
    }
    Ok(Some(console::ConsoleOptions {
        host: given.host.unwrap_or(defaults.host),
        port,
        principal: given.principal,
    }))
}

/// Throws an Error with code `ERR_INVALID_ARG_VALUE`.
fn invalid_argument(env: &Env, message: &str) -> Error {
    let _ = env.throw_error(message, Some("ERR_INVALID_ARG_VALUE"));
    Error::new(Status::PendingException, message.to_string())
}

/// Throws a TypeError with code `ERR_INVALID_ARG_VALUE`.
fn type_error(env: &Env, message: &str) -> Error {
    let _ = env.throw_type_error(message, Some("ERR_INVALID_ARG_VALUE"));
    Error::new(Status::PendingException, message.to_string())
}

/// Throws an Error with the code of a failed helper.
fn thrown(env: &Env, error: ControlError) -> Error {
    let _ = env.throw_error(&error.message, Some(&error.code));
    Error::new(Status::PendingException, error.message)
}

/// An Error object with a `code`, to reject a promise with.
fn coded_error(env: &Env, code: &str, message: &str) -> Error {
    let created = env
        .create_error(Error::new(Status::GenericFailure, message.to_string()))
        .and_then(|mut error| {
            error.set_named_property("code", code)?;
            Ok(Error::from(error.to_unknown()))
        });
    created.unwrap_or_else(|e| e)
}

pub struct Start {
    options: ServerOptions,
    console: Option<console::ConsoleOptions>,
    failure: Option<std::io::Error>,
}

impl Task for Start {
    type Output = (Arc<Server>, Option<String>);
    type JsValue = Kafka;

    fn compute(&mut self) -> Result<(Arc<Server>, Option<String>)> {
        let started = Server::start(self.options.clone()).and_then(|server| {
            let server = Arc::new(server);
            let Some(options) = &self.console else {
                return Ok((server, None));
            };
            match console::serve(&server, options) {
                Ok(address) => Ok((server, Some(console::url(address)))),
                Err(e) => {
                    server.stop();
                    let message = format!(
                        "the console cannot listen on {}:{}: {e}",
                        options.host, options.port
                    );
                    Err(std::io::Error::new(e.kind(), message))
                }
            }
        });
        started.map_err(|e| {
            let error = Error::new(Status::GenericFailure, e.to_string());
            self.failure = Some(e);
            error
        })
    }

    fn resolve(
        &mut self,
        _env: Env,
        (server, console_url): (Arc<Server>, Option<String>),
    ) -> Result<Kafka> {
        Ok(Kafka {
            server,
            console_url,
            keep_alive: parking_lot::Mutex::new(None),
        })
    }

    fn reject(&mut self, env: Env, err: Error) -> Result<Kafka> {
        let Some(failure) = self.failure.take() else {
            return Err(err);
        };
        let code = match failure.kind() {
            std::io::ErrorKind::AddrInUse => "EADDRINUSE",
            std::io::ErrorKind::AddrNotAvailable => "EADDRNOTAVAIL",
            std::io::ErrorKind::PermissionDenied => "EACCES",
            std::io::ErrorKind::InvalidInput => "ERR_INVALID_ARG_VALUE",
            _ => "ERR_KAFKA_START",
        };
        // Bind failures name the address already; others say what is wrong.
        let message = match failure.kind() {
            std::io::ErrorKind::InvalidInput => format!("kafka-emulator cannot start: {failure}"),
            _ => failure.to_string(),
        };
        Err(coded_error(&env, code, &message))
    }
}

/// Work for the libuv pool (it blocks on the cluster's runtime): a promise that rejects with
/// the helper's error code.
pub struct Blocking<T: Send + 'static> {
    work: Option<Box<dyn FnOnce() -> std::result::Result<T, ControlError> + Send>>,
    failure: Option<ControlError>,
}

impl<T: Send + 'static> Blocking<T> {
    fn new(work: impl FnOnce() -> std::result::Result<T, ControlError> + Send + 'static) -> Self {
        Blocking {
            work: Some(Box::new(work)),
            failure: None,
        }
    }
}

impl<T: Send + ToNapiValue + TypeName + 'static> Task for Blocking<T> {
    type Output = T;
    type JsValue = T;

    fn compute(&mut self) -> Result<T> {
        let work = self
            .work
            .take()
            .ok_or_else(|| Error::new(Status::GenericFailure, "already run".to_string()))?;
        work().map_err(|e| {
            let error = Error::new(Status::GenericFailure, e.message.clone());
            self.failure = Some(e);
            error
        })
    }

    fn resolve(&mut self, _env: Env, output: T) -> Result<T> {
        Ok(output)
    }

    fn reject(&mut self, env: Env, err: Error) -> Result<T> {
        match self.failure.take() {
            Some(failure) => Err(coded_error(&env, &failure.code, &failure.message)),
            None => Err(err),
        }
    }
}

/// A listener of a broker, as `kafka.listeners` lists it.
#[napi(object)]
pub struct ListenerInfo {
    pub broker_id: i32,
    pub name: String,
    pub security: String,
    /// The advertised address.
    pub host: String,
    pub port: u32,
    /// Whether the broker is running (see `stopBroker`).
    pub running: bool,
}

/// Makes the next matching requests fail. Give `error` (a Kafka error name or code) to answer
/// with that error instead of serving the request, or `drop` to close the connection instead:
/// `'request'` before serving it, `'response'` after serving it (the request took effect but
/// the client never hears so).
#[napi(object)]
pub struct FaultOptions {
    #[napi(
        ts_type = "'Produce' | 'Fetch' | 'ListOffsets' | 'Metadata' | 'OffsetCommit' | 'OffsetFetch' | 'FindCoordinator' | 'JoinGroup' | 'Heartbeat' | 'LeaveGroup' | 'SyncGroup' | 'DescribeGroups' | 'ListGroups' | 'ApiVersions' | 'CreateTopics' | 'DeleteTopics' | 'InitProducerId' | 'AddPartitionsToTxn' | 'AddOffsetsToTxn' | 'EndTxn' | 'TxnOffsetCommit' | 'DeleteGroups' | 'OffsetDelete' | (string & {})"
    )]
    pub api: String,
    /// e.g. `'NOT_LEADER_OR_FOLLOWER'` or `6`.
    #[napi(ts_type = "string | number")]
    pub error: Option<Either<String, i32>>,
    #[napi(ts_type = "'request' | 'response'")]
    pub drop: Option<String>,
    /// How many matching requests fail (default 1).
    pub count: Option<u32>,
    /// Only requests naming this topic (the whole request fails).
    pub topic: Option<String>,
    /// Only requests to this broker id.
    pub broker: Option<i32>,
    /// Only requests from this client id.
    pub client_id: Option<String>,
}

/// Latency added to every matching request until changed (`ms: 0` removes it) or cleared.
#[napi(object)]
pub struct DelayOptions {
    pub api: Option<String>,
    pub broker: Option<i32>,
    pub ms: f64,
}

/// Which live connections `disconnect` drops (all when empty).
#[napi(object)]
pub struct DisconnectOptions {
    pub broker: Option<i32>,
    pub client_id: Option<String>,
}

/// A partition's leadership after `moveLeader`.
#[napi(object)]
pub struct LeadershipInfo {
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
}

#[napi(object)]
pub struct CreateTopicOptions {
    /// Default: `numPartitions` of the cluster.
    pub partitions: Option<i32>,
    /// Default: `defaultReplicationFactor` of the cluster.
    pub replication_factor: Option<i32>,
    /// Topic configs, e.g. `{ 'cleanup.policy': 'compact' }`.
    pub configs: Option<BTreeMap<String, String>>,
}

/// A record for `produce`. Strings are written as UTF-8.
#[napi(object)]
pub struct ProducerRecord {
    #[napi(ts_type = "Buffer | string | null")]
    pub key: Option<Either3<Buffer, String, Null>>,
    #[napi(ts_type = "Buffer | string | null")]
    pub value: Option<Either3<Buffer, String, Null>>,
    #[napi(ts_type = "Record<string, Buffer | string | null>")]
    pub headers: Option<IndexMap<String, Either3<Buffer, String, Null>>>,
    /// Default: by key with Kafka's default partitioner (murmur2), round-robin without a key.
    pub partition: Option<i32>,
    /// Create time in ms since the epoch (default: now); kafkajs' string form is accepted.
    #[napi(ts_type = "number | string")]
    pub timestamp: Option<Either<i64, String>>,
}

/// Where `produce` appended a record.
#[napi(object)]
pub struct RecordMetadata {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

#[napi(object)]
pub struct MessagesOptions {
    /// Only this partition (default: all, by partition then offset).
    pub partition: Option<i32>,
    /// Records at or after this offset (default 0).
    pub from_offset: Option<i64>,
}

/// A stored record, decoded. Keys, values and header values are Buffers (null when absent),
/// as a kafkajs consumer sees them; offsets and timestamps are numbers.
#[napi(object)]
pub struct Message {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub timestamp: i64,
    #[napi(ts_type = "Buffer | null")]
    pub key: Either<Buffer, Null>,
    #[napi(ts_type = "Buffer | null")]
    pub value: Either<Buffer, Null>,
    /// A key sent more than once has an array of its values, in order, as kafkajs shows it.
    #[napi(ts_type = "Record<string, Buffer | null | Array<Buffer | null>>")]
    pub headers: IndexMap<String, HeaderValue>,
}

/// One header value, or the values of a key sent more than once.
type HeaderValue = Either<Either<Buffer, Null>, Vec<Either<Buffer, Null>>>;

#[napi(object)]
pub struct WaitOptions {
    /// Default 5000.
    pub timeout_ms: Option<u32>,
}

/// A committed offset of a group.
#[napi(object)]
pub struct GroupOffset {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    #[napi(ts_type = "string | null")]
    pub metadata: Either<String, Null>,
}

#[napi(object)]
pub struct GroupMemberInfo {
    pub member_id: String,
    #[napi(ts_type = "string | null")]
    pub group_instance_id: Either<String, Null>,
    pub client_id: String,
    pub client_host: String,
    /// Partitions assigned to the member by topic (consumer groups only).
    pub assignment: IndexMap<String, Vec<i32>>,
}

/// A share-partition of a share group: where it starts and what is in flight.
#[napi(object)]
pub struct SharePartitionInfo {
    pub topic: String,
    pub partition: i32,
    /// Records below it are acknowledged or archived.
    pub start_offset: i64,
    /// Records from the start offset not yet acknowledged or archived.
    pub in_flight: u32,
    /// Records a member holds under an acquisition lock now.
    pub acquired: u32,
}

#[napi(object)]
pub struct GroupInfo {
    pub group_id: String,
    /// `classic`, or `share` for a share group (KIP-932).
    #[napi(js_name = "type", ts_type = "'classic' | 'share'")]
    pub group_type: String,
    #[napi(ts_type = "'Empty' | 'PreparingRebalance' | 'CompletingRebalance' | 'Stable' | 'Dead'")]
    pub state: String,
    pub generation_id: i32,
    pub protocol_type: String,
    /// The assignment strategy chosen (e.g. `RoundRobinAssigner`).
    pub protocol: String,
    /// The broker coordinating the group now.
    pub coordinator: i32,
    pub members: Vec<GroupMemberInfo>,
    /// A share group's share-partitions, with their in-flight records.
    pub share_partitions: Option<Vec<SharePartitionInfo>>,
}

/// A request as the request log keeps it.
#[napi(object)]
pub struct RequestLogEntry {
    /// The API's name, e.g. `Produce`.
    pub api: String,
    pub api_key: i32,
    pub version: i32,
    pub correlation_id: i32,
    pub client_id: String,
    pub broker: i32,
    /// The connection it came on, numbered in the order the cluster accepted them: a new
    /// number after a disconnect shows the client reconnected.
    pub connection: i64,
    /// The first error code in the response; 0 if none (or no response was sent).
    pub error_code: i32,
    /// That error's Kafka name, or null.
    #[napi(ts_type = "string | null")]
    pub error: Either<String, Null>,
    /// The response (or the lack of one) came from `failNext`.
    pub injected: bool,
    /// When it arrived, ms since the epoch.
    pub timestamp: i64,
    /// How long it took to serve, injected latency included.
    pub duration_ms: f64,
}

fn bytes_of(value: Option<Either3<Buffer, String, Null>>) -> Option<Bytes> {
    match value? {
        Either3::A(buffer) => Some(Bytes::copy_from_slice(&buffer)),
        Either3::B(text) => Some(Bytes::from(text)),
        Either3::C(Null) => None,
    }
}

fn buffer_or_null(bytes: Option<Bytes>) -> Either<Buffer, Null> {
    match bytes {
        Some(bytes) => Either::A(Buffer::from(bytes.to_vec())),
        None => Either::B(Null),
    }
}

fn string_or_null(text: Option<String>) -> Either<String, Null> {
    text.map_or(Either::B(Null), Either::A)
}

fn to_message(topic: &str, record: StoredRecord) -> Message {
    Message {
        topic: topic.to_string(),
        partition: record.partition,
        offset: record.offset,
        timestamp: record.timestamp,
        key: buffer_or_null(record.key),
        value: buffer_or_null(record.value),
        headers: header_map(record.headers),
    }
}

/// Headers keyed as kafkajs keys them: one value as is, a repeated key's values in an array.
fn header_map(headers: Vec<(String, Option<Bytes>)>) -> IndexMap<String, HeaderValue> {
    let mut grouped: IndexMap<String, Vec<Either<Buffer, Null>>> = IndexMap::new();
    for (key, value) in headers {
        grouped.entry(key).or_default().push(buffer_or_null(value));
    }
    grouped
        .into_iter()
        .map(|(key, mut values)| {
            let value = if values.len() == 1 {
                Either::A(values.remove(0))
            } else {
                Either::B(values)
            };
            (key, value)
        })
        .collect()
}

type Messages = Box<dyn FnOnce(Env) -> Result<Vec<Message>> + Send>;

/// Settles a `waitForMessages` promise exactly once, even if its task is dropped (the cluster
/// stopped): a pending JS promise would otherwise keep Node alive forever.
struct Settle {
    deferred: Option<JsDeferred<Vec<Message>, Messages>>,
    topic: String,
}

impl Settle {
    fn finish(mut self, result: std::result::Result<Vec<StoredRecord>, ControlError>) {
        let Some(deferred) = self.deferred.take() else {
            return;
        };
        let topic = std::mem::take(&mut self.topic);
        deferred.resolve(Box::new(move |env| match result {
            Ok(records) => Ok(records.into_iter().map(|r| to_message(&topic, r)).collect()),
            Err(e) => Err(coded_error(&env, &e.code, &e.message)),
        }));
    }
}

impl Drop for Settle {
    fn drop(&mut self) {
        if let Some(deferred) = self.deferred.take() {
            deferred.resolve(Box::new(|env| {
                Err(coded_error(
                    &env,
                    "ERR_KAFKA_STOPPED",
                    "the cluster stopped while waiting for messages",
                ))
            }));
        }
    }
}

/// The TLS side of a cluster, as `kafka.tls` gives it.
#[napi]
pub struct KafkaTls {
    settings: tls::TlsSettings,
}

/// A certificate and its private key, PEM.
#[napi(object)]
pub struct CertificateAndKey {
    pub cert: String,
    pub key: String,
}

#[napi]
impl KafkaTls {
    /// The CA certificate (PEM) that signed the broker's certificate when it was generated, or
    /// the `tls.ca` given; pass it to clients (`ssl: { ca: [kafka.tls.ca] }`).
    #[napi(getter)]
    pub fn ca(&self) -> Option<String> {
        self.settings.ca.clone()
    }

    /// Whether clients must present a certificate (`requestCert`).
    #[napi(getter)]
    pub fn request_cert(&self) -> bool {
        self.settings.client_auth
    }

    /// A certificate with subject `CN=<commonName>` signed by the generated CA, for a client
    /// (its principal is then `User:CN=<commonName>`) or, with `hosts`, for a server. Throws
    /// when the certificate was the caller's: its CA's key is not known.
    #[napi]
    pub fn issue_client_certificate(
        &self,
        env: Env,
        common_name: String,
        hosts: Option<Vec<String>>,
    ) -> Result<CertificateAndKey> {
        match self
            .settings
            .issue(&common_name, hosts.as_deref().unwrap_or_default())
        {
            None => Err(coded_error(
                &env,
                "ERR_KAFKA_NO_CA",
                "the broker's certificate was given, not generated: it has no CA key to sign with",
            )),
            Some(Err(message)) => Err(invalid_argument(&env, &message)),
            Some(Ok(issued)) => Ok(CertificateAndKey {
                cert: issued.cert,
                key: issued.key,
            }),
        }
    }
}

/// A running cluster.
#[napi]
pub struct Kafka {
    server: Arc<Server>,
    console_url: Option<String>,
    /// Held while the caller asked (`ref()`) for the broker to keep the process alive.
    /// Behind a lock so every method takes `&self`: napi-rs holds a `&mut self` borrow until a
    /// returned promise settles, which would make the object unusable while `stop()` runs.
    keep_alive: parking_lot::Mutex<Option<ThreadsafeFunction<(), (), (), Status, false>>>,
}

#[napi]
impl Kafka {
    /// The port of the first broker's first listener.
    #[napi(getter)]
    pub fn port(&self) -> u32 {
        self.server
            .brokers()
            .first()
            .and_then(|b| b.endpoints.first())
            .map_or(0, |e| e.port as u32)
    }

    /// The web console's address (`http://127.0.0.1:PORT/`), or null without the `console`
    /// option.
    #[napi(getter)]
    pub fn console_url(&self) -> Option<String> {
        self.console_url.clone()
    }

    /// The host of the first broker's first listener.
    #[napi(getter)]
    pub fn host(&self) -> String {
        self.server
            .brokers()
            .first()
            .and_then(|b| b.endpoints.first())
            .map_or_else(String::new, |e| e.host.clone())
    }

    /// Bootstrap addresses, `host:port`, one per broker (its first listener), stopped ones
    /// included: ready for a client's `brokers` option.
    #[napi(getter)]
    pub fn brokers(&self) -> Vec<String> {
        self.server
            .brokers()
            .iter()
            .filter_map(|b| b.endpoints.first())
            .map(|e| format!("{}:{}", e.host, e.port))
            .collect()
    }

    /// The TLS side of the cluster (`null` without the `tls` option): the CA clients should
    /// trust, and client certificates for mutual TLS.
    #[napi(getter)]
    pub fn tls(&self) -> Option<KafkaTls> {
        self.server.tls().map(|settings| KafkaTls {
            settings: settings.clone(),
        })
    }

    /// Every listener of every broker, with its advertised address.
    #[napi(getter)]
    pub fn listeners(&self) -> Vec<ListenerInfo> {
        self.server
            .brokers()
            .into_iter()
            .flat_map(|b| {
                b.endpoints.into_iter().map(move |e| ListenerInfo {
                    broker_id: b.node_id,
                    name: e.listener,
                    security: e.security.name().to_string(),
                    host: e.host,
                    port: e.port as u32,
                    running: b.alive,
                })
            })
            .collect()
    }

    /// Stops accepting, closes every connection, answers parked fetches, and frees the ports and
    /// threads. Calling it again is harmless.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn stop(&self) -> AsyncTask<Stop> {
        self.keep_alive.lock().take();
        AsyncTask::new(Stop {
            server: self.server.clone(),
        })
    }

    /// Runs retention (`retention.ms`, `retention.bytes`) and compaction (`cleanup.policy=compact`)
    /// on every topic now, instead of waiting for the periodic check. Returns the number of
    /// batches dropped plus records compacted away.
    #[napi]
    pub fn apply_retention(&self) -> u32 {
        self.server.cluster().run_log_maintenance(state::now_ms()) as u32
    }

    /// Makes the broker lose its response to the next `count` (default 1) requests of `api`
    /// (a Kafka API name such as `Produce`, or its key): each request is handled (a produce is
    /// written to the log) and then the connection is closed instead of answered. The same as
    /// `failNext({ api, drop: 'response', count })`.
    #[napi]
    pub fn drop_next_response(&self, env: Env, options: DropResponseOptions) -> Result<()> {
        let spec = FaultSpec {
            api: &options.api,
            drop: Some("response"),
            count: options.count,
            ..Default::default()
        };
        let fault = control::fault(&spec).map_err(|message| type_error(&env, &message))?;
        self.server.cluster().faults.fail_next(fault);
        Ok(())
    }

    /// Keeps the Node.js process alive while the broker runs (as `net.Server#ref`).
    #[napi(js_name = "ref")]
    pub fn keep_process_alive(&self, env: Env) -> Result<()> {
        let mut keep_alive = self.keep_alive.lock();
        if keep_alive.is_none() {
            let noop = env.create_function::<(), ()>("kafkaEmulatorKeepAlive", keep_alive_noop)?;
            *keep_alive = Some(
                noop.build_threadsafe_function::<()>()
                    .callee_handled::<false>()
                    .build()?,
            );
        }
        Ok(())
    }

    /// Lets the process exit while the broker runs (the default, as `net.Server#unref`).
    #[napi]
    pub fn unref(&self) {
        self.keep_alive.lock().take();
    }

    // ---- Fault injection ----

    /// Makes the next `count` requests matching `api` (and `topic`, `broker`, `clientId` if
    /// given) fail with a Kafka error or a dropped connection. Faults fire oldest first. An
    /// unknown api or error name is a TypeError.
    #[napi]
    pub fn fail_next(&self, env: Env, options: FaultOptions) -> Result<()> {
        let error = match &options.error {
            None => None,
            Some(Either::A(name)) => Some(ErrorSpec::Name(name)),
            Some(Either::B(code)) => Some(ErrorSpec::Code(*code)),
        };
        let spec = FaultSpec {
            api: &options.api,
            error,
            drop: options.drop.as_deref(),
            count: options.count,
            topic: options.topic.as_deref(),
            broker: options.broker,
            client_id: options.client_id.as_deref(),
        };
        let fault = control::fault(&spec).map_err(|message| type_error(&env, &message))?;
        self.server.cluster().faults.fail_next(fault);
        Ok(())
    }

    /// Adds latency to every request matching `api` and `broker` (any when absent). Setting the
    /// same pair again replaces it; `ms: 0` removes it.
    #[napi]
    pub fn delay(&self, env: Env, options: DelayOptions) -> Result<()> {
        let delay = control::delay(options.api.as_deref(), options.broker, options.ms)
            .map_err(|message| type_error(&env, &message))?;
        self.server.cluster().faults.set_delay(delay);
        Ok(())
    }

    /// Disarms every fault and delay.
    #[napi]
    pub fn clear_faults(&self) {
        self.server.cluster().faults.clear();
    }

    /// Stops a broker as if it crashed: its partitions elect new leaders (leader epoch + 1),
    /// Metadata stops listing it, its listeners close and its connections are reset. Resolves
    /// once they are. Group and transaction coordinators move to live brokers.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn stop_broker(&self, broker_id: i32) -> AsyncTask<Blocking<()>> {
        let server = self.server.clone();
        AsyncTask::new(Blocking::new(move || {
            server
                .stop_broker(broker_id)
                .map(|_| ())
                .map_err(Into::into)
        }))
    }

    /// Starts a stopped broker again on the same ports. It leads the partitions that were left
    /// without a leader; others keep theirs (move them with `moveLeader`).
    #[napi(ts_return_type = "Promise<void>")]
    pub fn start_broker(&self, broker_id: i32) -> AsyncTask<Blocking<()>> {
        let server = self.server.clone();
        AsyncTask::new(Blocking::new(move || {
            server
                .start_broker(broker_id)
                .map(|_| ())
                .map_err(Into::into)
        }))
    }

    /// Resets live connections (all, or those of a broker and/or client id); clients must
    /// reconnect. Resolves with how many were dropped, once they are closed.
    #[napi(ts_return_type = "Promise<number>")]
    pub fn disconnect(&self, options: Option<DisconnectOptions>) -> AsyncTask<Blocking<u32>> {
        let filter = options.map_or_else(ConnectionFilter::default, |o| ConnectionFilter {
            broker: o.broker,
            client_id: o.client_id,
        });
        let server = self.server.clone();
        AsyncTask::new(Blocking::new(move || Ok(server.disconnect(&filter) as u32)))
    }

    /// Makes a broker the leader of a partition, as a reassignment would (leader epoch + 1).
    #[napi]
    pub fn move_leader(
        &self,
        env: Env,
        topic: String,
        partition: i32,
        broker_id: i32,
    ) -> Result<LeadershipInfo> {
        let leadership = self
            .server
            .cluster()
            .move_leader(&topic, partition, broker_id)
            .map_err(|e| thrown(&env, e.into()))?;
        Ok(LeadershipInfo {
            leader: leadership.leader,
            leader_epoch: leadership.leader_epoch,
            replicas: leadership.replicas,
        })
    }

    // ---- Test helpers ----

    /// Deletes every topic, group, transaction, ACL and client quota, restarts stopped brokers,
    /// disarms faults and delays and empties the request log, in place: clients stay connected
    /// and find an empty cluster. Configured SASL users stay.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn reset(&self) -> AsyncTask<Blocking<()>> {
        let server = self.server.clone();
        AsyncTask::new(Blocking::new(move || server.reset().map_err(Into::into)))
    }

    /// Adds ACLs as a super user's CreateAcls would, whatever the client principals may do:
    /// for setting up a test before its clients connect. Throws `ERR_INVALID_ARG_VALUE` for an
    /// ACL Kafka would refuse, adding none.
    #[napi]
    pub fn create_acls(&self, env: Env, acls: Vec<AclOptions>) -> Result<()> {
        let bindings = acls
            .into_iter()
            .map(AclOptions::binding)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|message| invalid_argument(&env, &message))?;
        for binding in bindings {
            self.server.cluster().acls.add(binding);
        }
        Ok(())
    }

    /// Creates a topic; throws with code `TOPIC_ALREADY_EXISTS`, `INVALID_REPLICATION_FACTOR`...
    #[napi]
    pub fn create_topic(
        &self,
        env: Env,
        name: String,
        options: Option<CreateTopicOptions>,
    ) -> Result<()> {
        let options = options.unwrap_or(CreateTopicOptions {
            partitions: None,
            replication_factor: None,
            configs: None,
        });
        let replication_factor = options
            .replication_factor
            .map(|rf| i16::try_from(rf).unwrap_or(i16::MAX));
        control::create_topic(
            self.server.cluster(),
            &name,
            options.partitions,
            replication_factor,
            options.configs.unwrap_or_default(),
        )
        .map_err(|e| thrown(&env, e))?;
        Ok(())
    }

    /// Appends records straight into the topic's logs, as a producer with acks=all would
    /// (auto-creating the topic if the cluster allows). Returns where each record went.
    #[napi]
    pub fn produce(
        &self,
        env: Env,
        topic: String,
        messages: Vec<ProducerRecord>,
    ) -> Result<Vec<RecordMetadata>> {
        let mut records = Vec::with_capacity(messages.len());
        for message in messages {
            let timestamp = match message.timestamp {
                None => None,
                Some(Either::A(ms)) => Some(ms),
                Some(Either::B(text)) => Some(text.parse::<i64>().map_err(|_| {
                    type_error(&env, &format!("timestamp \"{text}\" is not a number of ms"))
                })?),
            };
            records.push(NewRecord {
                key: bytes_of(message.key),
                value: bytes_of(message.value),
                headers: message
                    .headers
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, bytes_of(Some(v))))
                    .collect(),
                partition: message.partition,
                timestamp,
            });
        }
        let appended = control::produce(self.server.cluster(), &topic, records)
            .map_err(|e| thrown(&env, e))?;
        Ok(appended
            .into_iter()
            .map(|a| RecordMetadata {
                topic: topic.clone(),
                partition: a.partition,
                offset: a.offset,
            })
            .collect())
    }

    /// The records of a topic as stored, decoded: exactly what producers wrote, headers
    /// included, by partition then offset. Throws with code `UNKNOWN_TOPIC_OR_PARTITION`.
    #[napi]
    pub fn messages(
        &self,
        env: Env,
        topic: String,
        options: Option<MessagesOptions>,
    ) -> Result<Vec<Message>> {
        let (partition, from_offset) =
            options.map_or((None, None), |o| (o.partition, o.from_offset));
        let records = control::messages(self.server.cluster(), &topic, partition, from_offset)
            .map_err(|e| thrown(&env, e))?;
        Ok(records.into_iter().map(|r| to_message(&topic, r)).collect())
    }

    /// Resolves with the topic's records as soon as it holds at least `count` (the topic may not
    /// exist yet). Rejects with code `ERR_KAFKA_TIMEOUT` after `timeoutMs` (default 5000).
    #[napi(ts_return_type = "Promise<Message[]>")]
    pub fn wait_for_messages<'env>(
        &self,
        env: &'env Env,
        topic: String,
        count: u32,
        options: Option<WaitOptions>,
    ) -> Result<Object<'env>> {
        let timeout =
            Duration::from_millis(options.and_then(|o| o.timeout_ms).unwrap_or(5000) as u64);
        let (deferred, promise) = env.create_deferred::<Vec<Message>, Messages>()?;
        let settle = Settle {
            deferred: Some(deferred),
            topic: topic.clone(),
        };
        let cluster = self.server.cluster().clone();
        let shutdown = self.server.shutdown_signal();
        self.server.spawn(async move {
            let result =
                control::wait_for_messages(cluster, topic, count as usize, timeout, shutdown).await;
            settle.finish(result);
        });
        Ok(promise)
    }

    /// A group's committed offsets, by topic and partition.
    #[napi]
    pub fn offsets(&self, group_id: String) -> Vec<GroupOffset> {
        control::offsets(self.server.cluster(), &group_id)
            .into_iter()
            .map(|o| GroupOffset {
                topic: o.topic,
                partition: o.partition,
                offset: o.offset,
                leader_epoch: o.leader_epoch,
                metadata: string_or_null(o.metadata),
            })
            .collect()
    }

    /// Every consumer group with its state, members and their assignments, then every share
    /// group with its share-partitions.
    #[napi]
    pub fn groups(&self) -> Vec<GroupInfo> {
        let member = |m: control::GroupMember| GroupMemberInfo {
            member_id: m.member_id,
            group_instance_id: string_or_null(m.group_instance_id),
            client_id: m.client_id,
            client_host: m.client_host,
            assignment: m.assignment.into_iter().collect(),
        };
        let cluster = self.server.cluster();
        let share = control::share_groups(cluster)
            .into_iter()
            .map(|g| GroupInfo {
                group_id: g.group_id,
                group_type: "share".into(),
                state: g.state.to_string(),
                generation_id: g.group_epoch,
                protocol_type: "share".into(),
                protocol: "simple".into(),
                coordinator: g.coordinator,
                members: g.members.into_iter().map(member).collect(),
                share_partitions: Some(
                    g.partitions
                        .into_iter()
                        .map(|p| SharePartitionInfo {
                            topic: p.topic,
                            partition: p.partition,
                            start_offset: p.start_offset,
                            in_flight: p.in_flight as u32,
                            acquired: p.acquired as u32,
                        })
                        .collect(),
                ),
            });
        control::groups(cluster)
            .into_iter()
            .map(|g| GroupInfo {
                group_type: "classic".into(),
                share_partitions: None,
                group_id: g.group_id,
                state: g.state.name().to_string(),
                generation_id: g.generation_id,
                protocol_type: g.protocol_type,
                protocol: g.protocol,
                coordinator: g.coordinator,
                members: g.members.into_iter().map(member).collect(),
            })
            .chain(share)
            .collect()
    }

    /// The latest requests served (see `requestLogSize`), oldest first: for seeing what a
    /// client really sent.
    #[napi]
    pub fn requests(&self) -> Vec<RequestLogEntry> {
        self.server
            .cluster()
            .faults
            .requests()
            .into_iter()
            .map(|r| RequestLogEntry {
                api: faults::api_name(r.api),
                api_key: r.api as i32,
                version: r.version as i32,
                correlation_id: r.correlation_id,
                client_id: r.client_id.to_string(),
                broker: r.broker_id,
                connection: r.connection_id as i64,
                error_code: r.error_code as i32,
                error: string_or_null(faults::error_by_code(r.error_code).map(faults::error_name)),
                injected: r.injected,
                timestamp: r.timestamp_ms,
                duration_ms: r.duration.as_secs_f64() * 1000.0,
            })
            .collect()
    }

    /// Empties the request log.
    #[napi]
    pub fn clear_requests(&self) {
        self.server.cluster().faults.clear_requests();
    }
}

unsafe extern "C" fn keep_alive_noop(
    _env: napi::sys::napi_env,
    _info: napi::sys::napi_callback_info,
) -> napi::sys::napi_value {
    std::ptr::null_mut()
}

pub struct Stop {
    server: Arc<Server>,
}

impl Task for Stop {
    type Output = ();
    type JsValue = ();

    fn compute(&mut self) -> Result<()> {
        self.server.stop();
        Ok(())
    }

    fn resolve(&mut self, _env: Env, _output: ()) -> Result<()> {
        Ok(())
    }
}
