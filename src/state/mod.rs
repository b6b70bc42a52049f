//! The broker's data, shared by every connection: the cluster's brokers, its topics and logs.
//! No socket code lives here, so all of it can be unit-tested without a network.

pub mod brokers;
pub mod configs;
pub mod features;
pub mod fetch_sessions;
pub mod groups;
pub mod log;
pub mod quorum;
pub mod quotas;
pub mod security;
pub mod share;
pub mod topics;
pub mod transactions;

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use parking_lot::RwLock;

use brokers::{Broker, Endpoint, SecurityProtocol};
use groups::coordinator::GroupCoordinator;
use groups::group::GroupSettings;
use log::cleaner;
use security::{acls, sasl};
use topics::{assign_replicas, validate_topic_name, Topic, TopicSpec, Topics};
use transactions::txn;

/// Broker settings, named after their server.properties counterparts.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// `auto.create.topics.enable`
    pub auto_create_topics: bool,
    /// `num.partitions`: partitions of auto-created topics and of CreateTopics asking for -1.
    pub num_partitions: i32,
    /// `default.replication.factor`
    pub default_replication_factor: i16,
    /// `group.initial.rebalance.delay.ms`, `group.min.session.timeout.ms`,
    /// `group.max.session.timeout.ms`. The initial delay is 0 so a test's first consumer is
    /// assigned at once.
    pub groups: GroupSettings,
    /// `message.max.bytes`: the largest record batch a topic accepts unless it sets its own.
    pub message_max_bytes: usize,
    /// `transaction.max.timeout.ms`
    pub transactions: txn::TxnSettings,
    /// `log.retention.ms`: how long topics keep data unless they set `retention.ms`.
    pub log_retention_ms: i64,
    /// server.properties names of the settings the user gave (DescribeConfigs reports them as
    /// STATIC_BROKER_CONFIG, the rest as defaults).
    pub set_by_user: std::collections::BTreeSet<String>,
    /// Whether and how ACLs are enforced (`authorizer.class.name`, `super.users`,
    /// `allow.everyone.if.no.acl.found`).
    pub authorizer: acls::AuthorizerConfig,
    /// Finalized feature levels other than the defaults (`kafka-storage format --feature`).
    pub features: Vec<(String, i16)>,
    /// `delegation.token.*`: delegation tokens are enabled with a secret key.
    pub delegation_tokens: Option<security::delegation_tokens::TokenSettings>,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            auto_create_topics: true,
            num_partitions: 1,
            default_replication_factor: 1,
            groups: GroupSettings::default(),
            message_max_bytes: 1_048_588,
            transactions: txn::TxnSettings::default(),
            log_retention_ms: 604_800_000,
            set_by_user: Default::default(),
            authorizer: Default::default(),
            features: Vec::new(),
            delegation_tokens: None,
        }
    }
}

/// A broker of the cluster as clients see it in Metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerNode {
    pub node_id: i32,
    pub host: String,
    pub port: u16,
}

/// The whole cluster: every broker serves from this one state, so brokers are data (ids and
/// listeners), not code paths.
#[derive(Debug)]
pub struct Cluster {
    pub cluster_id: String,
    pub config: BrokerConfig,
    /// Every broker, up or down, sorted by id (see `brokers.rs`).
    brokers: RwLock<Vec<Broker>>,
    pub topics: Topics,
    pub groups: GroupCoordinator,
    pub quotas: quotas::ClientQuotas,
    pub txns: txn::TxnCoordinator,
    /// Test controls: injected errors and latency, and the log of requests served.
    pub faults: crate::faults::Faults,
    pub fetch_sessions: fetch_sessions::FetchSessions,
    pub acls: acls::Acls,
    /// SASL users, SCRAM credentials and delegation tokens.
    pub credentials: sasl::Credentials,
    /// Broker configs set at runtime with AlterConfigs (KIP-226).
    pub dynamic_configs: RwLock<configs::DynamicBrokerConfigs>,
    /// The broker's own log (what it says about connections it closes, failed logins...).
    pub logger: crate::logging::Logger,
    /// Finalized feature levels (KIP-584): ApiVersions reports them, UpdateFeatures changes them.
    pub features: features::Features,
    /// The KRaft metadata quorum DescribeQuorum describes.
    pub quorum: quorum::Quorum,
    /// Share groups (KIP-932) and their share-partitions.
    pub shares: share::ShareCoordinator,
}

