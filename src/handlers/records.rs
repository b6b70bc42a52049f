//! DeleteRecords and OffsetForLeaderEpoch: moving a partition's log start offset, and telling
//! a client where a leader epoch ended so it can validate its position after a leader change.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{
    DeleteRecordsRequest, DeleteRecordsResponse, OffsetForLeaderEpochRequest,
    OffsetForLeaderEpochResponse,
};

use super::authz::{self, operation, resource, CLUSTER_NAME};
use super::RequestContext;

pub fn delete_records(ctx: &RequestContext, req: DeleteRecordsRequest) -> DeleteRecordsResponse {
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let topic = ctx.cluster.topics.get(&t.name);
            let denied = authz::topic(ctx, &t.name, operation::DELETE).err();
            let partitions = t
                .partitions
                .into_iter()
                .map(|p| {
                    let result = DeleteRecordsPartitionResult::default()
                        .with_partition_index(p.partition_index);
                    if let Some(error) = denied {
                        return result.with_low_watermark(-1).with_error_code(error.code());
                    }
                    let Some(partition) =
                        topic.as_ref().and_then(|t| t.partition(p.partition_index))
                    else {
                        return result
                            .with_low_watermark(-1)
                            .with_error_code(ResponseError::UnknownTopicOrPartition.code());
                    };
                    if partition.leadership().leader != ctx.broker_id {
                        return result
                            .with_low_watermark(-1)
                            .with_error_code(ResponseError::NotLeaderOrFollower.code());
                    }
                    let low_watermark = partition.log.lock().delete_records_before(p.offset);
                    match low_watermark {
                        Some(low_watermark) => result.with_low_watermark(low_watermark),
                        None => result
                            .with_low_watermark(-1)
                            .with_error_code(ResponseError::OffsetOutOfRange.code()),
                    }
                })
                .collect();
            DeleteRecordsTopicResult::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    DeleteRecordsResponse::default().with_topics(topics)
}

pub fn offset_for_leader_epoch(
    ctx: &RequestContext,
    req: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    // Brokers (CLUSTER_ACTION) may ask about any partition; clients need DESCRIBE on its topic.
    let replica = authz::allowed(
        ctx,
        resource::CLUSTER,
        CLUSTER_NAME,
        operation::CLUSTER_ACTION,
    );
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let topic = ctx.cluster.topics.get(&t.topic);
            let denied = if replica {
                None
            } else {
                authz::topic(ctx, &t.topic, operation::DESCRIBE).err()
            };
            let partitions = t
                .partitions
                .into_iter()
                .map(|p| {
                    let result = EpochEndOffset::default().with_partition(p.partition);
                    let error = |e: ResponseError| {
                        EpochEndOffset::default()
                            .with_partition(p.partition)
                            .with_error_code(e.code())
                            .with_leader_epoch(-1)
                            .with_end_offset(-1)
                    };
                    if let Some(denied) = denied {
                        return error(denied);
                    }
                    let Some(partition) = topic.as_ref().and_then(|t| t.partition(p.partition))
                    else {
                        return error(ResponseError::UnknownTopicOrPartition);
                    };
                    let leadership = partition.leadership();
                    if let Err(e) = leadership.check_leader(ctx.broker_id, p.current_leader_epoch) {
                        return error(e);
                    }
                    let (epoch, end_offset) = partition
                        .log
                        .lock()
                        .end_offset_for_epoch(p.leader_epoch, leadership.leader_epoch);
                    result.with_leader_epoch(epoch).with_end_offset(end_offset)
                })
                .collect();
            OffsetForLeaderTopicResult::default()
                .with_topic(t.topic)
                .with_partitions(partitions)
        })
        .collect();
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}
