//! DescribeCluster and DescribeLogDirs: the cluster's brokers and where their data lives.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{
    BrokerId, DescribeClusterRequest, DescribeClusterResponse, DescribeLogDirsRequest,
    DescribeLogDirsResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::authz::{self, operation, resource, CLUSTER_NAME};
use super::RequestContext;

/// DescribeCluster endpoint types.
const BROKERS: i8 = 1;

pub fn describe_cluster(
    ctx: &RequestContext,
    req: DescribeClusterRequest,
) -> DescribeClusterResponse {
    let cluster = &ctx.cluster;
    if ctx.version() >= 1 && req.endpoint_type != BROKERS {
        // Brokers describe brokers; controllers are only reachable through the controller listener.
        return DescribeClusterResponse::default()
            .with_error_code(ResponseError::UnsupportedEndpointType.code())
            .with_endpoint_type(req.endpoint_type);
    }
    // At their address on the listener this request came through, as Metadata gives them. A
    // stopped broker stays registered, fenced as Kafka's controller fences a broker that stopped
    // heartbeating: listed only to v2+ requests that ask for fenced brokers (KIP-1073).
    let include_fenced = req.include_fenced_brokers;
    let brokers = cluster
        .all_brokers()
        .into_iter()
        .filter(|b| b.alive || include_fenced)
        .filter_map(|b| {
            let endpoint = b.endpoint(&ctx.listener)?;
            Some(
                DescribeClusterBroker::default()
                    .with_broker_id(BrokerId(b.node_id))
                    .with_host(StrBytes::from_string(endpoint.host.clone()))
                    .with_port(endpoint.port as i32)
                    .with_rack(b.rack.clone().map(StrBytes::from_string))
                    .with_is_fenced(!b.alive),
            )
        })
        .collect();
    // Anyone may describe the cluster, as in Kafka; its operations are told only to a principal
    // that may DESCRIBE it.
    let response = DescribeClusterResponse::default()
        .with_cluster_id(StrBytes::from_string(cluster.cluster_id.clone()))
        .with_controller_id(BrokerId(cluster.controller_id()))
        .with_brokers(brokers);
    if !req.include_cluster_authorized_operations {
        return response;
    }
    let ops = if authz::allowed(ctx, resource::CLUSTER, CLUSTER_NAME, operation::DESCRIBE) {
        authz::authorized_operations(ctx, resource::CLUSTER, CLUSTER_NAME)
    } else {
        0
    };
    response.with_cluster_authorized_operations(ops)
}

/// One in-memory "log dir" per broker, holding the partitions it replicates.
pub fn describe_log_dirs(
    ctx: &RequestContext,
    req: DescribeLogDirsRequest,
) -> DescribeLogDirsResponse {
    if let Err(error) = authz::cluster(ctx, operation::DESCRIBE) {
        // Before v3 there is no error code: the answer is just empty.
        let response = DescribeLogDirsResponse::default();
        return if ctx.version() >= 3 {
            response.with_error_code(error.code())
        } else {
            response
        };
    }
    let topics = ctx.cluster.topics.all();
    let wanted = |name: &str, partition: i32| match &req.topics {
        None => true,
        Some(list) => list
            .iter()
            .any(|t| t.topic.as_str() == name && t.partitions.contains(&partition)),
    };
    let described = topics
        .iter()
        .filter_map(|topic| {
            let partitions: Vec<DescribeLogDirsPartition> = topic
                .partitions
                .read()
                .iter()
                .filter(|p| p.leadership().replicas.contains(&ctx.broker_id))
                .filter(|p| wanted(&topic.name, p.index))
                .map(|p| {
                    let size = p.log.lock().size() as i64;
                    DescribeLogDirsPartition::default()
                        .with_partition_index(p.index)
                        .with_partition_size(size)
                })
                .collect();
            (!partitions.is_empty()).then(|| {
                DescribeLogDirsTopic::default()
                    .with_name(TopicName(StrBytes::from_string(topic.name.clone())))
                    .with_partitions(partitions)
            })
        })
        .collect();
    let result = DescribeLogDirsResult::default()
        .with_log_dir(StrBytes::from_string(format!(
            "/kafka-emulator/broker-{}",
            ctx.broker_id
        )))
        .with_topics(described);
    // The volume's total and usable bytes (v4) stay -1, "unknown": memory has no fixed size.
    DescribeLogDirsResponse::default().with_results(vec![result])
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};

    use super::*;
    use crate::handlers::tests::{call, test_cluster};

    fn described(version: i16, include_fenced: bool) -> Vec<(i32, bool)> {
        let cluster = test_cluster(2);
        cluster.stop_broker(1).unwrap();
        let req = DescribeClusterRequest::default().with_include_fenced_brokers(include_fenced);
        match call(
            &cluster,
            ApiKey::DescribeCluster,
            version,
            RequestKind::DescribeCluster(req),
        ) {
            ResponseKind::DescribeCluster(r) => r
                .brokers
                .iter()
                .map(|b| (b.broker_id.0, b.is_fenced))
                .collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_stopped_broker_is_listed_fenced_only_when_asked() {
        assert_eq!(described(1, false), vec![(0, false)]);
        assert_eq!(described(2, false), vec![(0, false)]);
        assert_eq!(described(2, true), vec![(0, false), (1, true)]);
    }
}
