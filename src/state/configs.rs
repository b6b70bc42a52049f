//! Configuration catalogue: every topic config Kafka knows, with its type, default, validation
//! and broker-level synonym, the broker configs DescribeConfigs reports, and the dynamic broker
//! configs (KIP-226) AlterConfigs sets per broker or cluster-wide.

use std::collections::{BTreeMap, HashMap};

use super::BrokerConfig;

/// DescribeConfigs config types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    /// A name Kafka does not know (a dynamic broker config may be anything).
    Unknown = 0,
    Boolean = 1,
    String = 2,
    Int = 3,
    Short = 4,
    Long = 5,
    Double = 6,
    List = 7,
}

/// DescribeConfigs config sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    TopicConfig = 1,
    /// Set with AlterConfigs on this broker's id.
    DynamicBrokerConfig = 2,
    /// Set with AlterConfigs on the cluster-wide default broker resource (name "").
    DynamicDefaultBrokerConfig = 3,
    StaticBrokerConfig = 4,
    DefaultConfig = 5,
    /// Set with IncrementalAlterConfigs on a GROUP resource (`DYNAMIC_GROUP_CONFIG`).
    DynamicGroupConfig = 8,
}

#[derive(Debug, Clone, Copy)]
enum Check {
    Any,
    AtLeast(i64),
    Between(f64, f64),
    OneOf(&'static [&'static str]),
    /// A list whose items are each one of these.
    ListOf(&'static [&'static str]),
}

#[derive(Debug)]
pub struct ConfigDef {
    pub name: &'static str,
    /// The broker config that supplies the default when the topic does not set it.
    pub broker_name: &'static str,
    pub default: &'static str,
    pub kind: ConfigType,
    check: Check,
}

const fn def(
    name: &'static str,
    broker_name: &'static str,
    default: &'static str,
    kind: ConfigType,
    check: Check,
) -> ConfigDef {
    ConfigDef {
        name,
        broker_name,
        default,
        kind,
        check,
    }
}

const LONG_MAX: &str = "9223372036854775807";
const CODECS: &[&str] = &["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"];

/// Kafka 4.x topic configs with their defaults (LogConfig / TopicConfig).
pub const TOPIC_CONFIGS: &[ConfigDef] = &[
    def(
        "cleanup.policy",
        "log.cleanup.policy",
        "delete",
        ConfigType::List,
        Check::ListOf(&["compact", "delete"]),
    ),
    def(
        "compression.type",
        "compression.type",
        "producer",
        ConfigType::String,
        Check::OneOf(CODECS),
    ),
    def(
        "delete.retention.ms",
        "log.cleaner.delete.retention.ms",
        "86400000",
        ConfigType::Long,
        Check::AtLeast(0),
    ),
    def(
        "file.delete.delay.ms",
        "log.segment.delete.delay.ms",
        "60000",
        ConfigType::Long,
        Check::AtLeast(0),
    ),
    def(
        "flush.messages",
        "log.flush.interval.messages",
        LONG_MAX,
        ConfigType::Long,
        Check::AtLeast(1),
    ),
    def(
        "flush.ms",
        "log.flush.interval.ms",
        LONG_MAX,
        ConfigType::Long,
        Check::AtLeast(0),
    ),
    def(
        "follower.replication.throttled.replicas",
        "follower.replication.throttled.replicas",
        "",
        ConfigType::List,
        Check::Any,
    ),
    def(
        "index.interval.bytes",
        "log.index.interval.bytes",
        "4096",
        ConfigType::Int,
        Check::AtLeast(0),
    ),
    def(
        "leader.replication.throttled.replicas",
        "leader.replication.throttled.replicas",
        "",
        ConfigType::List,
        Check::Any,
    ),
    def(
        "local.retention.bytes",
        "log.local.retention.bytes",
        "-2",
        ConfigType::Long,
        Check::AtLeast(-2),
    ),
    def(
        "local.retention.ms",
        "log.local.retention.ms",
        "-2",
        ConfigType::Long,
        Check::AtLeast(-2),
    ),
    def(
        "max.compaction.lag.ms",
        "log.cleaner.max.compaction.lag.ms",
        LONG_MAX,
        ConfigType::Long,
        Check::AtLeast(1),
    ),
    def(
        "max.message.bytes",
        "message.max.bytes",
        "1048588",
        ConfigType::Int,
        Check::AtLeast(0),
    ),
    def(
        "message.timestamp.after.max.ms",
        "log.message.timestamp.after.max.ms",
        "3600000",
        ConfigType::Long,
        Check::AtLeast(0),
    ),
    def(
        "message.timestamp.before.max.ms",
        "log.message.timestamp.before.max.ms",
        LONG_MAX,
        ConfigType::Long,
        Check::AtLeast(0),
    ),
    def(
        "message.timestamp.type",
        "log.message.timestamp.type",
        "CreateTime",
        ConfigType::String,
        Check::OneOf(&["CreateTime", "LogAppendTime"]),
    ),
    def(
        "min.cleanable.dirty.ratio",
        "log.cleaner.min.cleanable.ratio",
        "0.5",
        ConfigType::Double,
        Check::Between(0.0, 1.0),
    ),
    def(
        "min.compaction.lag.ms",
        "log.cleaner.min.compaction.lag.ms",
        "0",
        ConfigType::Long,
        Check::AtLeast(0),
    ),
    def(
        "min.insync.replicas",
        "min.insync.replicas",
        "1",
        ConfigType::Int,
        Check::AtLeast(1),
    ),
    def(
        "preallocate",
        "log.preallocate",
        "false",
        ConfigType::Boolean,
        Check::Any,
    ),
    def(
        "remote.storage.enable",
        "remote.log.storage.system.enable",
        "false",
        ConfigType::Boolean,
        Check::Any,
    ),
    def(
        "retention.bytes",
        "log.retention.bytes",
        "-1",
        ConfigType::Long,
        Check::Any,
    ),
    def(
        "retention.ms",
        "log.retention.ms",
        "604800000",
        ConfigType::Long,
        Check::AtLeast(-1),
    ),
    def(
        "segment.bytes",
        "log.segment.bytes",
        "1073741824",
        ConfigType::Int,
        Check::AtLeast(1_048_576),
    ),
    def(
        "segment.index.bytes",
        "log.index.size.max.bytes",
        "10485760",
        ConfigType::Int,
        Check::AtLeast(4),
    ),
    def(
        "segment.jitter.ms",
        "log.roll.jitter.ms",
        "0",
        ConfigType::Long,
        Check::AtLeast(0),
    ),
    def(
        "segment.ms",
        "log.roll.ms",
        "604800000",
        ConfigType::Long,
        Check::AtLeast(1),
    ),
    def(
        "unclean.leader.election.enable",
        "unclean.leader.election.enable",
        "false",
        ConfigType::Boolean,
        Check::Any,
    ),
];

