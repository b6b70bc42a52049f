//! The Node.js binding, and only that: JS options in, a running broker out. Everything it calls
//! lives in the core modules, which know nothing of napi.

mod alloc;
pub mod connection;
pub mod handlers;
pub mod protocol;
pub mod server;
pub mod state;

#[cfg(target_os = "linux")]
#[global_allocator]
static GLOBAL: alloc::GuardedAllocator = alloc::GuardedAllocator;

use std::sync::Arc;
use std::time::Duration;

use napi::bindgen_prelude::*;
use napi::threadsafe_function::ThreadsafeFunction;
use napi_derive::napi;

use server::{ListenerSpec, Server, ServerOptions};
use state::consumer_group::ConsumerGroupSettings;
use state::group::GroupSettings;
use state::BrokerConfig;

/// Options of `startKafka`. Broker settings mirror their server.properties names in camelCase.
#[napi(object)]
#[derive(Default)]
pub struct StartOptions {
    /// Port to listen on; 0 or absent picks a free one.
    pub port: Option<u32>,
    /// Address to bind and advertise; `127.0.0.1` unless given.
    pub host: Option<String>,
    /// This broker's node id (default 0).
    pub broker_id: Option<i32>,
    /// The cluster id Metadata reports (default: a fresh random one).
    pub cluster_id: Option<String>,
    /// `auto.create.topics.enable` (default true).
    pub auto_create_topics: Option<bool>,
    /// `num.partitions` for auto-created topics (default 1).
    pub num_partitions: Option<i32>,
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
    /// `default.replication.factor` for topics created with -1 or auto-created (default 1).
    pub default_replication_factor: Option<i32>,
    /// `log.retention.ms`: retention of topics that do not set `retention.ms` (default 7 days).
    pub log_retention_ms: Option<i64>,
    /// `log.retention.check.interval.ms`: how often retention and compaction run on their own
    /// (default 300000); `applyRetention()` runs them at once.
    pub log_retention_check_interval_ms: Option<u32>,
}

/// Options of `Kafka#dropNextResponse`.
#[napi(object)]
pub struct DropResponseOptions {
    /// The API whose responses are lost, by Kafka's name (`Produce`, `EndTxn`) or key.
    pub api: String,
    /// How many responses to lose (default 1).
    pub count: Option<u32>,
}

/// Starts a broker on its own runtime. Resolves once the port accepts connections; rejects with
/// an Error whose `code` is e.g. `EADDRINUSE` if it cannot bind.
#[napi(
    ts_args_type = "options?: number | StartOptions",
    ts_return_type = "Promise<Kafka>"
)]
pub fn start_kafka(options: Option<Either<u32, StartOptions>>) -> Result<AsyncTask<Start>> {
    let options = match options {
        None => StartOptions::default(),
        Some(Either::A(port)) => StartOptions {
            port: Some(port),
            ..Default::default()
        },
        Some(Either::B(options)) => options,
    };
    let port = options.port.unwrap_or(0);
    let port = u16::try_from(port)
        .map_err(|_| Error::new(Status::InvalidArg, format!("port {port} is out of range")))?;
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
    };
    let replication_factor = options
        .default_replication_factor
        .map(|rf| {
            i16::try_from(rf).map_err(|_| {
                Error::new(
                    Status::InvalidArg,
                    "defaultReplicationFactor is out of range",
                )
            })
        })
        .transpose()?;
    let config = BrokerConfig {
        groups,
        auto_create_topics: options
            .auto_create_topics
            .unwrap_or(defaults.auto_create_topics),
        num_partitions: options.num_partitions.unwrap_or(defaults.num_partitions),
        default_replication_factor: replication_factor
            .unwrap_or(defaults.default_replication_factor),
        message_max_bytes: options
            .message_max_bytes
            .map_or(defaults.message_max_bytes, |b| b as usize),
        log_retention_ms: options
            .log_retention_ms
            .unwrap_or(defaults.log_retention_ms),
        set_by_user,
        transactions: Default::default(),
    };
    Ok(AsyncTask::new(Start {
        options: ServerOptions {
            cluster_id: options
                .cluster_id
                .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()),
            config,
            listeners: vec![ListenerSpec {
                broker_id: options.broker_id.unwrap_or(0),
                host: options.host.unwrap_or_else(|| "127.0.0.1".into()),
                port,
            }],
            log_retention_check_interval: ms(
                options.log_retention_check_interval_ms,
                Duration::from_millis(300_000),
            ),
        },
        failure: None,
    }))
}

