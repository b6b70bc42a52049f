//! ListOffsets: the log start offset, the high watermark, and offsets by timestamp.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use super::authz::{self, operation};
use super::RequestContext;

/// Special timestamps a client may ask for instead of a time.
const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;

pub fn handle(ctx: &RequestContext, req: ListOffsetsRequest) -> ListOffsetsResponse {
    let version = ctx.version();
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let topic = ctx.cluster.topics.get(&t.name);
            let denied = authz::topic(ctx, &t.name, operation::DESCRIBE).err();
            let partitions = t
                .partitions
                .into_iter()
                .map(|p| {
                    let response = ListOffsetsPartitionResponse::default()
                        .with_partition_index(p.partition_index);
                    if let Some(error) = denied {
                        return response.with_error_code(error.code());
                    }
                    let Some(partition) =
                        topic.as_ref().and_then(|t| t.partition(p.partition_index))
                    else {
                        return response
                            .with_error_code(ResponseError::UnknownTopicOrPartition.code());
                    };
                    let leadership = partition.leadership();
                    if leadership.leader != ctx.broker_id {
                        return response.with_error_code(ResponseError::NotLeaderOrFollower.code());
                    }
                    let log = partition.log.lock();
                    // read_committed consumers see up to the last stable offset, as in Fetch.
                    let last_fetchable = if version >= 2 && req.isolation_level == 1 {
                        log.last_stable_offset()
                    } else {
                        log.high_watermark()
                    };
                    let (offset, timestamp) = match p.timestamp {
                        LATEST => (last_fetchable, -1),
                        EARLIEST => (log.log_start_offset(), -1),
                        MAX_TIMESTAMP => log
                            .max_timestamp_offset()
                            .map_or((-1, -1), |t| (t.offset, t.timestamp)),
                        ts if ts >= 0 => log
                            .offset_for_timestamp(ts)
                            .filter(|t| t.offset < last_fetchable)
                            .map_or((-1, -1), |t| (t.offset, t.timestamp)),
                        _ => {
                            return response.with_error_code(ResponseError::InvalidRequest.code());
                        }
                    };
                    let response = response.with_offset(offset).with_timestamp(timestamp);
                    if version >= 4 {
                        response.with_leader_epoch(leadership.leader_epoch)
                    } else {
                        response
                    }
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}
