//! What the test helpers do, without napi types: reset the cluster in place, create topics,
//! append records and read them back decoded, list groups and committed offsets, and wait for
//! records to arrive. The binding (`binding.rs`) only converts JS values to and from these.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::ConsumerProtocolAssignment;
use kafka_protocol::protocol::{Decodable, StrBytes};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

use crate::faults::{
    api_name, error_by_code, error_name, now_ms, parse_api, parse_error, Delay, Fault, FaultAction,
};
use crate::handlers::error_response::FAILABLE_APIS;
use crate::state::groups::group::GroupState;
use crate::state::log::batch::{
    decompress_records, read_header, read_records, record_headers, split_batches, visible_records,
};
use crate::state::topics::Topic;
use crate::state::Cluster;

/// A helper's failure: `code` is a Kafka error name (`UNKNOWN_TOPIC_OR_PARTITION`) or an
/// `ERR_KAFKA_*` code of the emulator's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlError {
    pub code: String,
    pub message: String,
}

impl ControlError {
    fn new(code: &str, message: impl Into<String>) -> Self {
        ControlError {
            code: code.into(),
            message: message.into(),
        }
    }
}

impl From<(ResponseError, String)> for ControlError {
    fn from((error, message): (ResponseError, String)) -> Self {
        ControlError {
            code: error_name(error),
            message,
        }
    }
}

fn unknown_topic(topic: &str) -> ControlError {
    ControlError::new(
        "UNKNOWN_TOPIC_OR_PARTITION",
        format!("topic \"{topic}\" does not exist"),
    )
}

/// Deletes every topic, group, transaction, ACL, client quota, delegation token and fetch
/// session, disarms every fault and delay, and empties the request log. Clients stay
/// connected; they find an empty cluster. Configured users (SASL credentials) stay.
pub fn reset(cluster: &Cluster) {
    for topic in cluster.topics.all() {
        cluster.topics.delete(&topic.name);
    }
    cluster.groups.clear();
    cluster.shares.clear();
    cluster.txns.clear();
    cluster.acls.clear();
    cluster.quotas.clear();
    cluster.credentials.delegation_tokens.clear();
    cluster.fetch_sessions.clear();
    cluster.faults.clear();
    cluster.faults.clear_requests();
    cluster
        .features
        .reset_to(&Cluster::start_features(&cluster.config));
}

/// Creates a topic as CreateTopics would; `None` asks for the broker defaults.
pub fn create_topic(
    cluster: &Cluster,
    name: &str,
    partitions: Option<i32>,
    replication_factor: Option<i16>,
    configs: BTreeMap<String, String>,
) -> Result<Arc<Topic>, ControlError> {
    let spec = cluster.topic_spec(
        name,
        partitions.unwrap_or(-1),
        replication_factor.unwrap_or(-1),
        configs,
    )?;
    cluster
        .topics
        .create(spec)
        .map_err(|e| ControlError::new(&error_name(e), format!("topic \"{name}\" already exists")))
}

/// A record to append.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewRecord {
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<(String, Option<Bytes>)>,
    /// The partition; else by key as Kafka's default partitioner does, else round-robin.
    pub partition: Option<i32>,
    /// Create time in ms; now unless given.
    pub timestamp: Option<i64>,
}

/// Where a record was appended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub partition: i32,
    pub offset: i64,
}

/// Keyless records without a partition go round-robin.
static NEXT_PARTITION: AtomicU32 = AtomicU32::new(0);

/// Appends records as a producer would (one batch per partition, auto-creating the topic if the
/// broker allows), straight into the logs: no connection, no leader needed. Returns where each
/// record went, in order.
pub fn produce(
    cluster: &Cluster,
    topic_name: &str,
    records: Vec<NewRecord>,
) -> Result<Vec<Appended>, ControlError> {
    let topic = match cluster.topics.get(topic_name) {
        Some(topic) => topic,
        None => cluster
            .auto_create_topic(topic_name)
            .map_err(|_| unknown_topic(topic_name))?,
    };
    let count = topic.partition_count() as i32;
    let mut placed: Vec<i32> = Vec::with_capacity(records.len());
    for record in &records {
        let partition = match (record.partition, &record.key) {
            (Some(p), _) if (0..count).contains(&p) => p,
            (Some(p), _) => {
                return Err(ControlError::new(
                    "UNKNOWN_TOPIC_OR_PARTITION",
                    format!("topic \"{topic_name}\" has no partition {p} (it has {count})"),
                ))
            }
            (None, Some(key)) => (murmur2(key) & 0x7fff_ffff) as i32 % count,
            (None, None) => (NEXT_PARTITION.fetch_add(1, Ordering::Relaxed) % count as u32) as i32,
        };
        placed.push(partition);
    }
    let now = now_ms();
    let mut by_partition: BTreeMap<i32, Vec<(usize, Record)>> = BTreeMap::new();
    for (i, (record, &partition)) in records.into_iter().zip(&placed).enumerate() {
        let batch = by_partition.entry(partition).or_default();
        let delta = batch.len();
        batch.push((i, encodable(record, delta, now)));
    }
    let mut appended = vec![
        Appended {
            partition: 0,
            offset: -1
        };
        placed.len()
    ];
    for (index, batch) in by_partition {
        let partition = topic
            .partition(index)
            .ok_or_else(|| unknown_topic(topic_name))?;
        let mut bytes = BytesMut::new();
        let records: Vec<&Record> = batch.iter().map(|(_, r)| r).collect();
        RecordBatchEncoder::encode(
            &mut bytes,
            records.iter().copied(),
            &RecordEncodeOptions {
                version: 2,
                compression: Compression::None,
            },
        )
        .map_err(|e| ControlError::new("INVALID_RECORD", e.to_string()))?;
        let batches = split_batches(&bytes.freeze()).map_err(|e| {
            ControlError::new(&error_name(e), "the encoded batch does not check out")
        })?;
        let leader_epoch = partition.leadership().leader_epoch;
        let mut log = partition.log.lock();
        let mut base_offset = None;
        for (header, bytes) in &batches {
            let offset = log.append(header, bytes, leader_epoch, None);
            base_offset.get_or_insert(offset);
        }
        drop(log);
        let base_offset = base_offset.unwrap_or(-1);
        for (delta, (i, _)) in batch.iter().enumerate() {
            appended[*i] = Appended {
                partition: index,
                offset: base_offset + delta as i64,
            };
        }
    }
    Ok(appended)
}