pub struct Start {
    options: ServerOptions,
    failure: Option<std::io::Error>,
}

impl Task for Start {
    type Output = Server;
    type JsValue = Kafka;

    fn compute(&mut self) -> Result<Server> {
        Server::start(self.options.clone()).map_err(|e| {
            let error = Error::new(Status::GenericFailure, e.to_string());
            self.failure = Some(e);
            error
        })
    }

    fn resolve(&mut self, _env: Env, server: Server) -> Result<Kafka> {
        Ok(Kafka {
            server: Arc::new(server),
            keep_alive: None,
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
            _ => "ERR_KAFKA_START",
        };
        let listener = &self.options.listeners[0];
        let message = format!(
            "kafka-emulator cannot listen on {}:{}: {failure}",
            listener.host, listener.port
        );
        let mut error = env.create_error(Error::new(Status::GenericFailure, message))?;
        error.set_named_property("code", code)?;
        Err(Error::from(error.to_unknown()))
    }
}

/// A running broker.
#[napi]
pub struct Kafka {
    server: Arc<Server>,
    /// Held while the caller asked (`ref()`) for the broker to keep the process alive.
    keep_alive: Option<ThreadsafeFunction<(), (), (), Status, false>>,
}

#[napi]
impl Kafka {
    /// The port the first listener is bound to.
    #[napi(getter)]
    pub fn port(&self) -> u32 {
        self.server
            .cluster()
            .brokers()
            .first()
            .map_or(0, |b| b.port as u32)
    }

    /// The host the first listener is bound to.
    #[napi(getter)]
    pub fn host(&self) -> String {
        self.server
            .cluster()
            .brokers()
            .first()
            .map_or_else(String::new, |b| b.host.clone())
    }

    /// Bootstrap addresses, `host:port`, ready for a client's `brokers` option.
    #[napi(getter)]
    pub fn brokers(&self) -> Vec<String> {
        self.server
            .cluster()
            .brokers()
            .iter()
            .map(|b| format!("{}:{}", b.host, b.port))
            .collect()
    }

    /// Stops accepting, closes every connection, answers parked fetches, and frees the port and
    /// threads. Calling it again is harmless.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn stop(&mut self) -> AsyncTask<Stop> {
        self.keep_alive = None;
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
    /// written to the log) and then the connection is closed instead of answered.
    #[napi]
    pub fn drop_next_response(&self, options: DropResponseOptions) -> Result<()> {
        let api = state::hooks::api_key_by_name(&options.api).ok_or_else(|| {
            Error::new(
                Status::InvalidArg,
                format!("unknown Kafka API {:?}", options.api),
            )
        })?;
        self.server
            .cluster()
            .hooks
            .drop_next(api, options.count.unwrap_or(1));
        Ok(())
    }

    /// Keeps the Node.js process alive while the broker runs (as `net.Server#ref`).
    #[napi(js_name = "ref")]
    pub fn keep_process_alive(&mut self, env: Env) -> Result<()> {
        if self.keep_alive.is_none() {
            let noop = env.create_function::<(), ()>("kafkaEmulatorKeepAlive", keep_alive_noop)?;
            self.keep_alive = Some(
                noop.build_threadsafe_function::<()>()
                    .callee_handled::<false>()
                    .build()?,
            );
        }
        Ok(())
    }

    /// Lets the process exit while the broker runs (the default, as `net.Server#unref`).
    #[napi]
    pub fn unref(&mut self) {
        self.keep_alive = None;
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
