//! Fetch: read record batches as stored, long-polling until `min_bytes` arrive or `max_wait_ms`
//! passes. A parked fetch sleeps on a notification that the partitions' next append fires; no
//! timer loop polls the log. Incremental fetch sessions are resolved around it
//! (`state::fetch_sessions`). A read_committed fetch stops at the last stable offset and lists
//! the aborted transactions in what it returns; a transaction marker is an append, so it wakes
//! read_committed fetches parked behind the transaction it ends. Fetch below v10 cannot carry
//! zstd (KIP-110): a partition that would serve a zstd batch answers UNSUPPORTED_COMPRESSION_TYPE.

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_request::FetchTopic;
use kafka_protocol::messages::fetch_response::{
    AbortedTransaction, FetchableTopicResponse, LeaderIdAndEpoch, NodeEndpoint, PartitionData,
};
use kafka_protocol::messages::{BrokerId, ProducerId};
use kafka_protocol::messages::{FetchRequest, FetchResponse};
use kafka_protocol::protocol::StrBytes;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::authz::{self, operation};
use super::RequestContext;
use crate::state::log::batch::{self, LOG_OVERHEAD};

/// `isolation_level` of a fetch: 0 read_uncommitted, 1 read_committed.
const READ_COMMITTED: i8 = 1;

/// From v16 a partition refused for leadership names its leader, and the response that leader's
/// address, so the client need not refresh its metadata first (KIP-951).
const LEADER_HINTS_MIN_VERSION: i16 = 16;

/// The first Fetch version whose clients can decompress zstd (KIP-110).
const ZSTD_MIN_VERSION: i16 = 10;

/// Where a v2 batch header keeps its attributes, whose low three bits name the codec.
const ATTRIBUTES_AT: usize = 21;
const COMPRESSION_MASK: i16 = 0x07;

/// Whether any of the stored batches in `records` is zstd-compressed, from their headers only.
fn holds_zstd(records: &[u8]) -> bool {
    let mut at = 0;
    while at + ATTRIBUTES_AT + 2 <= records.len() {
        let batch = &records[at..];
        let attributes = i16::from_be_bytes([batch[ATTRIBUTES_AT], batch[ATTRIBUTES_AT + 1]]);
        if attributes & COMPRESSION_MASK == batch::ZSTD {
            return true;
        }
        let length = i32::from_be_bytes(batch[8..12].try_into().unwrap());
        at += LOG_OVERHEAD + length.max(0) as usize;
    }
    false
}

pub async fn handle(ctx: &RequestContext, req: FetchRequest) -> FetchResponse {
    let sessions = &ctx.cluster.fetch_sessions;
    let (req, session) = match sessions.resolve(req) {
        Ok(resolved) => resolved,
        Err(error) => return FetchResponse::default().with_error_code(error.code()),
    };
    let mut response = long_poll(ctx, &req).await;
    sessions.filter_response(&session, &mut response);
    response
}

/// Reads until `min_bytes` are there, an error needs reporting, `max_wait_ms` passes or the
/// broker stops.
async fn long_poll(ctx: &RequestContext, req: &FetchRequest) -> FetchResponse {
    let deadline = Instant::now() + Duration::from_millis(req.max_wait_ms.max(0) as u64);
    let min_bytes = req.min_bytes.max(0) as usize;
    let waiter = Arc::new(Notify::new());
    let mut shutdown = ctx.shutdown.clone();
    loop {
        let read = read(ctx, req, Some(&waiter));
        let done = read.size >= min_bytes
            || read.has_error
            || Instant::now() >= deadline
            || *shutdown.borrow();
        if done {
            return read.response;
        }
        tokio::select! {
            _ = waiter.notified() => {}
            _ = tokio::time::sleep_until(deadline) => return self::read(ctx, req, None).response,
            _ = shutdown.changed() => return self::read(ctx, req, None).response,
        }
    }
}