fn encodable(record: NewRecord, delta: usize, now: i64) -> Record {
    Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: 0,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset: delta as i64,
        // No producer id: the batch's base sequence is -1. The encoder starts a new batch
        // wherever offset - sequence changes, so the sequence follows the offset.
        sequence: delta as i32 - 1,
        timestamp: record.timestamp.unwrap_or(now),
        key: record.key,
        value: record.value,
        headers: record
            .headers
            .into_iter()
            .map(|(k, v)| (StrBytes::from_string(k), v))
            .collect(),
    }
}

/// Kafka's murmur2, which its default partitioner (and kafkajs') applies to keys.
pub fn murmur2(data: &[u8]) -> u32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let len = data.len();
    let mut h = SEED ^ len as u32;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if rest.len() >= 3 {
        h ^= (rest[2] as u32) << 16;
    }
    if rest.len() >= 2 {
        h ^= (rest[1] as u32) << 8;
    }
    if !rest.is_empty() {
        h ^= rest[0] as u32;
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

/// A record as stored, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    pub partition: i32,
    pub offset: i64,
    pub timestamp: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<(String, Option<Bytes>)>,
}

/// The records of a topic (or one partition), by partition then offset, from `from_offset`
/// on. Control records (transaction markers) are left out, as a consumer never sees them.
pub fn messages(
    cluster: &Cluster,
    topic_name: &str,
    partition: Option<i32>,
    from_offset: Option<i64>,
) -> Result<Vec<StoredRecord>, ControlError> {
    let topic = cluster
        .topics
        .get(topic_name)
        .ok_or_else(|| unknown_topic(topic_name))?;
    let partitions: Vec<_> = match partition {
        Some(index) => vec![topic.partition(index).ok_or_else(|| {
            ControlError::new(
                "UNKNOWN_TOPIC_OR_PARTITION",
                format!("topic \"{topic_name}\" has no partition {index}"),
            )
        })?],
        None => topic.partitions.read().clone(),
    };
    let from = from_offset.unwrap_or(0);
    let mut out = Vec::new();
    for partition in partitions {
        // Batches are reference-counted: copy the list, decode outside the lock.
        let batches: Vec<Bytes> = partition
            .log
            .lock()
            .batches()
            .filter(|b| b.last_offset >= from)
            .map(|b| b.bytes.clone())
            .collect();
        for bytes in batches {
            let corrupt = |e: String| {
                ControlError::new(
                    "CORRUPT_MESSAGE",
                    format!("a stored batch does not decode: {e}"),
                )
            };
            // kafka-protocol keeps headers in a map, which folds a repeated key into one: the
            // headers come from the batch's own records, in order, every one kept.
            let header = read_header(&bytes).map_err(|e| corrupt(error_name(e)))?;
            let section =
                decompress_records(&bytes, &header).map_err(|e| corrupt(error_name(e)))?;
            let raw = read_records(&section, &header).map_err(|e| corrupt(error_name(e)))?;
            let mut buf = bytes;
            let set = RecordBatchDecoder::decode(&mut buf).map_err(|e| corrupt(e.to_string()))?;
            if set.records.len() != raw.len() {
                return Err(corrupt("its record count disagrees".into()));
            }
            for (r, raw) in set.records.into_iter().zip(&raw) {
                if r.control || r.offset < from {
                    continue;
                }
                let headers = record_headers(&section, raw)
                    .map_err(|e| corrupt(error_name(e)))?
                    .into_iter()
                    .map(|(k, v)| {
                        (
                            String::from_utf8_lossy(&section[k]).into_owned(),
                            v.map(|v| section.slice(v)),
                        )
                    })
                    .collect();
                out.push(StoredRecord {
                    partition: partition.index,
                    offset: r.offset,
                    timestamp: r.timestamp,
                    key: r.key,
                    value: r.value,
                    headers,
                });
            }
        }
    }
    Ok(out)
}

