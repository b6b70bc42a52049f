//! The cluster's brokers: their listeners, which of them are up, and what a broker going down or
//! coming back does to partition leadership, decided the way Kafka's controller decides it.
//!
//! Every broker serves from the one shared state, so a replica never lags: the in-sync replicas
//! are the live replicas, and a new leader has every record its predecessor had.

use kafka_protocol::error::ResponseError;

use super::topics::{Leadership, Partition};
use super::{BrokerNode, Cluster};

/// How a listener's connections are secured (`listener.security.protocol.map`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityProtocol {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    pub const ALL: [SecurityProtocol; 4] = [
        SecurityProtocol::Plaintext,
        SecurityProtocol::Ssl,
        SecurityProtocol::SaslPlaintext,
        SecurityProtocol::SaslSsl,
    ];

    /// Kafka's name for it, which is also a listener's default name.
    pub fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }

    pub fn parse(name: &str) -> Option<SecurityProtocol> {
        Self::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(name))
    }
}

/// A listener of a broker as clients are told of it (`advertised.listeners`): clients connected
/// through listener `X` are given every broker's address on `X`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub listener: String,
    pub security: SecurityProtocol,
    pub host: String,
    pub port: u16,
}

/// A broker of the cluster, up or down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broker {
    pub node_id: i32,
    pub rack: Option<String>,
    /// Its listeners, in the order they were configured; the first is its default address.
    pub endpoints: Vec<Endpoint>,
    pub alive: bool,
}

impl Broker {
    pub fn endpoint(&self, listener: &str) -> Option<&Endpoint> {
        self.endpoints.iter().find(|e| e.listener == listener)
    }

    fn node(&self, endpoint: &Endpoint) -> BrokerNode {
        BrokerNode {
            node_id: self.node_id,
            host: endpoint.host.clone(),
            port: endpoint.port,
        }
    }

    /// The broker on its first listener.
    pub fn default_node(&self) -> Option<BrokerNode> {
        self.endpoints.first().map(|e| self.node(e))
    }
}

/// A partition whose leadership changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderChange {
    pub topic: String,
    pub partition: i32,
    pub leadership: Leadership,
}

type ControlResult<T> = Result<T, (ResponseError, String)>;

impl Cluster {
    /// Registers a broker (or replaces the registration of the same id).
    pub fn register_broker(&self, broker: Broker) {
        let mut brokers = self.brokers.write();
        brokers.retain(|b| b.node_id != broker.node_id);
        brokers.push(broker);
        brokers.sort_by_key(|b| b.node_id);
    }

    /// Every registered broker, up or down, by id.
    pub fn all_brokers(&self) -> Vec<Broker> {
        self.brokers.read().clone()
    }

    /// The live brokers as clients connected through `listener` must reach them. A broker
    /// without that listener is left out, as Kafka leaves it out of such Metadata.
    pub fn brokers_on(&self, listener: &str) -> Vec<BrokerNode> {
        self.brokers
            .read()
            .iter()
            .filter(|b| b.alive)
            .filter_map(|b| b.endpoint(listener).map(|e| b.node(e)))
            .collect()
    }

    /// A broker's address on `listener`, falling back to its first listener.
    pub fn endpoint(&self, node_id: i32, listener: &str) -> Option<BrokerNode> {
        let brokers = self.brokers.read();
        let broker = brokers.iter().find(|b| b.node_id == node_id)?;
        match broker.endpoint(listener) {
            Some(e) => Some(broker.node(e)),
            None => broker.default_node(),
        }
    }

    pub fn is_alive(&self, node_id: i32) -> bool {
        self.brokers
            .read()
            .iter()
            .any(|b| b.node_id == node_id && b.alive)
    }

    fn set_alive(&self, node_id: i32, alive: bool) -> ControlResult<bool> {
        let mut brokers = self.brokers.write();
        let broker = brokers
            .iter_mut()
            .find(|b| b.node_id == node_id)
            .ok_or_else(|| unknown_broker(node_id))?;
        let changed = broker.alive != alive;
        broker.alive = alive;
        Ok(changed)
    }