pub fn topic_config(name: &str) -> Option<&'static ConfigDef> {
    TOPIC_CONFIGS.iter().find(|d| d.name == name)
}

/// Checks a topic config value the way Kafka's ConfigDef does; returns it normalised (lists
/// trimmed, booleans lower-cased) or INVALID_CONFIG's message.
pub fn validate_topic_config(name: &str, value: &str) -> Result<String, String> {
    let def = topic_config(name).ok_or_else(|| format!("Unknown topic config name: {name}"))?;
    check_value(name, def.kind, def.check, value)
}

fn check_value(name: &str, kind: ConfigType, check: Check, value: &str) -> Result<String, String> {
    let invalid = |why: String| format!("Invalid value {value} for configuration {name}: {why}");
    let trimmed = value.trim();
    match kind {
        ConfigType::Boolean => match trimmed.to_ascii_lowercase().as_str() {
            v @ ("true" | "false") => return Ok(v.to_string()),
            _ => return Err(invalid("Expected value to be either true or false".into())),
        },
        ConfigType::Int | ConfigType::Short | ConfigType::Long => {
            let number: i64 = if kind == ConfigType::Int {
                trimmed
                    .parse::<i32>()
                    .map(i64::from)
                    .map_err(|_| invalid("Not a number of type INT".into()))?
            } else {
                trimmed
                    .parse::<i64>()
                    .map_err(|_| invalid("Not a number of type LONG".into()))?
            };
            if let Check::AtLeast(min) = check {
                if number < min {
                    return Err(invalid(format!("Value must be at least {min}")));
                }
            }
            return Ok(trimmed.to_string());
        }
        ConfigType::Double => {
            let number: f64 = trimmed
                .parse()
                .map_err(|_| invalid("Not a number of type DOUBLE".into()))?;
            if let Check::Between(min, max) = check {
                if !(min..=max).contains(&number) {
                    return Err(invalid(format!(
                        "Value must be at least {min} and no more than {max}"
                    )));
                }
            }
            return Ok(trimmed.to_string());
        }
        ConfigType::List => {
            let items: Vec<&str> = trimmed
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect();
            if let Check::ListOf(allowed) = check {
                if let Some(bad) = items.iter().find(|i| !allowed.contains(i)) {
                    return Err(invalid(format!(
                        "String must be one of: {}; found {bad}",
                        allowed.join(", ")
                    )));
                }
            }
            return Ok(items.join(","));
        }
        ConfigType::String | ConfigType::Unknown => {}
    }
    if let Check::OneOf(allowed) = check {
        if !allowed.contains(&trimmed) {
            return Err(invalid(format!(
                "String must be one of: {}",
                allowed.join(", ")
            )));
        }
    }
    Ok(trimmed.to_string())
}

