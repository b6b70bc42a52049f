//! Topics and their partitions: names, ids, leaders and replicas, configs, and each partition's log.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use parking_lot::{Mutex, RwLock};
use uuid::Uuid;

use super::log::PartitionLog;

/// Kafka's limit on topic name length.
const MAX_TOPIC_NAME_LEN: usize = 249;

/// Who leads a partition and who holds it. With a replica per broker, ISR = replicas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leadership {
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
}

impl Leadership {
    /// KIP-320 fencing of a request's `current_leader_epoch` (Kafka's
    /// `Partition.checkCurrentLeaderEpoch`): -1 skips the check; an older epoch means the client
    /// talks to a leader it should have forgotten, a newer one that this broker lags behind.
    pub fn check_leader_epoch(&self, current_leader_epoch: i32) -> Result<(), ResponseError> {
        if current_leader_epoch == -1 {
            Ok(())
        } else if current_leader_epoch < self.leader_epoch {
            Err(ResponseError::FencedLeaderEpoch)
        } else if current_leader_epoch > self.leader_epoch {
            Err(ResponseError::UnknownLeaderEpoch)
        } else {
            Ok(())
        }
    }
}

impl Leadership {
    /// Whether `broker_id` may serve a client's read of the partition, in Kafka's order
    /// (`ReplicaManager.getPartitionOrError`, then `Partition.getLocalLog`): a broker without a
    /// replica is not the leader; a replica fences the client's epoch first, then refuses
    /// unless it leads.
    pub fn check_leader(
        &self,
        broker_id: i32,
        current_leader_epoch: i32,
    ) -> Result<(), ResponseError> {
        if !self.replicas.contains(&broker_id) && self.leader != broker_id {
            return Err(ResponseError::NotLeaderOrFollower);
        }
        self.check_leader_epoch(current_leader_epoch)?;
        if self.leader != broker_id {
            return Err(ResponseError::NotLeaderOrFollower);
        }
        Ok(())
    }
}

#[derive(Debug)]
pub struct Partition {
    pub index: i32,
    pub leadership: RwLock<Leadership>,
    pub log: Mutex<PartitionLog>,
    /// The reassignment under way, if any (KIP-455).
    pub reassignment: Mutex<Option<Reassignment>>,
}

/// A reassignment that adds replicas, while they catch up: the partition's replicas are then
/// the target ones followed by those being removed, as Kafka lists them, and the replicas being
/// added are not yet in sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reassignment {
    /// Tells this reassignment from a later one of the same partition.
    pub id: u64,
    /// The replicas before the reassignment (restored by a cancellation).
    pub original: Vec<i32>,
    pub target: Vec<i32>,
    pub adding: Vec<i32>,
    pub removing: Vec<i32>,
}

/// What asking for a reassignment did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reassigned {
    /// Finished at once: nothing to add (the target is the replicas, or some of them).
    Done,
    /// Under way until `complete_reassignment(id)`.
    Started(u64),
}

static NEXT_REASSIGNMENT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// The replicas become `replicas`; a leader not among them gives way to `elect`'s choice.
fn finish(leadership: &mut Leadership, replicas: Vec<i32>, elect: impl Fn(&[i32]) -> i32) {
    if !replicas.contains(&leadership.leader) {
        leadership.leader = elect(&replicas);
        leadership.leader_epoch += 1;
    }
    leadership.replicas = replicas;
}

impl Partition {
    fn new(index: i32, replicas: Vec<i32>) -> Self {
        Partition {
            index,
            leadership: RwLock::new(Leadership {
                leader: replicas[0],
                leader_epoch: 0,
                replicas,
            }),
            log: Mutex::new(PartitionLog::new()),
            reassignment: Mutex::new(None),
        }
    }