    /// Takes a broker out of the cluster: every partition it led elects the first live replica
    /// in replica order (leader epoch + 1), or has no leader if none is left. Idempotent.
    pub fn stop_broker(&self, node_id: i32) -> ControlResult<Vec<LeaderChange>> {
        if !self.set_alive(node_id, false)? {
            return Ok(Vec::new());
        }
        Ok(self.reelect(|leadership| {
            (leadership.leader == node_id)
                .then(|| self.first_live_replica(&leadership.replicas).unwrap_or(-1))
        }))
    }

    /// UnregisterBroker: the controller forgets the broker, live or fenced, as it does a
    /// decommissioned one. Its partitions elect new leaders, and it is in no Metadata or
    /// DescribeCluster answer until it registers again (`Server::start_broker`).
    pub fn unregister_broker(&self, node_id: i32) -> Result<Vec<LeaderChange>, ResponseError> {
        let changes = self
            .stop_broker(node_id)
            .map_err(|_| ResponseError::BrokerIdNotRegistered)?;
        self.brokers.write().retain(|b| b.node_id != node_id);
        Ok(changes)
    }

    pub fn is_registered(&self, node_id: i32) -> bool {
        self.brokers.read().iter().any(|b| b.node_id == node_id)
    }

    /// Brings a broker back. It leads again only the partitions left without a leader that it
    /// holds a replica of; moving leaders back to it is a separate choice (`move_leader`), as a
    /// preferred replica election is in Kafka.
    pub fn start_broker(&self, node_id: i32) -> ControlResult<Vec<LeaderChange>> {
        if !self.set_alive(node_id, true)? {
            return Ok(Vec::new());
        }
        Ok(self.reelect(|leadership| {
            (leadership.leader == -1 && leadership.replicas.contains(&node_id)).then_some(node_id)
        }))
    }

    /// Makes `node_id` the leader of a partition, as a reassignment would: it becomes the first
    /// (preferred) replica, replacing the current leader in the replica set if it held none.
    pub fn move_leader(
        &self,
        topic: &str,
        partition: i32,
        node_id: i32,
    ) -> ControlResult<Leadership> {
        let found = self.topics.get(topic).and_then(|t| t.partition(partition));
        let Some(found) = found else {
            return Err((
                ResponseError::UnknownTopicOrPartition,
                format!("there is no partition {partition} of topic \"{topic}\""),
            ));
        };
        if !self.is_alive(node_id) {
            return Err(
                if self.brokers.read().iter().any(|b| b.node_id == node_id) {
                    (
                        ResponseError::BrokerNotAvailable,
                        format!(
                            "broker {node_id} is stopped: start it before moving leaders to it"
                        ),
                    )
                } else {
                    unknown_broker(node_id)
                },
            );
        }
        let mut leadership = found.leadership.write();
        if leadership.leader == node_id {
            return Ok(leadership.clone());
        }
        let mut replicas = vec![node_id];
        let keep = leadership.replicas.len().max(1) - 1;
        let others = leadership
            .replicas
            .iter()
            .copied()
            .filter(|&r| r != node_id);
        if leadership.replicas.contains(&node_id) {
            replicas.extend(others);
        } else {
            let old_leader = leadership.leader;
            replicas.extend(others.filter(|&r| r != old_leader).take(keep));
        }
        leadership.replicas = replicas;
        leadership.leader = node_id;
        leadership.leader_epoch += 1;
        let changed = leadership.clone();
        drop(leadership);
        // A fetch parked on the old leader answers NOT_LEADER_OR_FOLLOWER now, not at its timeout.
        found.log.lock().wake_waiters();
        Ok(changed)
    }