/// The broker config (and its default) that Kafka lists as a topic config's DEFAULT_CONFIG
/// synonym. Some broker configs have no default in Kafka: the topic default then comes from a
/// coarser synonym (`log.retention.hours` for `log.retention.ms`), or from nowhere.
fn broker_default_synonym(def: &ConfigDef) -> Option<(&'static str, &'static str)> {
    match def.broker_name {
        "log.retention.ms" => Some(("log.retention.hours", "168")),
        "log.roll.ms" => Some(("log.roll.hours", "168")),
        "log.roll.jitter.ms" => Some(("log.roll.jitter.hours", "0")),
        // No broker synonym in Kafka (remote.storage.enable, the throttled replica lists) or
        // one without a default (log.flush.interval.ms).
        "log.flush.interval.ms"
        | "remote.log.storage.system.enable"
        | "leader.replication.throttled.replicas"
        | "follower.replication.throttled.replicas" => None,
        name => Some((name, def.default)),
    }
}

/// A config as DescribeConfigs reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct DescribedConfig {
    pub name: String,
    pub value: String,
    pub source: ConfigSource,
    pub kind: ConfigType,
    pub read_only: bool,
    /// Kafka hides the value (null, here and in the synonyms): an unknown name might be a
    /// password.
    pub sensitive: bool,
    /// (name, value, source), most specific first (DescribeConfigs with synonyms).
    pub synonyms: Vec<(String, String, ConfigSource)>,
}

impl BrokerConfig {
    /// The broker-level configs, server.properties names, with their values and whether the
    /// user set them (STATIC_BROKER_CONFIG) or they are defaults.
    pub fn broker_configs(
        &self,
        node_id: i32,
    ) -> BTreeMap<String, (String, ConfigType, ConfigSource)> {
        let mut configs = BTreeMap::new();
        // Topic configs' broker-level synonyms, at their defaults unless overridden below.
        for def in TOPIC_CONFIGS {
            configs.insert(
                def.broker_name.to_string(),
                (
                    def.default.to_string(),
                    def.kind,
                    ConfigSource::DefaultConfig,
                ),
            );
        }
        let mut set = |name: &str, value: String, kind: ConfigType| {
            let source = if self.set_by_user.contains(name) {
                ConfigSource::StaticBrokerConfig
            } else {
                ConfigSource::DefaultConfig
            };
            configs.insert(name.to_string(), (value, kind, source));
        };
        set("node.id", node_id.to_string(), ConfigType::Int);
        set("broker.id", node_id.to_string(), ConfigType::Int);
        set(
            "auto.create.topics.enable",
            self.auto_create_topics.to_string(),
            ConfigType::Boolean,
        );
        set(
            "num.partitions",
            self.num_partitions.to_string(),
            ConfigType::Int,
        );
        set(
            "default.replication.factor",
            self.default_replication_factor.to_string(),
            ConfigType::Int,
        );
        set(
            "message.max.bytes",
            self.message_max_bytes.to_string(),
            ConfigType::Int,
        );
        set(
            "log.retention.ms",
            self.log_retention_ms.to_string(),
            ConfigType::Long,
        );
        set(
            "group.initial.rebalance.delay.ms",
            self.groups.initial_rebalance_delay.as_millis().to_string(),
            ConfigType::Int,
        );
        set(
            "group.min.session.timeout.ms",
            self.groups.min_session_timeout.as_millis().to_string(),
            ConfigType::Int,
        );
        set(
            "group.max.session.timeout.ms",
            self.groups.max_session_timeout.as_millis().to_string(),
            ConfigType::Int,
        );
        let consumer = &self.groups.consumer;
        set(
            "group.consumer.heartbeat.interval.ms",
            consumer.heartbeat_interval.as_millis().to_string(),
            ConfigType::Int,
        );
        set(
            "group.consumer.session.timeout.ms",
            consumer.session_timeout.as_millis().to_string(),
            ConfigType::Int,
        );
        set(
            "group.consumer.max.size",
            consumer.max_size.to_string(),
            ConfigType::Int,
        );
        let assignors: Vec<&str> = consumer.assignors.iter().map(|a| a.name()).collect();
        set(
            "group.consumer.assignors",
            assignors.join(","),
            ConfigType::List,
        );
        set(
            "offsets.topic.replication.factor",
            "1".into(),
            ConfigType::Short,
        );
        set(
            "transaction.state.log.replication.factor",
            "1".into(),
            ConfigType::Short,
        );
        set("transaction.state.log.min.isr", "1".into(), ConfigType::Int);
        configs
    }

