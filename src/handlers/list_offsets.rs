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
/// The first offset still on the broker's own disk (KIP-405, v8+): without tiered storage, the
/// log start offset. The Java admin's `OffsetSpec.earliestLocal()` asks for it.
const EARLIEST_LOCAL: i64 = -4;
/// The last offset copied to tiered storage (KIP-1005: clients send it from v9, `OffsetSpec.
/// latestTiered()`; Kafka's log answers it whatever the version).
/// Without tiered storage Kafka answers offset -1, timestamp -1 and leader epoch -1.
const LATEST_TIERED: i64 = -5;

/// v10's `timeout_ms` bounds reads from tiered storage (KIP-1075); every offset here is in
/// memory, so answers never wait.
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
                    // current_leader_epoch is -1 (no check) before v4.
                    if let Err(error) =
                        leadership.check_leader(ctx.broker_id, p.current_leader_epoch)
                    {
                        return response.with_error_code(error.code());
                    }
                    let log = partition.log.lock();
                    // read_committed consumers see up to the last stable offset, as in Fetch.
                    let last_fetchable = if version >= 2 && req.isolation_level == 1 {
                        log.last_stable_offset()
                    } else {
                        log.high_watermark()
                    };
                    if p.timestamp == LATEST_TIERED {
                        return response
                            .with_offset(-1)
                            .with_timestamp(-1)
                            .with_leader_epoch(-1);
                    }
                    let (offset, timestamp) = match p.timestamp {
                        LATEST => (last_fetchable, -1),
                        EARLIEST | EARLIEST_LOCAL => (log.log_start_offset(), -1),
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
    use kafka_protocol::messages::{ApiKey, RequestHeader, TopicName};
    use kafka_protocol::protocol::StrBytes;
    use tokio::sync::watch;

    use super::*;
    use crate::state::log::batch::{read_header, tests::encode_batch};
    use crate::state::{BrokerConfig, BrokerNode, Cluster};

    fn list_offsets(
        cluster: &Arc<Cluster>,
        version: i16,
        timestamp: i64,
    ) -> ListOffsetsPartitionResponse {
        let (_stop, shutdown) = watch::channel(false);
        let ctx = RequestContext {
            cluster: cluster.clone(),
            broker_id: 0,
            header: RequestHeader::default()
                .with_request_api_key(ApiKey::ListOffsets as i16)
                .with_request_api_version(version),
            client_host: "/127.0.0.1".into(),
            principal: crate::handlers::ANONYMOUS.into(),
            token_authenticated: false,
            listener: "PLAINTEXT".into(),
            connection_id: 0,
            shutdown,
        };
        let req = ListOffsetsRequest::default()
            .with_replica_id(kafka_protocol::messages::BrokerId(-1))
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(TopicName(StrBytes::from_static_str("t")))
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(0)
                    .with_timestamp(timestamp)])]);
        handle(&ctx, req).topics.remove(0).partitions.remove(0)
    }

    #[test]
    fn earliest_local_is_the_log_start_offset_without_tiered_storage() {
        let cluster = Arc::new(Cluster::new("test".into(), BrokerConfig::default()));
        cluster.add_broker(BrokerNode {
            node_id: 0,
            host: "127.0.0.1".into(),
            port: 9092,
        });
        let spec = cluster.topic_spec("t", 1, 1, Default::default()).unwrap();
        cluster.topics.create(spec).unwrap();
        {
            let topic = cluster.topics.get("t").unwrap();
            let partition = topic.partition(0).unwrap();
            let mut log = partition.log.lock();
            let batch = encode_batch(&[("a", "1", 1), ("b", "2", 2), ("c", "3", 3)]);
            log.append(&read_header(&batch).unwrap(), &batch, 0, None);
            assert_eq!(log.delete_records_before(2), Some(2));
        }
        let earliest = list_offsets(&cluster, 8, EARLIEST);
        let local = list_offsets(&cluster, 8, EARLIEST_LOCAL);
        assert_eq!(
            (local.error_code, local.offset, local.timestamp),
            (0, 2, -1)
        );
        assert_eq!(local, earliest);
    }

    #[test]
    fn latest_tiered_is_unknown_without_tiered_storage() {
        let cluster = crate::handlers::tests::test_cluster(1);
        let tiered = list_offsets(&cluster, 9, LATEST_TIERED);
        assert_eq!(
            (
                tiered.error_code,
                tiered.offset,
                tiered.timestamp,
                tiered.leader_epoch
            ),
            (0, -1, -1, -1)
        );
    }
}