/// Records of `topic` a consumer would see, and every partition log parked on `waiter`.
fn count_and_park(topic: &Topic, waiter: &Arc<Notify>) -> usize {
    let partitions: Vec<_> = topic.partitions.read().clone();
    partitions
        .iter()
        .map(|p| {
            let mut log = p.log.lock();
            log.park(waiter);
            log.batches()
                .map(|b| visible_records(&b.bytes))
                .sum::<usize>()
        })
        .sum()
}

/// Waits until `topic` holds at least `count` records, then returns all of them. Sleeps on the
/// partition logs' append notifications (and on topic creation, if the topic does not exist
/// yet); fails with `ERR_KAFKA_TIMEOUT` at the deadline, `ERR_KAFKA_STOPPED` if the cluster
/// stops first.
pub async fn wait_for_messages(
    cluster: Arc<Cluster>,
    topic_name: String,
    count: usize,
    timeout: Duration,
    mut shutdown: watch::Receiver<bool>,
) -> Result<Vec<StoredRecord>, ControlError> {
    let deadline = Instant::now() + timeout;
    let waiter = Arc::new(Notify::new());
    loop {
        let mut created = std::pin::pin!(cluster.topics.created.notified());
        created.as_mut().enable();
        let found = match cluster.topics.get(&topic_name) {
            Some(topic) => count_and_park(&topic, &waiter),
            None => 0,
        };
        if found >= count {
            return messages(&cluster, &topic_name, None, None);
        }
        if *shutdown.borrow() {
            return Err(ControlError::new(
                "ERR_KAFKA_STOPPED",
                "the cluster stopped while waiting for messages",
            ));
        }
        tokio::select! {
            _ = waiter.notified() => {}
            _ = created => {}
            _ = shutdown.changed() => {}
            _ = tokio::time::sleep_until(deadline) => {
                return Err(ControlError::new(
                    "ERR_KAFKA_TIMEOUT",
                    format!(
                        "waited {} ms for {count} message(s) on topic \"{topic_name}\" but found {found}",
                        timeout.as_millis()
                    ),
                ));
            }
        }
    }
}

/// A committed offset of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupOffset {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
}