    /// The broker-level value a topic config falls back to, and where it comes from: a dynamic
    /// broker config, else server.properties, else Kafka's default.
    fn topic_default(&self, def: &ConfigDef, dynamic: &DynamicLayers) -> (String, ConfigSource) {
        match dynamic.values(def.broker_name).into_iter().next() {
            Some((value, source)) => (value, source),
            None => self.static_topic_default(def),
        }
    }

    /// The broker-level value a topic config falls back to in server.properties, else Kafka's
    /// default.
    fn static_topic_default(&self, def: &ConfigDef) -> (String, ConfigSource) {
        let source = if self.set_by_user.contains(def.broker_name) {
            ConfigSource::StaticBrokerConfig
        } else {
            ConfigSource::DefaultConfig
        };
        let value = match def.broker_name {
            "message.max.bytes" => self.message_max_bytes.to_string(),
            "log.retention.ms" => self.log_retention_ms.to_string(),
            _ => def.default.to_string(),
        };
        (value, source)
    }

    /// The value of a topic config in effect for a topic with these overrides.
    pub fn effective_topic_config(
        &self,
        overrides: &BTreeMap<String, String>,
        dynamic: &DynamicLayers,
        name: &str,
    ) -> Option<String> {
        overrides
            .get(name)
            .cloned()
            .or_else(|| topic_config(name).map(|def| self.topic_default(def, dynamic).0))
    }

    /// Every topic config of a topic, with its source and synonyms.
    pub fn describe_topic_configs(
        &self,
        overrides: &BTreeMap<String, String>,
        dynamic: &DynamicLayers,
    ) -> Vec<DescribedConfig> {
        TOPIC_CONFIGS
            .iter()
            .map(|def| {
                let (default, default_source) = self.topic_default(def, dynamic);
                let mut synonyms = Vec::new();
                if let Some(value) = overrides.get(def.name) {
                    synonyms.push((
                        def.name.to_string(),
                        value.clone(),
                        ConfigSource::TopicConfig,
                    ));
                }
                let mut broker: Vec<(String, String, ConfigSource)> = dynamic
                    .values(def.broker_name)
                    .into_iter()
                    .map(|(value, source)| (def.broker_name.to_string(), value, source))
                    .collect();
                let (static_value, static_source) = self.static_topic_default(def);
                if static_source == ConfigSource::StaticBrokerConfig {
                    broker.push((
                        def.broker_name.to_string(),
                        static_value,
                        ConfigSource::StaticBrokerConfig,
                    ));
                }
                if let Some((name, value)) = broker_default_synonym(def) {
                    broker.push((
                        name.to_string(),
                        value.to_string(),
                        ConfigSource::DefaultConfig,
                    ));
                }
                // Kafka lists the broker synonyms from the first one named like the topic
                // config's own broker config: none at all while that one has no value.
                if broker
                    .first()
                    .is_some_and(|(name, ..)| name == def.broker_name)
                {
                    synonyms.extend(broker);
                }
                let (value, source) = match overrides.get(def.name) {
                    Some(value) => (value.clone(), ConfigSource::TopicConfig),
                    None => (default, default_source),
                };
                DescribedConfig {
                    name: def.name.to_string(),
                    value,
                    source,
                    kind: def.kind,
                    read_only: false,
                    sensitive: false,
                    synonyms,
                }
            })
            .collect()
    }

    /// A broker's configs as DescribeConfigs on its id reports them: each one's value in
    /// effect, where it comes from, and its synonyms (dynamic per broker, dynamic cluster-wide,
    /// static, default), and the dynamic configs it has beyond those.
    pub fn describe_broker_configs(
        &self,
        node_id: i32,
        dynamic: &DynamicLayers,
    ) -> Vec<DescribedConfig> {
        let mut configs = self.broker_configs(node_id);
        for (name, kind, default) in DYNAMIC_BROKER_CONFIGS {
            if let Some(default) = default {
                configs.entry(name.to_string()).or_insert((
                    default.to_string(),
                    *kind,
                    ConfigSource::DefaultConfig,
                ));
            }
        }
        let mut described: Vec<DescribedConfig> = configs
            .into_iter()
            .map(|(name, (value, kind, source))| {
                let mut synonyms: Vec<_> = dynamic
                    .values(&name)
                    .into_iter()
                    .map(|(v, source)| (name.clone(), v, source))
                    .collect();
                synonyms.push((name.clone(), value, source));
                let (value, source) = (synonyms[0].1.clone(), synonyms[0].2);
                DescribedConfig {
                    read_only: !matches!(
                        broker_config_mode(&name),
                        BrokerConfigMode::Dynamic { .. }
                    ),
                    name,
                    value,
                    source,
                    kind,
                    sensitive: false,
                    synonyms,
                }
            })
            .collect();
        let mut extra: Vec<&String> = dynamic
            .broker
            .iter()
            .flat_map(|m| m.keys())
            .chain(dynamic.default.keys())
            .filter(|name| !described.iter().any(|c| &c.name == *name))
            .collect();
        extra.sort();
        extra.dedup();
        for name in extra {
            let mut synonyms: Vec<_> = dynamic
                .values(name)
                .into_iter()
                .map(|(v, source)| (name.clone(), v, source))
                .collect();
            let mode = broker_config_mode(name);
            if let BrokerConfigMode::Dynamic {
                default: Some(default),
                ..
            } = mode
            {
                synonyms.push((
                    name.clone(),
                    default.to_string(),
                    ConfigSource::DefaultConfig,
                ));
            }
            described.push(dynamic_entry(name, mode, synonyms));
        }
        described
    }
}