struct Read {
    response: FetchResponse,
    size: usize,
    has_error: bool,
}

/// One pass over the requested partitions. With a `waiter`, every partition read is also parked
/// on, under the same lock as the read, so an append right after cannot be missed.
fn read(ctx: &RequestContext, req: &FetchRequest, waiter: Option<&Arc<Notify>>) -> Read {
    let by_id = ctx.version() >= 13;
    let zstd_unsupported = ctx.version() < ZSTD_MIN_VERSION;
    let read_committed = req.isolation_level == READ_COMMITTED;
    let mut remaining = req.max_bytes.max(0) as usize;
    let mut size = 0;
    let mut has_error = false;
    let mut leaders = Vec::new();
    let responses = req
        .topics
        .iter()
        .map(|fetch_topic| {
            let topic = if by_id {
                ctx.cluster.topics.get_by_id(&fetch_topic.topic_id)
            } else {
                ctx.cluster.topics.get(&fetch_topic.topic)
            };
            // A consumer needs READ on the topic (checked by name; an unknown id stays unknown).
            let denied = match (&topic, by_id) {
                (Some(t), _) => authz::topic(ctx, &t.name, operation::READ).err(),
                (None, false) => authz::topic(ctx, &fetch_topic.topic, operation::READ).err(),
                (None, true) => None,
            };
            let partitions = fetch_topic
                .partitions
                .iter()
                .map(|fp| {
                    let data = PartitionData::default().with_partition_index(fp.partition);
                    if let Some(error) = denied {
                        has_error = true;
                        return with_error(data, error);
                    }
                    let unknown = if by_id {
                        ResponseError::UnknownTopicId
                    } else {
                        ResponseError::UnknownTopicOrPartition
                    };
                    let Some(partition) = topic.as_ref().and_then(|t| t.partition(fp.partition))
                    else {
                        has_error = true;
                        return with_error(data, unknown);
                    };
                    // current_leader_epoch is -1 (no check) before v9.
                    let leadership = partition.leadership();
                    if let Err(error) =
                        leadership.check_leader(ctx.broker_id, fp.current_leader_epoch)
                    {
                        has_error = true;
                        let hinted = matches!(
                            error,
                            ResponseError::NotLeaderOrFollower | ResponseError::FencedLeaderEpoch
                        ) && ctx.version() >= LEADER_HINTS_MIN_VERSION;
                        let leader = hinted
                            .then(|| ctx.cluster.endpoint(leadership.leader, &ctx.listener))
                            .flatten()
                            .filter(|_| ctx.cluster.is_alive(leadership.leader));
                        let data = match leader {
                            Some(node) => {
                                let hint = LeaderIdAndEpoch::default()
                                    .with_leader_id(BrokerId(leadership.leader))
                                    .with_leader_epoch(leadership.leader_epoch);
                                if !leaders
                                    .iter()
                                    .any(|l: &NodeEndpoint| l.node_id == node.node_id)
                                {
                                    leaders.push(
                                        NodeEndpoint::default()
                                            .with_node_id(BrokerId(node.node_id))
                                            .with_host(StrBytes::from_string(node.host))
                                            .with_port(node.port as i32),
                                    );
                                }
                                data.with_current_leader(hint)
                            }
                            None => data,
                        };
                        return with_error(data, error);
                    }
                    let mut log = partition.log.lock();
                    let high_watermark = log.high_watermark();
                    let last_stable_offset = log.last_stable_offset();
                    let data = data
                        .with_high_watermark(high_watermark)
                        .with_last_stable_offset(last_stable_offset)
                        .with_log_start_offset(log.log_start_offset());
                    if fp.fetch_offset < log.log_start_offset() || fp.fetch_offset > high_watermark
                    {
                        has_error = true;
                        return data
                            .with_error_code(ResponseError::OffsetOutOfRange.code())
                            .with_records(Some(Default::default()));
                    }
                    let max = (fp.partition_max_bytes.max(0) as usize).min(remaining);
                    let limit = if read_committed {
                        last_stable_offset
                    } else {
                        high_watermark
                    };
                    let result = log.read_up_to(fp.fetch_offset, max, size == 0, limit);
                    if zstd_unsupported && result.records.as_deref().is_some_and(holds_zstd) {
                        has_error = true;
                        return with_error(
                            PartitionData::default().with_partition_index(fp.partition),
                            ResponseError::UnsupportedCompressionType,
                        );
                    }
                    let data = if read_committed {
                        let aborted = log
                            .aborted_transactions(fp.fetch_offset, result.end_offset)
                            .into_iter()
                            .map(|t| {
                                AbortedTransaction::default()
                                    .with_producer_id(ProducerId(t.producer_id))
                                    .with_first_offset(t.first_offset)
                            })
                            .collect();
                        data.with_aborted_transactions(Some(aborted))
                    } else {
                        // As Kafka: null for read_uncommitted, which needs no list.
                        data.with_aborted_transactions(None)
                    };
                    if result.records.is_none() {
                        if let Some(waiter) = waiter {
                            log.park(waiter);
                        }
                    }
                    size += result.size;
                    remaining = remaining.saturating_sub(result.size);
                    data.with_records(result.records.or(Some(Default::default())))
                })
                .collect();
            topic_response(fetch_topic, by_id, partitions)
        })
        .collect();
    Read {
        response: FetchResponse::default()
            .with_responses(responses)
            .with_node_endpoints(leaders),
        size,
        has_error,
    }
}