    /// ElectLeaders: a preferred election gives the partition back to its first replica; an
    /// unclean one gives a leaderless partition any live replica. ELECTION_NOT_NEEDED when the
    /// partition already has the leader it would get.
    pub fn elect_leader(
        &self,
        partition: &Partition,
        preferred: bool,
    ) -> Result<Leadership, ResponseError> {
        let current = partition.leadership();
        let leader = if preferred {
            let first = *current
                .replicas
                .first()
                .ok_or(ResponseError::PreferredLeaderNotAvailable)?;
            if current.leader == first {
                return Err(ResponseError::ElectionNotNeeded);
            }
            if !self.is_alive(first) {
                return Err(ResponseError::PreferredLeaderNotAvailable);
            }
            first
        } else {
            if current.leader >= 0 {
                return Err(ResponseError::ElectionNotNeeded);
            }
            self.first_live_replica(&current.replicas)
                .ok_or(ResponseError::EligibleLeadersNotAvailable)?
        };
        Ok(set_leader(partition, |_| Some(leader)).unwrap_or(current))
    }

    /// The live replicas of `replicas`, in order: the in-sync replicas, as every live replica
    /// serves the one log.
    pub fn live_replicas(&self, replicas: &[i32]) -> Vec<i32> {
        let brokers = self.brokers.read();
        replicas
            .iter()
            .copied()
            .filter(|&r| brokers.iter().any(|b| b.node_id == r && b.alive))
            .collect()
    }

    pub fn first_live_replica(&self, replicas: &[i32]) -> Option<i32> {
        let brokers = self.brokers.read();
        replicas
            .iter()
            .copied()
            .find(|&r| brokers.iter().any(|b| b.node_id == r && b.alive))
    }

    /// Gives every partition for which `elect` names a new leader that leader, with a new epoch.
    fn reelect(&self, elect: impl Fn(&Leadership) -> Option<i32>) -> Vec<LeaderChange> {
        let mut changes = Vec::new();
        for topic in self.topics.all() {
            let partitions: Vec<_> = topic.partitions.read().clone();
            for partition in partitions {
                if let Some(leadership) = set_leader(&partition, &elect) {
                    changes.push(LeaderChange {
                        topic: topic.name.clone(),
                        partition: partition.index,
                        leadership,
                    });
                }
            }
        }
        changes
    }
}

fn set_leader(
    partition: &Partition,
    elect: impl Fn(&Leadership) -> Option<i32>,
) -> Option<Leadership> {
    let mut leadership = partition.leadership.write();
    let leader = elect(&leadership)?;
    if leader == leadership.leader {
        return None;
    }
    leadership.leader = leader;
    leadership.leader_epoch += 1;
    let changed = leadership.clone();
    drop(leadership);
    partition.log.lock().wake_waiters();
    Some(changed)
}

