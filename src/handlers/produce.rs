//! Produce: validate each partition's record batches and append them as sent.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::produce_request::PartitionProduceData;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use kafka_protocol::protocol::StrBytes;

use super::authz::{self, operation};
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
    let responses = req
        .topic_data
        .into_iter()
        .map(|topic_data| {
            let topic = ctx.cluster.topics.get(&topic_data.name);
            let topic_denied = authz::topic(ctx, &topic_data.name, operation::WRITE).err();
            let partition_responses = topic_data
                .partition_data
                .into_iter()
                .map(|data| {
                    let index = data.index;
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
                            ),
                            None => Err(ResponseError::UnknownTopicOrPartition),
                        }
                    };
                    result.unwrap_or_else(|error| {
                        PartitionProduceResponse::default()
                            .with_index(index)
                            .with_error_code(error.code())
                            .with_base_offset(-1)
                            .with_error_message(Some(StrBytes::from_static_str(error_message(
                                error,
                            ))))
                    })
                })
                .collect();
            TopicProduceResponse::default()
                .with_name(topic_data.name)
                .with_partition_responses(partition_responses)
        })
        .collect();
    // acks=0: the client expects no response at all.
    (acks != 0).then(|| ProduceResponse::default().with_responses(responses))
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
    let records = data.records.unwrap_or_default();
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
    let _txn = super::txn::verify_produce(ctx, transactional_id, topic, data.index, &batches)?;
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
        ResponseError::InvalidTxnState => "Partition was not added to the transaction",
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
