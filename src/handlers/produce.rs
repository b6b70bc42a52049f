//! Produce: validate each partition's record batches and append them as sent.
//!
//! What the newer versions add: v10 names the leader of a partition refused with
//! NOT_LEADER_OR_FOLLOWER (KIP-951); v11 clients take TRANSACTION_ABORTABLE for a transactional
//! write to a partition not in the transaction (KIP-890); v12 adds that partition to the
//! transaction instead (transactions v2: the producer sends no AddPartitionsToTxn); v13 names
//! topics by id (KIP-516).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::produce_request::PartitionProduceData;
use kafka_protocol::messages::produce_response::{
    LeaderIdAndEpoch, NodeEndpoint, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{BrokerId, ProduceRequest, ProduceResponse};
use kafka_protocol::protocol::StrBytes;

use super::authz::{self, operation};
use super::txn::TxnWrite;
use super::RequestContext;
use crate::state::log::batch::{self, check_records, read_header, split_batches};
use crate::state::now_ms;
use crate::state::topics::Topic;

pub fn handle(ctx: &RequestContext, req: ProduceRequest) -> Option<ProduceResponse> {
    let acks = req.acks;
    let transactional_id = req.transactional_id.clone();
    // Transactional records need WRITE on their transactional id, or nothing is written
    // (without an id they are refused when appended).
    let transactional_denied = transactional_id
        .as_deref()
        .is_some_and(|id| authz::transactional_id(ctx, id, operation::WRITE).is_err())
        && has_transactional_records(&req);
    let by_id = ctx.version() >= 13;
    let txn_write = match ctx.version() {
        ..=10 => TxnWrite::Verify,
        11 => TxnWrite::VerifyAbortable,
        _ => TxnWrite::Add,
    };
    let mut leaders: Vec<NodeEndpoint> = Vec::new();
    let responses = req
        .topic_data
        .into_iter()
        .map(|topic_data| {
            let topic = if by_id {
                ctx.cluster.topics.get_by_id(&topic_data.topic_id)
            } else {
                ctx.cluster.topics.get(&topic_data.name)
            };
            // Authorized by name; an unknown id stays unknown.
            let topic_denied = match (&topic, by_id) {
                (Some(t), _) => authz::topic(ctx, &t.name, operation::WRITE).err(),
                (None, false) => authz::topic(ctx, &topic_data.name, operation::WRITE).err(),
                (None, true) => None,
            };
            let unknown = if by_id {
                ResponseError::UnknownTopicId
            } else {
                ResponseError::UnknownTopicOrPartition
            };
            let partition_responses = topic_data
                .partition_data
                .into_iter()
                .map(|data| {
                    let index = data.index;
                    // Kafka's request checks (unknown topic or id, authorization, a partition
                    // without batches) refuse a partition with an error alone; the log's
                    // errors come with a message.
                    let refused_unread = topic.is_none()
                        || topic_denied.is_some()
                        || data.records.as_ref().is_none_or(|r| r.is_empty());
                    let result = if transactional_denied {
                        Err(ResponseError::TransactionalIdAuthorizationFailed)
                    } else if let Some(error) = topic_denied {
                        Err(error)
                    } else if !matches!(acks, -1..=1) {
                        Err(ResponseError::InvalidRequiredAcks)
                    } else {
                        match &topic {
                            Some(topic) => append(
                                ctx,
                                topic,
                                data,
                                acks,
                                transactional_id.as_deref().map(|id| &**id),
                                txn_write,
                            ),
                            None => Err(unknown),
                        }
                    };
                    result.unwrap_or_else(|error| {
                        let response = PartitionProduceResponse::default()
                            .with_index(index)
                            .with_error_code(error.code())
                            .with_base_offset(-1)
                            .with_error_message(
                                (!refused_unread)
                                    .then(|| StrBytes::from_static_str(error_message(error))),
                            );
                        match leader_hint(ctx, topic.as_deref(), index, error, &mut leaders) {
                            Some(hint) => response.with_current_leader(hint),
                            None => response,
                        }
                    })
                })
                .collect();
            let response =
                TopicProduceResponse::default().with_partition_responses(partition_responses);
            if by_id {
                response.with_topic_id(topic_data.topic_id)
            } else {
                response.with_name(topic_data.name)
            }
        })
        .collect();
    // acks=0: the client expects no response at all.
    (acks != 0).then(|| {
        ProduceResponse::default()
            .with_responses(responses)
            .with_node_endpoints(leaders)
    })
}

/// From v10 (KIP-951), a partition refused with NOT_LEADER_OR_FOLLOWER names its leader and
/// epoch, and the response lists that leader's address on the request's listener, as Kafka's
/// KafkaApis does, so the producer can retry there before its metadata is refreshed.
fn leader_hint(
    ctx: &RequestContext,
    topic: Option<&Topic>,
    index: i32,
    error: ResponseError,
    leaders: &mut Vec<NodeEndpoint>,
) -> Option<LeaderIdAndEpoch> {
    if ctx.version() < 10 || error != ResponseError::NotLeaderOrFollower {
        return None;
    }
    let leadership = topic?.partition(index)?.leadership();
    if !ctx.cluster.is_alive(leadership.leader) {
        return None;
    }
    let node = ctx.cluster.endpoint(leadership.leader, &ctx.listener)?;
    if !leaders.iter().any(|l| l.node_id.0 == node.node_id) {
        leaders.push(
            NodeEndpoint::default()
                .with_node_id(BrokerId(node.node_id))
                .with_host(StrBytes::from_string(node.host))
                .with_port(node.port as i32),
        );
    }
    Some(
        LeaderIdAndEpoch::default()
            .with_leader_id(BrokerId(leadership.leader))
            .with_leader_epoch(leadership.leader_epoch),
    )
}

/// Whether any batch of the request is transactional (the first batch of each partition's
/// records tells: a producer's batches in one request are all transactional or none).
fn has_transactional_records(req: &ProduceRequest) -> bool {
    req.topic_data.iter().any(|t| {
        t.partition_data.iter().any(|p| {
            p.records
                .as_deref()
                .and_then(|r| read_header(r).ok())
                .is_some_and(|h| h.is_transactional())
        })
    })
}

/// Appends one partition's batches: all of them or, on any invalid batch, none.
fn append(
    ctx: &RequestContext,
    topic: &Topic,
    data: PartitionProduceData,
    acks: i16,
    transactional_id: Option<&str>,
    txn_write: TxnWrite,
) -> Result<PartitionProduceResponse, ResponseError> {
    let partition = topic
        .partition(data.index)
        .ok_or(ResponseError::UnknownTopicOrPartition)?;
    let leadership = partition.leadership();
    if leadership.leader != ctx.broker_id {
        return Err(ResponseError::NotLeaderOrFollower);
    }
    // acks=all is refused, before anything is written, while fewer replicas than the topic's
    // min.insync.replicas are in sync: replicas on stopped brokers, or still being added by a
    // reassignment, are not (Kafka's Partition.appendRecordsToLeader).
    if acks == -1 {
        let min_isr = ctx
            .cluster
            .topic_config(topic, "min.insync.replicas")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(1);
        let adding = partition
            .reassignment()
            .map(|r| r.adding)
            .unwrap_or_default();
        let in_sync = ctx
            .cluster
            .live_replicas(&leadership.replicas)
            .into_iter()
            .filter(|r| !adding.contains(r))
            .count();
        if in_sync < min_isr {
            return Err(ResponseError::NotEnoughReplicas);
        }
    }
    // Kafka checks each partition has a batch before anything else (ProduceRequest's
    // validateRecords): INVALID_RECORD, without a message.
    let records = match data.records {
        Some(records) if !records.is_empty() => records,
        _ => return Err(ResponseError::InvalidRecord),
    };
    let mut batches = split_batches(&records)?;
    let max_message_bytes = ctx.cluster.max_message_bytes(topic);
    let compacted = ctx.cluster.is_compacted(topic);
    for (header, bytes) in &batches {
        if header.size > max_message_bytes {
            return Err(ResponseError::MessageTooLarge);
        }
        if header.records_count != header.last_offset_delta + 1 {
            return Err(ResponseError::InvalidRecord);
        }
        // Transaction markers are the broker's to write.
        if header.is_control() {
            return Err(ResponseError::InvalidRecord);
        }
        // As Kafka: ZStandard needs a produce request of v7 or later.
        if header.compression() == batch::ZSTD && ctx.version() < 7 {
            return Err(ResponseError::UnsupportedCompressionType);
        }
        let check = check_records(bytes, header)?;
        if compacted && !check.all_keyed {
            return Err(ResponseError::InvalidRecord);
        }
    }
    // A topic whose compression.type names a codec stores every batch with it, as Kafka's
    // does; the default (`producer`) keeps each batch as sent.
    let target = ctx
        .cluster
        .topic_config(topic, "compression.type")
        .and_then(|c| batch::codec_for(&c));
    if let Some(target) = target {
        for (header, bytes) in batches.iter_mut() {
            if header.compression() != target {
                *bytes = batch::recompress(bytes, header, target)?;
                *header = batch::read_header(bytes)?;
                if header.size > max_message_bytes {
                    return Err(ResponseError::MessageTooLarge);
                }
            }
        }
    }
    let log_append_time =
        (topic.config("message.timestamp.type").as_deref() == Some("LogAppendTime")).then(now_ms);

    // Held until the batches are in the log, so their transaction cannot end in between.
    let _txn = super::txn::verify_produce(
        ctx,
        transactional_id,
        topic,
        data.index,
        &batches,
        txn_write,
    )?;
    let mut log = partition.log.lock();
    if let Some(original) = log.check_producer(batches.iter().map(|(header, _)| header))? {
        // A retry of a batch already written: acknowledged where it went, not written twice.
        return Ok(PartitionProduceResponse::default()
            .with_index(data.index)
            .with_base_offset(original.first_offset)
            .with_log_append_time_ms(-1)
            .with_log_start_offset(log.log_start_offset()));
    }
    let mut base_offset = None;
    for (header, bytes) in &batches {
        let offset = log.append(header, bytes, leadership.leader_epoch, log_append_time);
        base_offset.get_or_insert(offset);
    }
    Ok(PartitionProduceResponse::default()
        .with_index(data.index)
        .with_base_offset(base_offset.unwrap_or(-1))
        .with_log_append_time_ms(log_append_time.unwrap_or(-1))
        .with_log_start_offset(log.log_start_offset()))
}

fn error_message(error: ResponseError) -> &'static str {
    match error {
        ResponseError::CorruptMessage => {
            "The record batch is corrupt: its length, CRC, codec data or records do not check out."
        }
        ResponseError::MessageTooLarge => {
            "The record batch is larger than the topic's max.message.bytes, \
             or its records larger than 256 MiB decompressed."
        }
        ResponseError::UnknownTopicOrPartition => "This server does not host this topic-partition.",
        ResponseError::NotLeaderOrFollower => {
            "This server is not the leader for that topic-partition."
        }
        ResponseError::InvalidRequiredAcks => "acks must be -1, 0 or 1.",
        ResponseError::NotEnoughReplicas => {
            "Messages are rejected since there are fewer in-sync replicas than required."
        }
        ResponseError::TopicAuthorizationFailed
        | ResponseError::TransactionalIdAuthorizationFailed => authz::message(error),
        ResponseError::InvalidTxnState | ResponseError::TransactionAbortable => {
            "Partition was not added to the transaction"
        }
        ResponseError::OutOfOrderSequenceNumber => {
            "The batch's sequence number does not follow the producer's last one."
        }
        ResponseError::InvalidProducerEpoch => "The producer's epoch is older than the last seen.",
        ResponseError::InvalidRecord => {
            "The record batch is invalid: its record count does not match its last offset delta, \
             it is a control batch, or a record of a compacted topic has no key."
        }
        ResponseError::UnsupportedCompressionType => {
            "Produce requests before v7 cannot use ZStandard compression."
        }
        ResponseError::UnsupportedForMessageFormat => {
            "Only record batches of magic v2 are accepted."
        }
        _ => "The produce request failed.",
    }
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::produce_request::TopicProduceData;
    use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind, TopicName};

    use super::*;
    use crate::handlers::tests::{call, test_cluster};
    use crate::state::log::batch::tests::encode_batch;
    use crate::state::Cluster;

    fn produce(
        cluster: &std::sync::Arc<Cluster>,
        version: i16,
        topic: TopicProduceData,
    ) -> ProduceResponse {
        let topic = topic.with_partition_data(vec![PartitionProduceData::default()
            .with_index(0)
            .with_records(Some(encode_batch(&[("k", "v", 1)])))]);
        let req = ProduceRequest::default()
            .with_acks(1)
            .with_topic_data(vec![topic]);
        match call(cluster, ApiKey::Produce, version, RequestKind::Produce(req)) {
            ResponseKind::Produce(r) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn v13_names_topics_by_id() {
        let cluster = test_cluster(1);
        let id = cluster.topics.get("t").unwrap().id;
        let written = produce(&cluster, 13, TopicProduceData::default().with_topic_id(id));
        assert_eq!(written.responses[0].topic_id, id);
        assert_eq!(written.responses[0].partition_responses[0].error_code, 0);
        let missing = produce(
            &cluster,
            13,
            TopicProduceData::default().with_topic_id(uuid::Uuid::from_u128(7)),
        );
        assert_eq!(
            missing.responses[0].partition_responses[0].error_code,
            ResponseError::UnknownTopicId.code()
        );
    }

    #[test]
    fn from_v10_a_partition_led_elsewhere_names_its_leader() {
        let cluster = test_cluster(2);
        let leadership = cluster.move_leader("t", 0, 1).unwrap();
        let named =
            || TopicProduceData::default().with_name(TopicName(StrBytes::from_static_str("t")));
        let hinted = produce(&cluster, 10, named());
        let partition = &hinted.responses[0].partition_responses[0];
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
            .map(|e| (e.node_id.0, e.port))
            .collect();
        assert_eq!(endpoints, vec![(1, 9093)]);
        let old = produce(&cluster, 9, named());
        assert_eq!(
            old.responses[0].partition_responses[0]
                .current_leader
                .leader_id
                .0,
            -1
        );
        assert!(old.node_endpoints.is_empty());
    }
}