    /// Moves the partition onto `target` as Kafka's controller does: a reassignment that only
    /// drops replicas finishes at once; one that adds some is under way (its replicas the target
    /// ones then those being removed) until they have caught up. A reassignment under way is
    /// replaced, counted from the replicas it started from. The leader stays while it is a
    /// target replica; otherwise `elect` picks one of the target (epoch + 1).
    pub fn reassign(&self, target: Vec<i32>, elect: impl Fn(&[i32]) -> i32) -> Reassigned {
        let mut reassignment = self.reassignment.lock();
        let mut leadership = self.leadership.write();
        let original = reassignment
            .take()
            .map_or_else(|| leadership.replicas.clone(), |r| r.original);
        let adding: Vec<i32> = target
            .iter()
            .copied()
            .filter(|r| !original.contains(r))
            .collect();
        if adding.is_empty() {
            finish(&mut leadership, target, elect);
            return Reassigned::Done;
        }
        let removing: Vec<i32> = original
            .iter()
            .copied()
            .filter(|r| !target.contains(r))
            .collect();
        let id = NEXT_REASSIGNMENT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        leadership.replicas = target.iter().chain(&removing).copied().collect();
        *reassignment = Some(Reassignment {
            id,
            original,
            target,
            adding,
            removing,
        });
        Reassigned::Started(id)
    }

    /// Cancels the reassignment under way, back to the replicas it started from; false if
    /// there is none.
    pub fn cancel_reassignment(&self, elect: impl Fn(&[i32]) -> i32) -> bool {
        let mut reassignment = self.reassignment.lock();
        let Some(r) = reassignment.take() else {
            return false;
        };
        finish(&mut self.leadership.write(), r.original, elect);
        true
    }

    /// Completes reassignment `id` once its new replicas have caught up: the replicas become
    /// the target ones. False if it is no longer the one under way (cancelled or replaced).
    pub fn complete_reassignment(&self, id: u64, elect: impl Fn(&[i32]) -> i32) -> bool {
        let mut reassignment = self.reassignment.lock();
        match reassignment.take() {
            Some(r) if r.id == id => {
                finish(&mut self.leadership.write(), r.target, elect);
                true
            }
            other => {
                *reassignment = other;
                false
            }
        }
    }

    /// The reassignment under way, if any.
    pub fn reassignment(&self) -> Option<Reassignment> {
        self.reassignment.lock().clone()
    }

    pub fn leadership(&self) -> Leadership {
        self.leadership.read().clone()
    }

    /// See [`Leadership::check_leader_epoch`].
    pub fn check_leader_epoch(&self, current_leader_epoch: i32) -> Result<(), ResponseError> {
        self.leadership
            .read()
            .check_leader_epoch(current_leader_epoch)
    }
}

#[derive(Debug)]
pub struct Topic {
    pub name: String,
    pub id: Uuid,
    pub partitions: RwLock<Vec<Arc<Partition>>>,
    /// Topic-level configs set at creation or altered since (not the broker defaults).
    pub configs: RwLock<BTreeMap<String, String>>,
}

impl Topic {
    pub fn partition(&self, index: i32) -> Option<Arc<Partition>> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.partitions.read().get(i).cloned())
    }

    pub fn partition_count(&self) -> usize {
        self.partitions.read().len()
    }

    pub fn config(&self, name: &str) -> Option<String> {
        self.configs.read().get(name).cloned()
    }

    /// Adds partitions (CreatePartitions), each with its replica list, leader first.
    pub fn add_partitions(&self, assignment: Vec<Vec<i32>>) {
        let mut partitions = self.partitions.write();
        for replicas in assignment {
            let index = partitions.len() as i32;
            partitions.push(Arc::new(Partition::new(index, replicas)));
        }
    }
}

/// What a new topic should look like.
#[derive(Debug, Clone)]
pub struct TopicSpec {
    pub name: String,
    /// Replica lists, one per partition, leader first.
    pub assignment: Vec<Vec<i32>>,
    pub configs: BTreeMap<String, String>,
}

#[derive(Debug, Default)]
struct Registry {
    by_name: HashMap<String, Arc<Topic>>,
    by_id: HashMap<Uuid, Arc<Topic>>,
}

/// Every topic in the cluster, by name and by id.
#[derive(Debug, Default)]
pub struct Topics {
    registry: RwLock<Registry>,
    /// Fired when a topic is created, for waits on a topic that does not exist yet.
    pub created: tokio::sync::Notify,
}

impl Topics {
    pub fn get(&self, name: &str) -> Option<Arc<Topic>> {
        self.registry.read().by_name.get(name).cloned()
    }