/// A partition that failed: no records, as an empty set (Kafka's `MemoryRecords.EMPTY`).
fn with_error(data: PartitionData, error: ResponseError) -> PartitionData {
    data.with_error_code(error.code())
        .with_high_watermark(-1)
        .with_records(Some(Default::default()))
}

fn topic_response(
    fetch_topic: &FetchTopic,
    by_id: bool,
    partitions: Vec<PartitionData>,
) -> FetchableTopicResponse {
    let response = FetchableTopicResponse::default().with_partitions(partitions);
    if by_id {
        response.with_topic_id(fetch_topic.topic_id)
    } else {
        response.with_topic(fetch_topic.topic.clone())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use kafka_protocol::messages::fetch_request::FetchPartition;
    use kafka_protocol::messages::{ApiKey, RequestHeader, TopicName};
    use kafka_protocol::protocol::StrBytes;
    use kafka_protocol::records::Compression;
    use tokio::sync::watch;

    use super::*;
    use crate::state::log::batch::read_header;
    use crate::state::log::batch::tests::encode_batch_with;
    use crate::state::{BrokerConfig, BrokerNode, Cluster};

    fn cluster_with(topic: &str, batches: &[Compression]) -> Arc<Cluster> {
        let cluster = Arc::new(Cluster::new("test".into(), BrokerConfig::default()));
        cluster.add_broker(BrokerNode {
            node_id: 0,
            host: "127.0.0.1".into(),
            port: 9092,
        });
        let spec = cluster.topic_spec(topic, 1, 1, Default::default()).unwrap();
        cluster.topics.create(spec).unwrap();
        let topic = cluster.topics.get(topic).unwrap();
        let partition = topic.partition(0).unwrap();
        let mut log = partition.log.lock();
        for (i, compression) in batches.iter().enumerate() {
            let value = format!("v{i}");
            let batch = encode_batch_with(&[("k", &value, 1)], *compression);
            log.append(&read_header(&batch).unwrap(), &batch, 0, None);
        }
        drop(log);
        cluster
    }

    /// The one partition of a Fetch at `version` from `fetch_offset` of topic `t`.
    fn fetch(cluster: &Arc<Cluster>, version: i16, fetch_offset: i64) -> PartitionData {
        let (_stop, shutdown) = watch::channel(false);
        let ctx = RequestContext {
            cluster: cluster.clone(),
            broker_id: 0,
            header: RequestHeader::default()
                .with_request_api_key(ApiKey::Fetch as i16)
                .with_request_api_version(version),
            client_host: "/127.0.0.1".into(),
            principal: crate::handlers::ANONYMOUS.into(),
            token_authenticated: false,
            listener: "PLAINTEXT".into(),
            connection_id: 0,
            shutdown,
        };
        let req = FetchRequest::default()
            .with_max_bytes(1 << 20)
            .with_topics(vec![FetchTopic::default()
                .with_topic(TopicName(StrBytes::from_static_str("t")))
                .with_partitions(vec![FetchPartition::default()
                    .with_partition(0)
                    .with_fetch_offset(fetch_offset)
                    .with_partition_max_bytes(1 << 20)])]);
        read(&ctx, &req, None)
            .response
            .responses
            .remove(0)
            .partitions
            .remove(0)
    }

    #[test]
    fn fetch_below_v10_of_zstd_batches_is_unsupported_compression_type() {
        let cluster = cluster_with("t", &[Compression::Gzip, Compression::Zstd]);
        let unsupported = ResponseError::UnsupportedCompressionType.code();

        // The zstd batch is among what v9 would serve, from either offset.
        for offset in [0, 1] {
            let old = fetch(&cluster, 9, offset);
            assert_eq!(old.error_code, unsupported, "from offset {offset}");
            assert_eq!(
                (old.high_watermark, old.records),
                (-1, Some(Default::default()))
            );
        }
        // v10 and later carry it.
        let new = fetch(&cluster, 10, 0);
        assert_eq!(new.error_code, 0);
        assert_eq!(new.high_watermark, 2);
        assert!(holds_zstd(new.records.as_deref().unwrap()));
    }

    #[test]
    fn fetch_below_v10_serves_batches_of_other_codecs() {
        let cluster = cluster_with(
            "t",
            &[Compression::None, Compression::Gzip, Compression::Lz4],
        );
        let old = fetch(&cluster, 4, 0);
        assert_eq!(old.error_code, 0);
        let records = old.records.unwrap();
        assert!(!holds_zstd(&records));
        assert_eq!(batch::split_batches(&records).unwrap().len(), 3);
    }

    #[test]
    fn from_v16_a_partition_led_elsewhere_names_its_leader_and_where_to_reach_it() {
        use kafka_protocol::messages::{RequestKind, ResponseKind};
        let cluster = crate::handlers::tests::test_cluster(2);
        let leadership = cluster.move_leader("t", 0, 1).unwrap();
        let topic_id = cluster.topics.get("t").unwrap().id;
        let fetched = |version: i16| {
            let req = FetchRequest::default().with_topics(vec![FetchTopic::default()
                .with_topic_id(topic_id)
                .with_partitions(vec![FetchPartition::default().with_partition(0)])]);
            match crate::handlers::tests::call(
                &cluster,
                ApiKey::Fetch,
                version,
                RequestKind::Fetch(req),
            ) {
                ResponseKind::Fetch(r) => r,
                other => panic!("{other:?}"),
            }
        };
        let hinted = fetched(16);
        let partition = &hinted.responses[0].partitions[0];
        assert_eq!(
            partition.error_code,
            ResponseError::NotLeaderOrFollower.code()
        );
        assert_eq!(
            (
                partition.current_leader.leader_id.0,
                partition.current_leader.leader_epoch
            ),
            (1, leadership.leader_epoch)
        );
        let endpoints: Vec<_> = hinted
            .node_endpoints
            .iter()
            .map(|e| (e.node_id.0, e.host.to_string(), e.port))
            .collect();
        assert_eq!(endpoints, vec![(1, "127.0.0.1".to_string(), 9093)]);

        let old = fetched(15);
        assert_eq!(
            old.responses[0].partitions[0].current_leader.leader_id.0,
            -1
        );
        assert!(old.node_endpoints.is_empty());
    }
}