/// A group's committed offsets, by topic and partition.
pub fn offsets(cluster: &Cluster, group_id: &str) -> Vec<GroupOffset> {
    cluster
        .groups
        .fetch_offsets(group_id, None)
        .into_iter()
        .filter_map(|((topic, partition), offset)| {
            let offset = offset?;
            Some(GroupOffset {
                topic,
                partition,
                offset: offset.offset,
                leader_epoch: offset.leader_epoch,
                metadata: offset.metadata,
            })
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    /// The partitions assigned to it, decoded if the group runs the consumer protocol.
    pub assignment: Vec<(String, Vec<i32>)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInfo {
    pub group_id: String,
    pub state: GroupState,
    pub generation_id: i32,
    pub protocol_type: String,
    pub protocol: String,
    pub coordinator: i32,
    pub members: Vec<GroupMember>,
}

/// The broker coordinating a group now, -1 if none is up.
fn coordinator_of(cluster: &Cluster, group_id: &str) -> i32 {
    cluster.coordinator_for(group_id).map_or(-1, |b| b.node_id)
}

/// Every group, by id, with its members and their assignments.
pub fn groups(cluster: &Cluster) -> Vec<GroupInfo> {
    cluster
        .groups
        .list()
        .into_iter()
        .filter_map(|(group_id, _, _)| cluster.groups.describe(&group_id))
        .map(|g| {
            let consumer = g.protocol_type == "consumer";
            GroupInfo {
                coordinator: coordinator_of(cluster, &g.group_id),
                members: g
                    .members
                    .into_iter()
                    .map(|m| GroupMember {
                        assignment: if consumer {
                            decode_assignment(&m.assignment)
                        } else {
                            Vec::new()
                        },
                        member_id: m.member_id,
                        group_instance_id: m.group_instance_id,
                        client_id: m.client_id,
                        client_host: m.client_host,
                    })
                    .collect(),
                group_id: g.group_id,
                state: g.state,
                generation_id: g.generation_id,
                protocol_type: g.protocol_type,
                protocol: g.protocol_name,
            }
        })
        .collect()
}

/// A share-partition of a share group as `groups()` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharePartitionInfo {
    pub topic: String,
    pub partition: i32,
    /// The share-partition start offset: records below it are done.
    pub start_offset: i64,
    /// Records from the start offset not yet acknowledged or archived.
    pub in_flight: usize,
    /// Records held by a member under an acquisition lock now.
    pub acquired: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareGroupInfo {
    pub group_id: String,
    pub state: &'static str,
    pub group_epoch: i32,
    pub coordinator: i32,
    pub members: Vec<GroupMember>,
    pub partitions: Vec<SharePartitionInfo>,
}

/// An assignment by topic id as `GroupMember` shows it, by topic name (deleted topics left out).
fn assignment_by_name<'a, P>(
    cluster: &Cluster,
    assignment: impl Iterator<Item = (&'a uuid::Uuid, P)>,
) -> Vec<(String, Vec<i32>)>
where
    P: IntoIterator<Item = &'a i32>,
{
    assignment
        .filter_map(|(id, partitions)| {
            let topic = cluster.topics.get_by_id(id)?;
            Some((
                topic.name.clone(),
                partitions.into_iter().copied().collect(),
            ))
        })
        .collect()
}

/// Every share group (KIP-932), by id, with its members and share-partitions.
pub fn share_groups(cluster: &Cluster) -> Vec<ShareGroupInfo> {
    let topic_name = |id: &uuid::Uuid| cluster.topics.get_by_id(id).map(|t| t.name.clone());
    cluster
        .shares
        .views()
        .into_iter()
        .map(|view| {
            let g = view.description;
            ShareGroupInfo {
                coordinator: coordinator_of(cluster, &g.group_id),
                members: g
                    .members
                    .into_iter()
                    .map(|m| GroupMember {
                        assignment: assignment_by_name(cluster, m.assignment.iter()),
                        member_id: m.member_id,
                        group_instance_id: None,
                        client_id: m.client_id,
                        client_host: m.client_host,
                    })
                    .collect(),
                partitions: view
                    .partitions
                    .into_iter()
                    .filter_map(|(id, partition, start_offset, in_flight, acquired)| {
                        Some(SharePartitionInfo {
                            topic: topic_name(&id)?,
                            partition,
                            start_offset,
                            in_flight,
                            acquired,
                        })
                    })
                    .collect(),
                group_id: g.group_id,
                state: g.state,
                group_epoch: g.group_epoch,
            }
        })
        .collect()
}

/// A consumer-protocol (KIP-848) group, which `groups()` (classic groups) leaves out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerProtocolGroup {
    pub group_id: String,
    /// As ConsumerGroupDescribe names it: Empty, Assigning, Reconciling, Stable.
    pub state: &'static str,
    pub group_epoch: i32,
    /// The server-side assignor (`uniform`, `range`).
    pub assignor: String,
    pub coordinator: i32,
    /// Members with the partitions they own now, by topic name.
    pub members: Vec<GroupMember>,
}

/// Every consumer-protocol group, by id, with its members and their assignments.
pub fn consumer_protocol_groups(cluster: &Cluster) -> Vec<ConsumerProtocolGroup> {
    cluster
        .groups
        .list_consumer_groups()
        .into_iter()
        .filter_map(|(group_id, _)| cluster.groups.consumer_describe(&group_id).ok())
        .map(|g| ConsumerProtocolGroup {
            coordinator: coordinator_of(cluster, &g.group_id),
            members: g
                .members
                .into_iter()
                .map(|m| GroupMember {
                    assignment: assignment_by_name(cluster, m.assignment.iter()),
                    member_id: m.member_id,
                    group_instance_id: m.instance_id,
                    client_id: m.client_id,
                    client_host: m.client_host,
                })
                .collect(),
            group_id: g.group_id,
            state: g.state.name(),
            group_epoch: g.group_epoch,
            assignor: g.assignor_name,
        })
        .collect()
}

/// How far a group is behind on one partition: its committed offset (if any) against the
/// partition's high watermark, as `kafka-consumer-groups --describe` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLag {
    pub topic: String,
    pub partition: i32,
    pub committed: Option<i64>,
    pub high_watermark: i64,
    /// High watermark minus committed offset; none without a commit.
    pub lag: Option<i64>,
    /// The member the partition is assigned to, if any.
    pub member_id: Option<String>,
}

/// The lag of a group on every partition it has committed or is assigned, by topic and
/// partition.
pub fn group_lag(cluster: &Cluster, group_id: &str, members: &[GroupMember]) -> Vec<PartitionLag> {
    let mut rows: BTreeMap<(String, i32), PartitionLag> = BTreeMap::new();
    fn row<'a>(
        rows: &'a mut BTreeMap<(String, i32), PartitionLag>,
        cluster: &Cluster,
        topic: &str,
        partition: i32,
    ) -> &'a mut PartitionLag {
        rows.entry((topic.to_string(), partition))
            .or_insert_with(|| PartitionLag {
                topic: topic.to_string(),
                partition,
                committed: None,
                high_watermark: cluster
                    .topics
                    .get(topic)
                    .and_then(|t| t.partition(partition))
                    .map_or(-1, |p| p.log.lock().high_watermark()),
                lag: None,
                member_id: None,
            })
    }
    for offset in offsets(cluster, group_id) {
        let r = row(&mut rows, cluster, &offset.topic, offset.partition);
        r.committed = Some(offset.offset);
        r.lag = (r.high_watermark >= 0).then(|| (r.high_watermark - offset.offset).max(0));
    }
    for member in members {
        for (topic, partitions) in &member.assignment {
            for &partition in partitions {
                row(&mut rows, cluster, topic, partition).member_id =
                    Some(member.member_id.clone());
            }
        }
    }
    rows.into_values().collect()
}

/// Where `reset_offsets` moves a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetTo {
    Earliest,
    Latest,
    Offset(i64),
}