/// A new cluster id as Kafka makes them (`kafka-storage random-uuid`): 16 random bytes in
/// URL-safe base64 without padding, 22 characters, never starting with '-' (which command
/// lines would take for an option).
pub fn random_cluster_id() -> String {
    use base64::Engine;
    loop {
        let id = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(uuid::Uuid::new_v4().as_bytes());
        if !id.starts_with('-') {
            return id;
        }
    }
}

impl Cluster {
    pub fn new(cluster_id: String, config: BrokerConfig) -> Self {
        Cluster {
            cluster_id,
            groups: GroupCoordinator::new(config.groups.clone()),
            txns: txn::TxnCoordinator::new(config.transactions.clone()),
            acls: acls::Acls::new(config.authorizer.clone()),
            features: Cluster::start_features(&config),
            credentials: sasl::Credentials::default().with_delegation_tokens(
                security::delegation_tokens::DelegationTokens::new(
                    config.delegation_tokens.clone(),
                ),
            ),
            config,
            brokers: RwLock::new(Vec::new()),
            topics: Topics::default(),
            quotas: Default::default(),
            faults: Default::default(),
            fetch_sessions: Default::default(),
            dynamic_configs: Default::default(),
            logger: Default::default(),
            quorum: quorum::Quorum::new(now_ms()),
            shares: Default::default(),
        }
    }

    /// The feature levels a cluster starts with. Levels are checked where options are read
    /// (binding, CLI); a bad one here falls back to the defaults.
    pub fn start_features(config: &BrokerConfig) -> features::Features {
        features::Features::with_levels(&config.features).unwrap_or_default()
    }

    /// Registers a live broker with a single PLAINTEXT listener.
    pub fn add_broker(&self, node: BrokerNode) {
        self.register_broker(Broker {
            node_id: node.node_id,
            rack: None,
            endpoints: vec![Endpoint {
                listener: SecurityProtocol::Plaintext.name().into(),
                security: SecurityProtocol::Plaintext,
                host: node.host,
                port: node.port,
            }],
            alive: true,
        });
    }

    /// The live brokers, each at its first listener's address.
    pub fn brokers(&self) -> Vec<BrokerNode> {
        self.brokers
            .read()
            .iter()
            .filter(|b| b.alive)
            .filter_map(|b| b.default_node())
            .collect()
    }

    /// The active controller: the lowest live broker id, as a KRaft quorum would elect.
    pub fn controller_id(&self) -> i32 {
        self.brokers
            .read()
            .iter()
            .find(|b| b.alive)
            .map_or(-1, |b| b.node_id)
    }

    /// The broker coordinating a group or transactional id. Kafka maps the key to a partition of
    /// its internal offsets/transactions topic (50 partitions) by the key's Java string hash; the
    /// partition's leader is the coordinator. Brokers take those partitions round-robin here,
    /// every broker a replica of each, so a stopped coordinator's partitions move to the next
    /// live broker in turn.
    pub fn coordinator_for(&self, key: &str) -> Option<BrokerNode> {
        let brokers = self.brokers.read();
        let partition = coordinator_partition(key) as usize;
        (0..brokers.len())
            .map(|r| &brokers[(partition + r) % brokers.len()])
            .find(|b| b.alive)
            .and_then(|b| b.default_node())
    }