    pub fn get_by_id(&self, id: &Uuid) -> Option<Arc<Topic>> {
        self.registry.read().by_id.get(id).cloned()
    }

    /// All topics, sorted by name.
    pub fn all(&self) -> Vec<Arc<Topic>> {
        let mut topics: Vec<_> = self.registry.read().by_name.values().cloned().collect();
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        topics
    }

    /// Creates a topic; TOPIC_ALREADY_EXISTS if the name is taken.
    pub fn create(&self, spec: TopicSpec) -> Result<Arc<Topic>, ResponseError> {
        let mut registry = self.registry.write();
        if registry.by_name.contains_key(&spec.name) {
            return Err(ResponseError::TopicAlreadyExists);
        }
        let topic = Arc::new(Topic {
            id: Uuid::new_v4(),
            partitions: RwLock::new(
                spec.assignment
                    .into_iter()
                    .enumerate()
                    .map(|(i, replicas)| Arc::new(Partition::new(i as i32, replicas)))
                    .collect(),
            ),
            configs: RwLock::new(spec.configs),
            name: spec.name,
        });
        registry.by_name.insert(topic.name.clone(), topic.clone());
        registry.by_id.insert(topic.id, topic.clone());
        drop(registry);
        self.created.notify_waiters();
        Ok(topic)
    }

    /// Deletes a topic. Fetches parked on its partitions are woken so they answer at once.
    pub fn delete(&self, name: &str) -> Option<Arc<Topic>> {
        let topic = {
            let mut registry = self.registry.write();
            let topic = registry.by_name.remove(name)?;
            registry.by_id.remove(&topic.id);
            topic
        };
        for partition in topic.partitions.read().iter() {
            partition.log.lock().wake_waiters();
        }
        Some(topic)
    }
}