/// Commits new offsets for a group with no members, as `kafka-consumer-groups --reset-offsets`
/// does: for every partition of `topic` (or of every topic the group has committed), to the log
/// start offset, the high watermark or a given offset (clamped into the log). A group with
/// members is refused with NON_EMPTY_GROUP, as that tool refuses an active group.
pub fn reset_offsets(
    cluster: &Cluster,
    group_id: &str,
    topic: Option<&str>,
    to: ResetTo,
) -> Result<Vec<GroupOffset>, ControlError> {
    let members = match cluster.groups.describe(group_id) {
        Some(group) => group.members.len(),
        None => cluster
            .groups
            .consumer_describe(group_id)
            .map_or(0, |g| g.members.len()),
    };
    if members > 0 {
        return Err(ControlError::new(
            "NON_EMPTY_GROUP",
            format!(
                "group \"{group_id}\" has {members} member(s): stop its consumers before resetting its offsets"
            ),
        ));
    }
    let topics: Vec<String> = match topic {
        Some(t) => vec![t.to_string()],
        None => {
            let mut named: Vec<String> = offsets(cluster, group_id)
                .into_iter()
                .map(|o| o.topic)
                .collect();
            named.sort();
            named.dedup();
            named
        }
    };
    if topics.is_empty() {
        return Err(ControlError::new(
            "ERR_KAFKA_NOTHING_TO_RESET",
            format!("group \"{group_id}\" has no committed offsets: name the topic to reset"),
        ));
    }
    let mut commits = Vec::new();
    for name in &topics {
        let topic = cluster
            .topics
            .get(name)
            .ok_or_else(|| unknown_topic(name))?;
        for partition in topic.partitions.read().iter() {
            let log = partition.log.lock();
            let (start, end) = (log.log_start_offset(), log.high_watermark());
            let offset = match to {
                ResetTo::Earliest => start,
                ResetTo::Latest => end,
                ResetTo::Offset(o) => o.clamp(start, end),
            };
            commits.push((
                (name.clone(), partition.index),
                crate::state::groups::group::CommittedOffset {
                    offset,
                    leader_epoch: -1,
                    metadata: None,
                },
            ));
        }
    }
    cluster
        .groups
        .commit_offsets(group_id, "", None, -1, commits, 9)
        .map_err(|e| {
            ControlError::new(
                &error_name(e),
                format!("group \"{group_id}\" refused the new offsets"),
            )
        })?;
    Ok(offsets(cluster, group_id)
        .into_iter()
        .filter(|o| topics.contains(&o.topic))
        .collect())
}

/// A consumer protocol assignment: a version, then the assignment at that version.
fn decode_assignment(bytes: &Bytes) -> Vec<(String, Vec<i32>)> {
    if bytes.len() < 2 {
        return Vec::new();
    }
    let version = i16::from_be_bytes([bytes[0], bytes[1]]).clamp(0, 3);
    let mut body = bytes.slice(2..);
    ConsumerProtocolAssignment::decode(&mut body, version)
        .map(|a| {
            a.assigned_partitions
                .into_iter()
                .map(|tp| (tp.topic.to_string(), tp.partitions))
                .collect()
        })
        .unwrap_or_default()
}

/// An error to inject, as a test names it.
#[derive(Debug, Clone, Copy)]
pub enum ErrorSpec<'a> {
    Name(&'a str),
    Code(i32),
}

/// A fault as a test describes it; `fault` checks it.
#[derive(Debug, Clone, Default)]
pub struct FaultSpec<'a> {
    pub api: &'a str,
    pub error: Option<ErrorSpec<'a>>,
    /// `request` or `response`.
    pub drop: Option<&'a str>,
    pub count: Option<u32>,
    pub topic: Option<&'a str>,
    pub broker: Option<i32>,
    pub client_id: Option<&'a str>,
}