    /// Checks a topic request the way CreateTopics does and builds its spec. `-1` partitions or
    /// replication factor mean the broker defaults.
    pub fn topic_spec(
        &self,
        name: &str,
        num_partitions: i32,
        replication_factor: i16,
        configs: BTreeMap<String, String>,
    ) -> Result<TopicSpec, (ResponseError, String)> {
        validate_topic_name(name).map_err(|m| (ResponseError::InvalidTopicException, m))?;
        let partitions = if num_partitions == -1 {
            self.config.num_partitions
        } else {
            num_partitions
        };
        if partitions <= 0 {
            return Err((
                ResponseError::InvalidPartitions,
                "Number of partitions must be larger than 0.".into(),
            ));
        }
        let replication_factor = if replication_factor == -1 {
            self.config.default_replication_factor
        } else {
            replication_factor
        };
        let broker_ids: Vec<i32> = self.brokers().iter().map(|b| b.node_id).collect();
        if replication_factor <= 0 {
            return Err((
                ResponseError::InvalidReplicationFactor,
                "Replication factor must be larger than 0.".into(),
            ));
        }
        if replication_factor as usize > broker_ids.len() {
            return Err((
                ResponseError::InvalidReplicationFactor,
                format!(
                    "Unable to replicate the partition {replication_factor} time(s): The target replication factor of {replication_factor} cannot be reached because only {} broker(s) are registered.",
                    broker_ids.len()
                ),
            ));
        }
        Ok(TopicSpec {
            name: name.to_string(),
            assignment: assign_replicas(
                &broker_ids,
                partitions as usize,
                replication_factor as usize,
            ),
            configs,
        })
    }

    /// Auto-creates a topic a client asked for by name, if the broker allows it. Returns the
    /// topic (existing or new), or the error Metadata reports for it.
    pub fn auto_create_topic(&self, name: &str) -> Result<std::sync::Arc<Topic>, ResponseError> {
        if let Some(topic) = self.topics.get(name) {
            return Ok(topic);
        }
        if !self.config.auto_create_topics {
            return Err(ResponseError::UnknownTopicOrPartition);
        }
        let spec = self
            .topic_spec(name, -1, -1, BTreeMap::new())
            .map_err(|(e, _)| e)?;
        match self.topics.create(spec) {
            Ok(topic) => Ok(topic),
            // Another connection created it a moment ago.
            Err(_) => self
                .topics
                .get(name)
                .ok_or(ResponseError::UnknownTopicOrPartition),
        }
    }

    /// The value of a topic config in effect: the topic's own, else the broker's, else Kafka's
    /// default.
    pub fn topic_config(&self, topic: &Topic, name: &str) -> Option<String> {
        // Dynamic broker configs as the lowest broker id has them: the broker (of one, usually)
        // whose log maintenance this stands for.
        let first_broker = self.brokers.read().iter().map(|b| b.node_id).min();
        let dynamic = self.dynamic_configs.read();
        self.config.effective_topic_config(
            &topic.configs.read(),
            &dynamic.layers(first_broker),
            name,
        )
    }

    /// Applies every topic's retention (`cleanup.policy=delete`: `retention.ms`,
    /// `retention.bytes`) and compaction (`cleanup.policy=compact`) now. Returns the number of
    /// batches dropped and records compacted away.
    pub fn run_log_maintenance(&self, now_ms: i64) -> usize {
        let mut removed = 0;
        for topic in self.topics.all() {
            let config = |name: &str| self.topic_config(&topic, name).unwrap_or_default();
            let number = |name: &str| config(name).parse::<i64>().unwrap_or(-1);
            let policy = config("cleanup.policy");
            let delete = policy.split(',').any(|p| p == "delete");
            let compact = policy.split(',').any(|p| p == "compact");
            let cleaner = cleaner::CleanerConfig {
                now_ms,
                delete_retention_ms: number("delete.retention.ms"),
                min_compaction_lag_ms: number("min.compaction.lag.ms").max(0),
            };
            for partition in topic.partitions.read().iter() {
                let mut log = partition.log.lock();
                if compact {
                    removed += cleaner::compact(&mut log, cleaner);
                }
                if delete {
                    removed += log.apply_retention(
                        now_ms,
                        number("retention.ms"),
                        number("retention.bytes"),
                    );
                }
            }
        }
        removed
    }