/// What DescribeConfigs on the cluster-wide default broker resource (name "") lists: only the
/// dynamic configs set there.
pub fn describe_default_broker_configs(default: &BTreeMap<String, String>) -> Vec<DescribedConfig> {
    default
        .iter()
        .map(|(name, value)| {
            dynamic_entry(
                name,
                broker_config_mode(name),
                vec![(
                    name.clone(),
                    value.clone(),
                    ConfigSource::DynamicDefaultBrokerConfig,
                )],
            )
        })
        .collect()
}

fn dynamic_entry(
    name: &str,
    mode: BrokerConfigMode,
    synonyms: Vec<(String, String, ConfigSource)>,
) -> DescribedConfig {
    let (kind, read_only, sensitive) = match mode {
        BrokerConfigMode::Dynamic { kind, .. } => (kind, false, false),
        BrokerConfigMode::ReadOnly => (ConfigType::String, true, false),
        BrokerConfigMode::Unknown => (ConfigType::Unknown, true, true),
    };
    DescribedConfig {
        name: name.to_string(),
        value: synonyms[0].1.clone(),
        source: synonyms[0].2,
        kind,
        read_only,
        sensitive,
        synonyms,
    }
}

/// The dynamic broker configs (KIP-226): set with AlterConfigs or IncrementalAlterConfigs on a
/// broker's id (DYNAMIC_BROKER_CONFIG) or on the cluster-wide default resource, name ""
/// (DYNAMIC_DEFAULT_BROKER_CONFIG). A broker's own value wins over the cluster-wide one, which
/// wins over server.properties.
#[derive(Debug, Default, Clone)]
pub struct DynamicBrokerConfigs {
    pub default: BTreeMap<String, String>,
    pub per_broker: HashMap<i32, BTreeMap<String, String>>,
}

impl DynamicBrokerConfigs {
    /// The layers a broker sees (none of its own for `None`: the cluster-wide default only).
    pub fn layers(&self, node_id: Option<i32>) -> DynamicLayers<'_> {
        DynamicLayers {
            broker: node_id.and_then(|id| self.per_broker.get(&id)),
            default: &self.default,
        }
    }

    /// The configs set on a resource: a broker's (`Some(id)`) or the cluster-wide default.
    pub fn resource(&self, node_id: Option<i32>) -> BTreeMap<String, String> {
        match node_id {
            Some(id) => self.per_broker.get(&id).cloned().unwrap_or_default(),
            None => self.default.clone(),
        }
    }

    /// Replaces the configs of a resource.
    pub fn set_resource(&mut self, node_id: Option<i32>, configs: BTreeMap<String, String>) {
        match node_id {
            Some(id) if configs.is_empty() => {
                self.per_broker.remove(&id);
            }
            Some(id) => {
                self.per_broker.insert(id, configs);
            }
            None => self.default = configs,
        }
    }
}

/// The dynamic configs one broker sees: its own and the cluster-wide ones.
#[derive(Debug, Clone, Copy)]
pub struct DynamicLayers<'a> {
    pub broker: Option<&'a BTreeMap<String, String>>,
    pub default: &'a BTreeMap<String, String>,
}

impl DynamicLayers<'_> {
    /// No dynamic configs at all.
    pub const NONE: DynamicLayers<'static> = DynamicLayers {
        broker: None,
        default: &BTreeMap::new(),
    };

    /// The dynamic values of `name`, most specific first.
    pub fn values(&self, name: &str) -> Vec<(String, ConfigSource)> {
        let broker = self
            .broker
            .and_then(|m| m.get(name))
            .map(|v| (v.clone(), ConfigSource::DynamicBrokerConfig));
        let default = self
            .default
            .get(name)
            .map(|v| (v.clone(), ConfigSource::DynamicDefaultBrokerConfig));
        broker.into_iter().chain(default).collect()
    }
}