fn unknown_broker(node_id: i32) -> (ResponseError, String) {
    (
        ResponseError::BrokerNotAvailable,
        format!("there is no broker {node_id} in this cluster"),
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::state::BrokerConfig;

    fn endpoint(listener: &str, port: u16) -> Endpoint {
        Endpoint {
            listener: listener.into(),
            security: SecurityProtocol::Plaintext,
            host: "127.0.0.1".into(),
            port,
        }
    }

    /// Brokers 0..n, each with listeners INTERNAL (port 9000 + id) and EXTERNAL (9100 + id).
    fn cluster(n: i32) -> Cluster {
        let cluster = Cluster::new("test".into(), BrokerConfig::default());
        for id in 0..n {
            cluster.register_broker(Broker {
                node_id: id,
                rack: None,
                endpoints: vec![
                    endpoint("INTERNAL", 9000 + id as u16),
                    endpoint("EXTERNAL", 9100 + id as u16),
                ],
                alive: true,
            });
        }
        cluster
    }

    fn create(cluster: &Cluster, name: &str, partitions: i32, replication_factor: i16) {
        let spec = cluster
            .topic_spec(name, partitions, replication_factor, BTreeMap::new())
            .unwrap();
        cluster.topics.create(spec).unwrap();
    }

    fn leadership(cluster: &Cluster, topic: &str, partition: i32) -> Leadership {
        cluster
            .topics
            .get(topic)
            .unwrap()
            .partition(partition)
            .unwrap()
            .leadership()
    }

    #[test]
    fn each_listener_advertises_its_own_addresses() {
        let c = cluster(3);
        let ports = |listener| {
            c.brokers_on(listener)
                .iter()
                .map(|b| b.port)
                .collect::<Vec<_>>()
        };
        assert_eq!(ports("INTERNAL"), vec![9000, 9001, 9002]);
        assert_eq!(ports("EXTERNAL"), vec![9100, 9101, 9102]);
        assert!(ports("SSL").is_empty());
        assert_eq!(c.endpoint(1, "EXTERNAL").unwrap().port, 9101);
        assert_eq!(c.endpoint(1, "nope").unwrap().port, 9001);
        assert_eq!(c.brokers().len(), 3);
    }

    #[test]
    fn an_unregistered_broker_is_forgotten_until_it_registers_again() {
        let c = cluster(2);
        create(&c, "t", 2, 2);
        assert_eq!(c.unregister_broker(1).unwrap().len(), 1);
        assert_eq!(leadership(&c, "t", 1).leader, 0);
        assert!(!c.is_registered(1));
        assert_eq!(c.all_brokers().len(), 1);
        assert_eq!(
            c.unregister_broker(1).unwrap_err(),
            ResponseError::BrokerIdNotRegistered
        );
        assert_eq!(
            c.unregister_broker(7).unwrap_err(),
            ResponseError::BrokerIdNotRegistered
        );
    }

    #[test]
    fn partitions_are_led_round_robin() {
        let c = cluster(3);
        create(&c, "t", 4, 3);
        let leaders: Vec<_> = (0..4).map(|p| leadership(&c, "t", p).leader).collect();
        assert_eq!(leaders, vec![0, 1, 2, 0]);
        assert_eq!(leadership(&c, "t", 1).replicas, vec![1, 2, 0]);
    }

    #[test]
    fn a_stopped_broker_hands_its_partitions_to_the_next_live_replica() {
        let c = cluster(3);
        create(&c, "t", 3, 2);
        let changes = c.stop_broker(1).unwrap();
        // Partition 1 (replicas 1, 2) moves to 2; partition 0 (0, 1) keeps its leader.
        assert_eq!(changes.len(), 1);
        assert_eq!(
            leadership(&c, "t", 1),
            Leadership {
                leader: 2,
                leader_epoch: 1,
                replicas: vec![1, 2]
            }
        );
        assert_eq!(leadership(&c, "t", 0).leader, 0);
        assert_eq!(leadership(&c, "t", 0).leader_epoch, 0);
        assert!(!c.is_alive(1));
        assert_eq!(
            c.brokers().iter().map(|b| b.node_id).collect::<Vec<_>>(),
            vec![0, 2]
        );
        // Stopping it again changes nothing.
        assert!(c.stop_broker(1).unwrap().is_empty());
        assert_eq!(
            c.stop_broker(7).unwrap_err().0,
            ResponseError::BrokerNotAvailable
        );
    }

    #[test]
    fn a_partition_without_a_live_replica_has_no_leader_until_one_returns() {
        let c = cluster(2);
        create(&c, "t", 2, 1);
        c.stop_broker(1).unwrap();
        assert_eq!(leadership(&c, "t", 1).leader, -1);
        assert_eq!(leadership(&c, "t", 1).leader_epoch, 1);
        let changes = c.start_broker(1).unwrap();
        assert_eq!(changes.len(), 1);
        assert_eq!(leadership(&c, "t", 1).leader, 1);
        assert_eq!(leadership(&c, "t", 1).leader_epoch, 2);
    }

    #[test]
    fn a_returning_broker_does_not_take_leadership_back() {
        let c = cluster(2);
        create(&c, "t", 2, 2);
        c.stop_broker(0).unwrap();
        assert_eq!(leadership(&c, "t", 0).leader, 1);
        assert!(c.start_broker(0).unwrap().is_empty());
        assert_eq!(leadership(&c, "t", 0).leader, 1);
    }

    #[test]
    fn moving_a_leader_bumps_the_epoch_and_makes_it_the_preferred_replica() {
        let c = cluster(3);
        create(&c, "t", 1, 2);
        assert_eq!(leadership(&c, "t", 0).replicas, vec![0, 1]);
        let moved = c.move_leader("t", 0, 1).unwrap();
        assert_eq!(moved.leader, 1);
        assert_eq!(moved.leader_epoch, 1);
        assert_eq!(moved.replicas, vec![1, 0]);
        // To a broker that holds no replica: it replaces the old leader.
        let moved = c.move_leader("t", 0, 2).unwrap();
        assert_eq!(moved.replicas, vec![2, 0]);
        assert_eq!(moved.leader_epoch, 2);
        // To the current leader: nothing changes.
        assert_eq!(c.move_leader("t", 0, 2).unwrap().leader_epoch, 2);
        assert_eq!(
            c.move_leader("t", 5, 0).unwrap_err().0,
            ResponseError::UnknownTopicOrPartition
        );
        assert_eq!(
            c.move_leader("t", 0, 9).unwrap_err().0,
            ResponseError::BrokerNotAvailable
        );
        c.stop_broker(0).unwrap();
        assert_eq!(
            c.move_leader("t", 0, 0).unwrap_err().0,
            ResponseError::BrokerNotAvailable
        );
    }

    #[test]
    fn elections_restore_the_preferred_leader_or_any_live_replica() {
        let c = cluster(3);
        create(&c, "t", 1, 2);
        let partition = c.topics.get("t").unwrap().partition(0).unwrap();
        assert_eq!(
            c.elect_leader(&partition, true).unwrap_err(),
            ResponseError::ElectionNotNeeded
        );
        c.stop_broker(0).unwrap();
        assert_eq!(partition.leadership().leader, 1);
        assert_eq!(
            c.elect_leader(&partition, true).unwrap_err(),
            ResponseError::PreferredLeaderNotAvailable
        );
        c.start_broker(0).unwrap();
        let elected = c.elect_leader(&partition, true).unwrap();
        assert_eq!((elected.leader, elected.leader_epoch), (0, 2));
        assert_eq!(c.live_replicas(&[2, 0, 1]), vec![2, 0, 1]);

        c.stop_broker(0).unwrap();
        c.stop_broker(1).unwrap();
        assert_eq!(partition.leadership().leader, -1);
        assert_eq!(c.live_replicas(&[0, 1, 2]), vec![2]);
        assert_eq!(
            c.elect_leader(&partition, false).unwrap_err(),
            ResponseError::EligibleLeadersNotAvailable
        );
        c.start_broker(1).unwrap();
        // The returning replica already took the leaderless partition.
        assert_eq!(
            c.elect_leader(&partition, false).unwrap_err(),
            ResponseError::ElectionNotNeeded
        );
    }

    #[test]
    fn coordinators_move_off_a_stopped_broker() {
        let c = cluster(3);
        // "a" -> partition 47 of 50 -> broker 2; with 2 down, the next broker in turn.
        assert_eq!(c.coordinator_for("a").unwrap().node_id, 2);
        c.stop_broker(2).unwrap();
        assert_eq!(c.coordinator_for("a").unwrap().node_id, 0);
        assert_eq!(c.controller_id(), 0);
        c.stop_broker(0).unwrap();
        assert_eq!(c.coordinator_for("a").unwrap().node_id, 1);
        assert_eq!(c.controller_id(), 1);
        c.stop_broker(1).unwrap();
        assert!(c.coordinator_for("a").is_none());
        assert_eq!(c.controller_id(), -1);
    }

    #[test]
    fn topics_are_placed_on_live_brokers_only() {
        let c = cluster(3);
        c.stop_broker(1).unwrap();
        assert_eq!(
            c.topic_spec("t", 1, 3, BTreeMap::new()).unwrap_err().0,
            ResponseError::InvalidReplicationFactor
        );
        let spec = c.topic_spec("t", 2, 2, BTreeMap::new()).unwrap();
        assert_eq!(spec.assignment, vec![vec![0, 2], vec![2, 0]]);
    }
}
