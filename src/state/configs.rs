//! Configuration catalogue: every topic config Kafka knows, with its type, default, validation
//! and broker-level synonym, and the broker configs DescribeConfigs reports.

use std::collections::BTreeMap;

use super::BrokerConfig;

/// DescribeConfigs config types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
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
    StaticBrokerConfig = 4,
    DefaultConfig = 5,
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
    let invalid = |why: String| format!("Invalid value {value} for configuration {name}: {why}");
    let trimmed = value.trim();
    match def.kind {
        ConfigType::Boolean => match trimmed.to_ascii_lowercase().as_str() {
            v @ ("true" | "false") => return Ok(v.to_string()),
            _ => return Err(invalid("Expected value to be either true or false".into())),
        },
        ConfigType::Int | ConfigType::Short | ConfigType::Long => {
            let number: i64 = if def.kind == ConfigType::Int {
                trimmed
                    .parse::<i32>()
                    .map(i64::from)
                    .map_err(|_| invalid("Not a number of type INT".into()))?
            } else {
                trimmed
                    .parse::<i64>()
                    .map_err(|_| invalid("Not a number of type LONG".into()))?
            };
            if let Check::AtLeast(min) = def.check {
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
            if let Check::Between(min, max) = def.check {
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
            if let Check::ListOf(allowed) = def.check {
                if let Some(bad) = items.iter().find(|i| !allowed.contains(i)) {
                    return Err(invalid(format!(
                        "String must be one of: {}; found {bad}",
                        allowed.join(", ")
                    )));
                }
            }
            return Ok(items.join(","));
        }
        ConfigType::String => {}
    }
    if let Check::OneOf(allowed) = def.check {
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

    /// The broker-level value a topic config falls back to, and where it comes from.
    fn topic_default(&self, def: &ConfigDef) -> (String, ConfigSource) {
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
        name: &str,
    ) -> Option<String> {
        overrides
            .get(name)
            .cloned()
            .or_else(|| topic_config(name).map(|def| self.topic_default(def).0))
    }

    /// Every topic config of a topic, with its source and synonyms.
    pub fn describe_topic_configs(
        &self,
        overrides: &BTreeMap<String, String>,
    ) -> Vec<DescribedConfig> {
        TOPIC_CONFIGS
            .iter()
            .map(|def| {
                let (default, default_source) = self.topic_default(def);
                let mut synonyms = Vec::new();
                if let Some(value) = overrides.get(def.name) {
                    synonyms.push((
                        def.name.to_string(),
                        value.clone(),
                        ConfigSource::TopicConfig,
                    ));
                }
                let mut broker = Vec::new();
                if default_source == ConfigSource::StaticBrokerConfig {
                    broker.push((
                        def.broker_name.to_string(),
                        default.clone(),
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
                    synonyms,
                }
            })
            .collect()
    }
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
        let described = config.describe_topic_configs(&overrides);
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
                .effective_topic_config(&overrides, "retention.ms")
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
    fn synonyms_are_the_ones_kafka_lists() {
        let synonyms_of = |config: &BrokerConfig, name: &str| {
            let described = config.describe_topic_configs(&BTreeMap::new());
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