/// Whether a broker config can change at runtime, as Kafka's DynamicBrokerConfig decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerConfigMode {
    /// Reconfigurable; `per_broker_only` ones cannot be set cluster-wide.
    Dynamic {
        kind: ConfigType,
        default: Option<&'static str>,
        per_broker_only: bool,
    },
    /// A config Kafka reads only at startup.
    ReadOnly,
    /// A name Kafka does not know: it stores it all the same.
    Unknown,
}

/// Reconfigurable broker configs other than the topic configs' broker synonyms, with their
/// types and Kafka's defaults.
const DYNAMIC_BROKER_CONFIGS: &[(&str, ConfigType, Option<&str>)] = &[
    ("background.threads", ConfigType::Int, Some("10")),
    (
        "follower.replication.throttled.rate",
        ConfigType::Long,
        Some(LONG_MAX),
    ),
    (
        "leader.replication.throttled.rate",
        ConfigType::Long,
        Some(LONG_MAX),
    ),
    ("log.cleaner.backoff.ms", ConfigType::Long, Some("15000")),
    (
        "log.cleaner.dedupe.buffer.size",
        ConfigType::Long,
        Some("134217728"),
    ),
    (
        "log.cleaner.io.buffer.load.factor",
        ConfigType::Double,
        Some("0.9"),
    ),
    (
        "log.cleaner.io.buffer.size",
        ConfigType::Int,
        Some("524288"),
    ),
    (
        "log.cleaner.io.max.bytes.per.second",
        ConfigType::Double,
        Some("1.7976931348623157E308"),
    ),
    ("log.cleaner.threads", ConfigType::Int, Some("1")),
    ("log.retention.hours", ConfigType::Int, Some("168")),
    ("log.retention.minutes", ConfigType::Int, None),
    ("log.roll.hours", ConfigType::Int, Some("168")),
    ("log.roll.jitter.hours", ConfigType::Int, Some("0")),
    (
        "max.connection.creation.rate",
        ConfigType::Int,
        Some("2147483647"),
    ),
    ("max.connections", ConfigType::Int, Some("2147483647")),
    (
        "max.connections.per.ip",
        ConfigType::Int,
        Some("2147483647"),
    ),
    (
        "max.connections.per.ip.overrides",
        ConfigType::String,
        Some(""),
    ),
    ("metric.reporters", ConfigType::List, Some("")),
    ("num.io.threads", ConfigType::Int, Some("8")),
    ("num.network.threads", ConfigType::Int, Some("3")),
    (
        "num.recovery.threads.per.data.dir",
        ConfigType::Int,
        Some("2"),
    ),
    ("num.replica.fetchers", ConfigType::Int, Some("1")),
    (
        "producer.id.expiration.ms",
        ConfigType::Int,
        Some("86400000"),
    ),
    (
        "replica.alter.log.dirs.io.max.bytes.per.second",
        ConfigType::Long,
        Some(LONG_MAX),
    ),
    (
        "transaction.partition.verification.enable",
        ConfigType::Boolean,
        Some("true"),
    ),
];

/// Reconfigurable only on a broker's own id, never cluster-wide.
const PER_BROKER_CONFIGS: &[&str] = &[
    "advertised.listeners",
    "listener.security.protocol.map",
    "listeners",
];

/// Broker configs Kafka knows and reads only at startup, beyond those `broker_configs` lists.
const READ_ONLY_BROKER_CONFIGS: &[&str] = &[
    "controller.listener.names",
    "controller.quorum.voters",
    "delete.topic.enable",
    "inter.broker.listener.name",
    "log.dir",
    "log.dirs",
    "offsets.topic.num.partitions",
    "process.roles",
    "remote.log.storage.system.enable",
    "transaction.state.log.num.partitions",
];

pub fn broker_config_mode(name: &str) -> BrokerConfigMode {
    // The topic configs' broker synonyms, but for those Kafka reads at startup or has none of.
    let synonym = TOPIC_CONFIGS.iter().find(|d| {
        d.broker_name == name
            && !matches!(
                name,
                "remote.log.storage.system.enable"
                    | "leader.replication.throttled.replicas"
                    | "follower.replication.throttled.replicas"
            )
    });
    if let Some(def) = synonym {
        return BrokerConfigMode::Dynamic {
            kind: def.kind,
            default: broker_default_synonym(def)
                .filter(|(n, _)| *n == name)
                .map(|(_, v)| v),
            per_broker_only: false,
        };
    }
    if let Some((_, kind, default)) = DYNAMIC_BROKER_CONFIGS.iter().find(|(n, ..)| *n == name) {
        return BrokerConfigMode::Dynamic {
            kind: *kind,
            default: *default,
            per_broker_only: false,
        };
    }
    if PER_BROKER_CONFIGS.contains(&name) {
        return BrokerConfigMode::Dynamic {
            kind: ConfigType::String,
            default: None,
            per_broker_only: true,
        };
    }
    if READ_ONLY_BROKER_CONFIGS.contains(&name)
        || BrokerConfig::default().broker_configs(0).contains_key(name)
    {
        return BrokerConfigMode::ReadOnly;
    }
    BrokerConfigMode::Unknown
}