/// Kafka's rules for topic names: 1 to 249 of `[a-zA-Z0-9._-]`, and not `.` or `..`.
pub fn validate_topic_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("Topic name is illegal, it can't be empty".into());
    }
    if name == "." || name == ".." {
        return Err("Topic name cannot be \".\" or \"..\"".into());
    }
    if name.len() > MAX_TOPIC_NAME_LEN {
        return Err(format!(
            "Topic name is illegal, it can't be longer than {MAX_TOPIC_NAME_LEN} characters, topic name: {name}"
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-')
    {
        return Err(format!(
            "Topic name is invalid: '{name}' contains one or more characters other than ASCII alphanumerics, '.', '_' and '-'"
        ));
    }
    Ok(())
}

/// The most partitions one CreateTopics or CreatePartitions request may create, as Kafka's
/// controller has it (`MAX_PARTITIONS_PER_BATCH`): beyond it the request is a policy violation
/// rather than an allocation of millions of partitions.
pub const MAX_PARTITIONS_PER_REQUEST: i64 = 10_000;
pub const TOO_MANY_PARTITIONS: &str = "Excessively large number of partitions per request.";

/// Spreads partitions over brokers round-robin, as Kafka's default assignment does: partition
/// `p` is led by broker `p mod n` and its followers are the next brokers in order.
pub fn assign_replicas(
    broker_ids: &[i32],
    partitions: usize,
    replication_factor: usize,
) -> Vec<Vec<i32>> {
    let n = broker_ids.len();
    (0..partitions)
        .map(|p| {
            (0..replication_factor)
                .map(|r| broker_ids[(p + r) % n])
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reassignment_that_adds_replicas_is_under_way_until_completed() {
        let partition = Partition::new(0, vec![0, 1]);
        let first = |r: &[i32]| r[0];
        let Reassigned::Started(id) = partition.reassign(vec![2, 1], first) else {
            panic!("replica 2 is added");
        };
        let under_way = partition.reassignment().unwrap();
        assert_eq!((under_way.adding, under_way.removing), (vec![2], vec![0]));
        assert_eq!(partition.leadership().replicas, vec![2, 1, 0]);
        assert_eq!(partition.leadership().leader, 0);
        // A stale completion does nothing; the right one moves the leader off replica 0.
        assert!(!partition.complete_reassignment(id + 1000, first));
        assert!(partition.complete_reassignment(id, first));
        let leadership = partition.leadership();
        assert_eq!(
            (
                leadership.replicas,
                leadership.leader,
                leadership.leader_epoch
            ),
            (vec![2, 1], 2, 1)
        );
        assert!(partition.reassignment().is_none());

        // Dropping replicas finishes at once; a cancellation restores the replicas it started from.
        assert_eq!(partition.reassign(vec![2], first), Reassigned::Done);
        assert!(matches!(
            partition.reassign(vec![2, 3], first),
            Reassigned::Started(_)
        ));
        assert!(partition.cancel_reassignment(first));
        assert_eq!(partition.leadership().replicas, vec![2]);
        assert!(!partition.cancel_reassignment(first));
    }

    fn spec(name: &str, partitions: usize) -> TopicSpec {
        TopicSpec {
            name: name.into(),
            assignment: assign_replicas(&[0], partitions, 1),
            configs: BTreeMap::new(),
        }
    }

    #[test]
    fn a_requests_leader_epoch_is_fenced_as_kafka_does() {
        let partition = Partition::new(0, vec![0]);
        partition.leadership.write().leader_epoch = 3;
        assert_eq!(partition.check_leader_epoch(-1), Ok(()));
        assert_eq!(partition.check_leader_epoch(3), Ok(()));
        assert_eq!(
            partition.check_leader_epoch(2),
            Err(ResponseError::FencedLeaderEpoch)
        );
        assert_eq!(
            partition.check_leader_epoch(0),
            Err(ResponseError::FencedLeaderEpoch)
        );
        assert_eq!(
            partition.check_leader_epoch(4),
            Err(ResponseError::UnknownLeaderEpoch)
        );
    }

    #[test]
    fn a_follower_fences_the_epoch_before_saying_it_does_not_lead() {
        let leadership = Leadership {
            leader: 1,
            leader_epoch: 2,
            replicas: vec![1, 0],
        };
        assert_eq!(leadership.check_leader(1, 2), Ok(()));
        assert_eq!(leadership.check_leader(1, -1), Ok(()));
        assert_eq!(
            leadership.check_leader(1, 1),
            Err(ResponseError::FencedLeaderEpoch)
        );
        assert_eq!(
            leadership.check_leader(0, 1),
            Err(ResponseError::FencedLeaderEpoch)
        );
        assert_eq!(
            leadership.check_leader(0, 3),
            Err(ResponseError::UnknownLeaderEpoch)
        );
        assert_eq!(
            leadership.check_leader(0, 2),
            Err(ResponseError::NotLeaderOrFollower)
        );
        // Broker 2 holds no replica: it knows nothing of the epoch.
        assert_eq!(
            leadership.check_leader(2, 1),
            Err(ResponseError::NotLeaderOrFollower)
        );
    }

    #[test]
    fn topic_names_follow_kafkas_rules() {
        assert!(validate_topic_name("orders.v1_x-y").is_ok());
        assert!(validate_topic_name("").is_err());
        assert!(validate_topic_name("..").is_err());
        assert!(validate_topic_name("a b").is_err());
        assert!(validate_topic_name(&"x".repeat(250)).is_err());
        assert!(validate_topic_name(&"x".repeat(249)).is_ok());
    }

    #[test]
    fn a_recreated_topic_has_a_new_id_and_an_empty_log() {
        let topics = Topics::default();
        let first = topics.create(spec("t", 2)).unwrap();
        assert_eq!(
            topics.create(spec("t", 2)).unwrap_err(),
            ResponseError::TopicAlreadyExists
        );
        assert!(topics.get_by_id(&first.id).is_some());
        topics.delete("t").unwrap();
        assert!(topics.get("t").is_none());
        assert!(topics.get_by_id(&first.id).is_none());
        let second = topics.create(spec("t", 3)).unwrap();
        assert_ne!(first.id, second.id);
        assert_eq!(second.partition_count(), 3);
        assert!(second.partition(3).is_none());
        assert!(second.partition(-1).is_none());
    }

    #[test]
    fn replicas_are_spread_round_robin() {
        assert_eq!(
            assign_replicas(&[1, 2, 3], 4, 2),
            vec![vec![1, 2], vec![2, 3], vec![3, 1], vec![1, 2]]
        );
    }
}