/// Checks a fault description: an API this broker serves, and either a Kafka error (which the
/// API must be able to answer with) or a connection drop. Errors are meant as TypeErrors.
pub fn fault(spec: &FaultSpec) -> Result<Fault, String> {
    let api = parse_api(spec.api)
        .filter(|api| crate::handlers::supported_versions(*api).is_some())
        .ok_or_else(|| {
            format!(
                "unknown Kafka API \"{}\": expected one of {}",
                spec.api,
                crate::handlers::SUPPORTED_APIS
                    .iter()
                    .map(|(api, _, _)| api_name(*api))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
    let action = match (spec.error, spec.drop) {
        (Some(_), Some(_)) => return Err("give either error or drop, not both".into()),
        (None, None) => return Err("give the error to answer with, or drop".into()),
        (Some(error), None) => {
            let parsed = match error {
                ErrorSpec::Name(name) => parse_error(name),
                ErrorSpec::Code(code) => i16::try_from(code).ok().and_then(error_by_code),
            };
            let error = parsed.ok_or_else(|| match error {
                ErrorSpec::Name(name) => format!("unknown Kafka error \"{name}\""),
                ErrorSpec::Code(code) => format!("unknown Kafka error code {code}"),
            })?;
            if !FAILABLE_APIS.contains(&api) {
                return Err(format!(
                    "{} cannot be answered with an error",
                    api_name(api)
                ));
            }
            FaultAction::Error(error)
        }
        (None, Some("request")) => FaultAction::DropRequest,
        (None, Some("response")) => FaultAction::DropResponse,
        (None, Some(other)) => {
            return Err(format!(
                "drop must be \"request\" or \"response\", not \"{other}\""
            ))
        }
    };
    Ok(Fault {
        api,
        action,
        count: spec.count.unwrap_or(1),
        topic: spec.topic.map(str::to_string),
        broker: spec.broker,
        client_id: spec.client_id.map(str::to_string),
    })
}

/// Checks a latency description: an optional API this broker serves, and a duration.
pub fn delay(api: Option<&str>, broker: Option<i32>, ms: f64) -> Result<Delay, String> {
    let api = match api {
        None => None,
        Some(name) => Some(
            parse_api(name)
                .filter(|api| crate::handlers::supported_versions(*api).is_some())
                .ok_or_else(|| format!("unknown Kafka API \"{name}\""))?,
        ),
    };
    // A day is more latency than any test wants, and keeps the Duration in range.
    if !(0.0..=86_400_000.0).contains(&ms) {
        return Err(format!(
            "ms must be a duration in milliseconds up to a day, not {ms}"
        ));
    }
    Ok(Delay {
        api,
        broker,
        latency: Duration::from_secs_f64(ms / 1000.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{BrokerConfig, BrokerNode};

    fn cluster() -> Arc<Cluster> {
        let cluster = Cluster::new("test".into(), BrokerConfig::default());
        cluster.add_broker(BrokerNode {
            node_id: 0,
            host: "127.0.0.1".into(),
            port: 9092,
        });
        Arc::new(cluster)
    }

    fn record(key: &str, value: &str) -> NewRecord {
        NewRecord {
            key: Some(Bytes::copy_from_slice(key.as_bytes())),
            value: Some(Bytes::copy_from_slice(value.as_bytes())),
            ..Default::default()
        }
    }

    #[test]
    fn a_stopped_group_shows_its_lag_and_resets_to_either_end_or_an_offset() {
        let c = cluster();
        create_topic(&c, "t", Some(2), None, BTreeMap::new()).unwrap();
        let at = |partition| NewRecord {
            partition: Some(partition),
            ..record("k", "v")
        };
        produce(&c, "t", vec![at(0), at(0), at(0), at(1)]).unwrap();
        let commit = |offset| {
            let committed = crate::state::groups::group::CommittedOffset {
                offset,
                leader_epoch: -1,
                metadata: None,
            };
            c.groups
                .commit_offsets("g", "", None, -1, vec![(("t".into(), 0), committed)], 9)
                .unwrap();
        };
        commit(1);
        let group = groups(&c).into_iter().find(|g| g.group_id == "g").unwrap();
        let lag: Vec<_> = group_lag(&c, &group.group_id, &group.members)
            .into_iter()
            .map(|l| (l.partition, l.committed, l.high_watermark, l.lag))
            .collect();
        assert_eq!(lag, vec![(0, Some(1), 3, Some(2))]);

        let reset = reset_offsets(&c, "g", None, ResetTo::Latest).unwrap();
        let offsets: Vec<_> = reset.iter().map(|o| (o.partition, o.offset)).collect();
        assert_eq!(offsets, vec![(0, 3), (1, 1)]);
        reset_offsets(&c, "g", Some("t"), ResetTo::Earliest).unwrap();
        assert!(offsets_of(&c, "g").iter().all(|&(_, o)| o == 0));
        // An offset past the end is clamped into the log.
        reset_offsets(&c, "g", Some("t"), ResetTo::Offset(99)).unwrap();
        assert_eq!(offsets_of(&c, "g"), vec![(0, 3), (1, 1)]);
        assert_eq!(
            reset_offsets(&c, "unknown", None, ResetTo::Latest)
                .unwrap_err()
                .code,
            "ERR_KAFKA_NOTHING_TO_RESET"
        );
    }

    #[test]
    fn consumer_protocol_groups_list_members_by_topic_name_and_refuse_a_reset() {
        use crate::state::groups::assignor::Assignment;
        use crate::state::groups::consumer_group::{HeartbeatRequest, TopicsImage};
        let c = cluster();
        let topic = create_topic(&c, "t", Some(2), None, BTreeMap::new()).unwrap();
        let image = TopicsImage::from([("t".to_string(), (topic.id, 2))]);
        let join = HeartbeatRequest {
            member_id: "m1".into(),
            member_epoch: 0,
            rebalance_timeout_ms: 30_000,
            subscribed_topic_names: Some(vec!["t".into()]),
            owned_partitions: Some(Assignment::new()),
            client_id: "java".into(),
            client_host: "/127.0.0.1".into(),
            ..Default::default()
        };
        c.groups.consumer_heartbeat("cg", join, 1, &image).unwrap();
        let listed = consumer_protocol_groups(&c);
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].group_id, "cg");
        assert_eq!(listed[0].members[0].client_id, "java");
        assert_eq!(
            listed[0].members[0].assignment,
            vec![("t".to_string(), vec![0, 1])]
        );
        let lag = group_lag(&c, "cg", &listed[0].members);
        assert_eq!(lag.len(), 2);
        assert!(lag.iter().all(|l| l.member_id.as_deref() == Some("m1")));
        assert_eq!(
            reset_offsets(&c, "cg", Some("t"), ResetTo::Earliest)
                .unwrap_err()
                .code,
            "NON_EMPTY_GROUP"
        );
    }

    fn offsets_of(c: &Cluster, group: &str) -> Vec<(i32, i64)> {
        offsets(c, group)
            .into_iter()
            .map(|o| (o.partition, o.offset))
            .collect()
    }

    #[test]
    fn murmur2_matches_kafka() {
        // Values from Kafka's UtilsTest.testMurmur2.
        assert_eq!(murmur2(b"21") as i32, -973932308);
        assert_eq!(murmur2(b"foobar") as i32, -790332482);
        assert_eq!(murmur2(b"a-little-bit-long-string") as i32, -985981536);
        assert_eq!(murmur2(b"a-little-bit-longer-string") as i32, -1486304829);
        assert_eq!(
            murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8") as i32,
            -58897971
        );
        assert_eq!(murmur2(b"abc") as i32, 479470107);
    }

    #[test]
    fn messages_keep_every_header_of_a_repeated_key() {
        let c = cluster();
        create_topic(&c, "t", Some(1), None, BTreeMap::new()).unwrap();
        let batches =
            split_batches(&crate::state::log::batch::tests::batch_with_repeated_header()).unwrap();
        let partition = c.topics.get("t").unwrap().partition(0).unwrap();
        for (header, bytes) in &batches {
            partition.log.lock().append(header, bytes, 0, None);
        }
        let read = messages(&c, "t", None, None).unwrap();
        assert_eq!(read.len(), 1);
        assert_eq!(read[0].key.as_deref(), Some(&b"k"[..]));
        assert_eq!(
            read[0].headers,
            vec![
                ("a".to_string(), Some(Bytes::from_static(b"1"))),
                ("a".to_string(), Some(Bytes::from_static(b"2"))),
                ("b".to_string(), None),
            ]
        );
    }

    #[test]
    fn produced_records_read_back_decoded_with_their_headers() {
        let c = cluster();
        create_topic(&c, "t", Some(3), None, BTreeMap::new()).unwrap();
        let mut with_headers = record("k1", "v1");
        with_headers.headers = vec![
            ("trace".into(), Some(Bytes::from_static(b"abc"))),
            ("empty".into(), None),
        ];
        with_headers.partition = Some(2);
        with_headers.timestamp = Some(1234);
        let appended = produce(&c, "t", vec![with_headers, record("k2", "v2")]).unwrap();
        assert_eq!(
            appended[0],
            Appended {
                partition: 2,
                offset: 0
            }
        );
        let read = messages(&c, "t", Some(2), None).unwrap();
        assert_eq!(read[0].key.as_deref(), Some(&b"k1"[..]));
        assert_eq!(read[0].value.as_deref(), Some(&b"v1"[..]));
        assert_eq!(read[0].timestamp, 1234);
        assert_eq!(
            read[0].headers,
            vec![
                ("trace".to_string(), Some(Bytes::from_static(b"abc"))),
                ("empty".to_string(), None)
            ]
        );
        // The keyed record went where Kafka's default partitioner puts "k2".
        let expected = (murmur2(b"k2") & 0x7fff_ffff) % 3;
        assert_eq!(appended[1].partition as u32, expected);
        assert_eq!(messages(&c, "t", None, None).unwrap().len(), 2);
        assert_eq!(
            messages(&c, "t", Some(3), None).unwrap_err().code,
            "UNKNOWN_TOPIC_OR_PARTITION"
        );
        assert_eq!(
            messages(&c, "missing", None, None).unwrap_err().code,
            "UNKNOWN_TOPIC_OR_PARTITION"
        );
    }

    #[test]
    fn records_of_one_partition_share_a_batch_and_keep_their_order() {
        let c = cluster();
        let records = (0..5)
            .map(|i| NewRecord {
                partition: Some(0),
                ..record("k", &i.to_string())
            })
            .collect();
        let appended = produce(&c, "auto", records).unwrap();
        let offsets: Vec<_> = appended.iter().map(|a| a.offset).collect();
        assert_eq!(offsets, vec![0, 1, 2, 3, 4]);
        let topic = c.topics.get("auto").unwrap();
        assert_eq!(topic.partition(0).unwrap().log.lock().batches().count(), 1);
        let values: Vec<_> = messages(&c, "auto", None, Some(3))
            .unwrap()
            .into_iter()
            .map(|r| r.value.unwrap())
            .collect();
        assert_eq!(values, vec![Bytes::from("3"), Bytes::from("4")]);
    }

    #[test]
    fn reset_leaves_nothing_behind() {
        let c = cluster();
        produce(&c, "t", vec![record("k", "v")]).unwrap();
        c.groups
            .commit_offsets(
                "g",
                "",
                None,
                -1,
                vec![(
                    ("t".into(), 0),
                    crate::state::groups::group::CommittedOffset {
                        offset: 1,
                        leader_epoch: -1,
                        metadata: None,
                    },
                )],
                9,
            )
            .unwrap();
        c.faults.fail_next(crate::faults::Fault {
            api: kafka_protocol::messages::ApiKey::Produce,
            action: crate::faults::FaultAction::DropRequest,
            count: 1,
            topic: None,
            broker: None,
            client_id: None,
        });
        c.txns
            .init_producer_id(&c.topics, &c.groups, "tx", 60_000, None)
            .unwrap();
        c.acls.add(crate::state::security::acls::AclBinding {
            resource_type: 2,
            resource_name: "t".into(),
            pattern_type: 3,
            principal: "User:alice".into(),
            host: "*".into(),
            operation: 3,
            permission: 3,
        });
        let everything = crate::state::security::acls::AclFilter {
            resource_type: 1,
            resource_name: None,
            pattern_type: 1,
            principal: None,
            host: None,
            operation: 1,
            permission: 1,
        };
        assert!(c.txns.describe("tx").is_some());
        assert_eq!(c.acls.describe(&everything).len(), 1);
        reset(&c);
        assert!(c.topics.all().is_empty());
        assert!(groups(&c).is_empty());
        assert!(offsets(&c, "g").is_empty());
        assert!(!c.faults.armed());
        assert!(c.txns.describe("tx").is_none());
        assert!(c.acls.describe(&everything).is_empty());
    }

    #[test]
    fn a_wait_resolves_when_the_records_arrive_even_on_a_new_topic() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let c = cluster();
        let (_stop, shutdown) = watch::channel(false);
        let wait = runtime.spawn(wait_for_messages(
            c.clone(),
            "later".into(),
            2,
            Duration::from_secs(10),
            shutdown.clone(),
        ));
        produce(&c, "later", vec![record("a", "1")]).unwrap();
        produce(&c, "later", vec![record("b", "2")]).unwrap();
        let found = runtime.block_on(wait).unwrap().unwrap();
        assert_eq!(found.len(), 2);

        let timed_out = runtime.block_on(wait_for_messages(
            c.clone(),
            "later".into(),
            3,
            Duration::from_millis(20),
            shutdown,
        ));
        assert_eq!(timed_out.unwrap_err().code, "ERR_KAFKA_TIMEOUT");
    }

    #[test]
    fn consumer_assignments_are_decoded() {
        use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition;
        use kafka_protocol::messages::TopicName;
        use kafka_protocol::protocol::Encodable;
        let assignment = ConsumerProtocolAssignment::default().with_assigned_partitions(vec![
            TopicPartition::default()
                .with_topic(TopicName(StrBytes::from_static_str("t")))
                .with_partitions(vec![0, 2]),
        ]);
        let mut bytes = BytesMut::new();
        bytes.extend_from_slice(&1i16.to_be_bytes());
        assignment.encode(&mut bytes, 1).unwrap();
        assert_eq!(
            decode_assignment(&bytes.freeze()),
            vec![("t".to_string(), vec![0, 2])]
        );
        assert!(decode_assignment(&Bytes::from_static(b"\x00")).is_empty());
    }

    #[test]
    fn faults_are_checked_as_a_test_describes_them() {
        let spec = FaultSpec {
            api: "Produce",
            error: Some(ErrorSpec::Name("NOT_LEADER_OR_FOLLOWER")),
            count: Some(2),
            ..Default::default()
        };
        let parsed = fault(&spec).unwrap();
        assert_eq!(
            parsed.action,
            FaultAction::Error(ResponseError::NotLeaderOrFollower)
        );
        assert_eq!(parsed.count, 2);
        let by_code = FaultSpec {
            error: Some(ErrorSpec::Code(16)),
            api: "heartbeat",
            ..Default::default()
        };
        assert_eq!(
            fault(&by_code).unwrap().action,
            FaultAction::Error(ResponseError::NotCoordinator)
        );
        let drop = FaultSpec {
            api: "Produce",
            drop: Some("response"),
            ..Default::default()
        };
        assert_eq!(fault(&drop).unwrap().action, FaultAction::DropResponse);
        for bad in [
            FaultSpec {
                api: "Produce",
                ..Default::default()
            },
            FaultSpec {
                api: "Nope",
                ..spec.clone()
            },
            FaultSpec {
                error: Some(ErrorSpec::Name("NO_SUCH_ERROR")),
                ..spec.clone()
            },
            FaultSpec {
                error: Some(ErrorSpec::Code(0)),
                ..spec.clone()
            },
            FaultSpec {
                drop: Some("sideways"),
                error: None,
                ..spec.clone()
            },
        ] {
            assert!(fault(&bad).is_err(), "{bad:?}");
        }
        assert!(delay(Some("Fetch"), None, 10.0).is_ok());
        assert!(delay(Some("Fecth"), None, 10.0).is_err());
        assert!(delay(None, None, -1.0).is_err());
        assert!(delay(None, None, f64::NAN).is_err());
        assert!(delay(None, None, 1e300).is_err());
    }
}