    /// Whether `topic` is compacted, so every record needs a key.
    pub fn is_compacted(&self, topic: &Topic) -> bool {
        self.topic_config(topic, "cleanup.policy")
            .is_some_and(|p| p.split(',').any(|p| p == "compact"))
    }

    /// The largest batch `topic` accepts: its `max.message.bytes`, else the broker's.
    pub fn max_message_bytes(&self, topic: &Topic) -> usize {
        self.topic_config(topic, "max.message.bytes")
            .and_then(|v| v.parse().ok())
            .unwrap_or(self.config.message_max_bytes)
    }
}

/// Wall-clock milliseconds since the epoch, as Kafka timestamps are.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The partition of Kafka's internal `__consumer_offsets` / `__transaction_state` topic (50
/// partitions) that holds a group's or transactional id's state.
pub fn coordinator_partition(key: &str) -> i32 {
    ((java_string_hash(key) as i64).unsigned_abs() % 50) as i32
}

/// Java's `String.hashCode`, which Kafka uses to place coordinator keys.
fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(c as i32))
}

#[cfg(test)]
mod tests {
    #[test]
    fn cluster_ids_look_like_kafkas() {
        for _ in 0..100 {
            let id = super::random_cluster_id();
            assert_eq!(id.len(), 22, "{id}");
            assert!(!id.starts_with('-'), "{id}");
            assert!(
                id.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
                "{id}"
            );
        }
    }

    use super::*;

    fn cluster(brokers: &[i32]) -> Cluster {
        let cluster = Cluster::new("test".into(), BrokerConfig::default());
        for &id in brokers {
            cluster.add_broker(BrokerNode {
                node_id: id,
                host: "127.0.0.1".into(),
                port: 9092 + id as u16,
            });
        }
        cluster
    }

    #[test]
    fn defaults_fill_in_minus_one() {
        let spec = cluster(&[0])
            .topic_spec("t", -1, -1, BTreeMap::new())
            .unwrap();
        assert_eq!(spec.assignment, vec![vec![0]]);
    }

    #[test]
    fn replication_factor_cannot_exceed_the_brokers() {
        let c = cluster(&[0]);
        assert_eq!(
            c.topic_spec("t", 1, 2, BTreeMap::new()).unwrap_err().0,
            ResponseError::InvalidReplicationFactor
        );
        assert_eq!(
            c.topic_spec("t", 0, 1, BTreeMap::new()).unwrap_err().0,
            ResponseError::InvalidPartitions
        );
        assert_eq!(
            c.topic_spec("bad name", 1, 1, BTreeMap::new())
                .unwrap_err()
                .0,
            ResponseError::InvalidTopicException
        );
    }

    #[test]
    fn coordinators_are_spread_by_the_java_hash_of_the_key() {
        assert_eq!(
            java_string_hash("my-group"),
            "my-group"
                .chars()
                .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(c as i32))
        );
        assert_eq!(java_string_hash("a"), 97);
        let c = cluster(&[0, 1, 2]);
        // "a" -> partition 47 of 50 -> broker 47 % 3 = 2.
        assert_eq!(c.coordinator_for("a").unwrap().node_id, 2);
        assert_eq!(
            cluster(&[0]).coordinator_for("anything").unwrap().node_id,
            0
        );
    }

    #[test]
    fn the_controller_is_the_lowest_broker_id() {
        assert_eq!(cluster(&[2, 1, 3]).controller_id(), 1);
        assert_eq!(cluster(&[]).controller_id(), -1);
    }

    #[test]
    fn auto_creation_follows_the_broker_option() {
        let c = cluster(&[0]);
        assert_eq!(c.auto_create_topic("fresh").unwrap().partition_count(), 1);
        let config = BrokerConfig {
            auto_create_topics: false,
            ..Default::default()
        };
        let strict = Cluster::new("x".into(), config);
        assert_eq!(
            strict.auto_create_topic("fresh").unwrap_err(),
            ResponseError::UnknownTopicOrPartition
        );
    }
}