/// Checks the dynamic configs a broker resource would hold (`per_broker`: a broker's id, not
/// the cluster-wide default) as Kafka's DynamicBrokerConfig.validate does; its message
/// otherwise (Kafka answers INVALID_REQUEST with it).
pub fn validate_dynamic_broker_configs(
    configs: &BTreeMap<String, String>,
    per_broker: bool,
) -> Result<(), String> {
    let names = |wanted: &dyn Fn(BrokerConfigMode) -> bool| -> Vec<&str> {
        configs
            .keys()
            .map(String::as_str)
            .filter(|n| wanted(broker_config_mode(n)))
            .collect()
    };
    let read_only = names(&|m| m == BrokerConfigMode::ReadOnly);
    if !read_only.is_empty() {
        return Err(format!(
            "Cannot update these configs dynamically: Set({})",
            read_only.join(", ")
        ));
    }
    for (name, value) in configs {
        if let BrokerConfigMode::Dynamic { kind, .. } = broker_config_mode(name) {
            let check = TOPIC_CONFIGS
                .iter()
                .find(|d| d.broker_name == name.as_str())
                .map_or(Check::Any, |d| d.check);
            check_value(name, kind, check, value)?;
        }
    }
    let per_broker_only = names(&|m| {
        matches!(
            m,
            BrokerConfigMode::Dynamic {
                per_broker_only: true,
                ..
            }
        )
    });
    if !per_broker && !per_broker_only.is_empty() {
        return Err(format!(
            "Cannot update these configs at default cluster level, broker id must be specified: Set({})",
            per_broker_only.join(", ")
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_validated_by_type_and_range() {
        assert_eq!(
            validate_topic_config("retention.ms", " 1000 "),
            Ok("1000".into())
        );
        assert!(validate_topic_config("retention.ms", "-2")
            .unwrap_err()
            .contains("at least -1"));
        assert!(validate_topic_config("retention.ms", "soon")
            .unwrap_err()
            .contains("LONG"));
        assert!(validate_topic_config("max.message.bytes", "9999999999")
            .unwrap_err()
            .contains("INT"));
        assert_eq!(
            validate_topic_config("cleanup.policy", "compact, delete"),
            Ok("compact,delete".into())
        );
        assert!(validate_topic_config("cleanup.policy", "shred").is_err());
        assert_eq!(
            validate_topic_config("preallocate", "TRUE"),
            Ok("true".into())
        );
        assert!(validate_topic_config("message.timestamp.type", "Now").is_err());
        assert!(validate_topic_config("min.cleanable.dirty.ratio", "1.5").is_err());
        assert!(validate_topic_config("no.such.config", "1")
            .unwrap_err()
            .contains("Unknown"));
    }

    #[test]
    fn topic_configs_fall_back_to_broker_settings_then_defaults() {
        let config = BrokerConfig {
            log_retention_ms: 1000,
            set_by_user: ["log.retention.ms".to_string()].into(),
            ..Default::default()
        };
        let overrides = BTreeMap::from([("cleanup.policy".to_string(), "compact".to_string())]);
        let described = config.describe_topic_configs(&overrides, &DynamicLayers::NONE);
        let find = |name: &str| described.iter().find(|c| c.name == name).unwrap().clone();
        let retention = find("retention.ms");
        assert_eq!(
            (retention.value.as_str(), retention.source),
            ("1000", ConfigSource::StaticBrokerConfig)
        );
        assert_eq!(retention.synonyms.len(), 2);
        let policy = find("cleanup.policy");
        assert_eq!(
            (policy.value.as_str(), policy.source),
            ("compact", ConfigSource::TopicConfig)
        );
        assert_eq!(find("segment.bytes").source, ConfigSource::DefaultConfig);
        assert_eq!(
            config
                .effective_topic_config(&overrides, &DynamicLayers::NONE, "retention.ms")
                .as_deref(),
            Some("1000")
        );
        let broker = config.broker_configs(0);
        assert_eq!(
            broker["log.retention.ms"].2,
            ConfigSource::StaticBrokerConfig
        );
        assert_eq!(broker["num.partitions"].2, ConfigSource::DefaultConfig);
    }

    #[test]
    fn dynamic_broker_configs_are_checked_as_kafka_does() {
        let configs = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(
            validate_dynamic_broker_configs(&configs(&[("log.retention.ms", "1000")]), false),
            Ok(())
        );
        // Kafka stores names it does not know.
        assert_eq!(
            validate_dynamic_broker_configs(&configs(&[("no.such.config", "1")]), true),
            Ok(())
        );
        assert_eq!(
            validate_dynamic_broker_configs(&configs(&[("num.partitions", "3")]), true),
            Err("Cannot update these configs dynamically: Set(num.partitions)".into())
        );
        assert_eq!(
            validate_dynamic_broker_configs(&configs(&[("log.retention.ms", "soon")]), true),
            Err(
                "Invalid value soon for configuration log.retention.ms: Not a number of type LONG"
                    .into()
            )
        );
        assert!(validate_dynamic_broker_configs(
            &configs(&[("listeners", "PLAINTEXT://:1")]),
            false
        )
        .unwrap_err()
        .starts_with("Cannot update these configs at default cluster level"));
    }

    #[test]
    fn dynamic_broker_configs_win_over_static_ones_per_broker_first() {
        let config = BrokerConfig::default();
        let mut dynamic = DynamicBrokerConfigs::default();
        dynamic.set_resource(
            None,
            [("log.retention.ms".to_string(), "7200000".to_string())].into(),
        );
        dynamic.set_resource(
            Some(0),
            [("log.retention.ms".to_string(), "3600000".to_string())].into(),
        );
        let topic = config.describe_topic_configs(&BTreeMap::new(), &dynamic.layers(Some(0)));
        let retention = topic.iter().find(|c| c.name == "retention.ms").unwrap();
        assert_eq!(
            (retention.value.as_str(), retention.source),
            ("3600000", ConfigSource::DynamicBrokerConfig)
        );
        let synonyms: Vec<_> = retention
            .synonyms
            .iter()
            .map(|(n, v, s)| format!("{n}={v} {s:?}"))
            .collect();
        assert_eq!(
            synonyms,
            [
                "log.retention.ms=3600000 DynamicBrokerConfig",
                "log.retention.ms=7200000 DynamicDefaultBrokerConfig",
                "log.retention.hours=168 DefaultConfig"
            ]
        );
        // Broker 1 has none of its own.
        assert_eq!(
            config.effective_topic_config(
                &BTreeMap::new(),
                &dynamic.layers(Some(1)),
                "retention.ms"
            ),
            Some("7200000".into())
        );
        let broker = config.describe_broker_configs(0, &dynamic.layers(Some(0)));
        let retention = broker
            .iter()
            .find(|c| c.name == "log.retention.ms")
            .unwrap();
        assert_eq!(retention.source, ConfigSource::DynamicBrokerConfig);
        assert!(!retention.read_only);
        let default = describe_default_broker_configs(&dynamic.default);
        assert_eq!(default.len(), 1);
        assert_eq!(default[0].source, ConfigSource::DynamicDefaultBrokerConfig);
    }

    #[test]
    fn synonyms_are_the_ones_kafka_lists() {
        let synonyms_of = |config: &BrokerConfig, name: &str| {
            let described = config.describe_topic_configs(&BTreeMap::new(), &DynamicLayers::NONE);
            let found = described.into_iter().find(|c| c.name == name).unwrap();
            found
                .synonyms
                .into_iter()
                .map(|(n, v, source)| format!("{n}={v} {source:?}"))
                .collect::<Vec<_>>()
        };
        let defaults = BrokerConfig::default();
        assert_eq!(
            synonyms_of(&defaults, "segment.bytes"),
            ["log.segment.bytes=1073741824 DefaultConfig"]
        );
        // Kafka has no default for log.retention.ms, log.roll.ms ...: no synonym at all.
        for name in [
            "retention.ms",
            "segment.ms",
            "segment.jitter.ms",
            "flush.ms",
            "remote.storage.enable",
            "leader.replication.throttled.replicas",
        ] {
            assert!(synonyms_of(&defaults, name).is_empty(), "{name}");
        }
        let retention_set = BrokerConfig {
            log_retention_ms: 3_600_000,
            set_by_user: ["log.retention.ms".to_string()].into(),
            ..Default::default()
        };
        assert_eq!(
            synonyms_of(&retention_set, "retention.ms"),
            [
                "log.retention.ms=3600000 StaticBrokerConfig",
                "log.retention.hours=168 DefaultConfig"
            ]
        );
    }
}
