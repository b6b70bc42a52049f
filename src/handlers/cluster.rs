//! DescribeCluster, UnregisterBroker, DescribeLogDirs and AlterReplicaLogDirs: the cluster's
//! brokers and where their data lives.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_replica_log_dirs_response::{
    AlterReplicaLogDirPartitionResult, AlterReplicaLogDirTopicResult,
};
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{
    AlterReplicaLogDirsRequest, AlterReplicaLogDirsResponse, BrokerId, DescribeClusterRequest,
    DescribeClusterResponse, DescribeLogDirsRequest, DescribeLogDirsResponse, TopicName,
    UnregisterBrokerRequest, UnregisterBrokerResponse,
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

/// UnregisterBroker (KIP-500): the controller forgets a broker, live or fenced (a stopped one).
pub fn unregister_broker(
    ctx: &RequestContext,
    req: UnregisterBrokerRequest,
) -> UnregisterBrokerResponse {
    let result = authz::cluster(ctx, operation::ALTER)
        .and_then(|()| ctx.cluster.unregister_broker(req.broker_id.0).map(drop));
    match result {
        Ok(()) => UnregisterBrokerResponse::default(),
        Err(error) => {
            let message = match error {
                ResponseError::BrokerIdNotRegistered => {
                    format!("Broker ID {} is not currently registered", req.broker_id.0)
                }
                other => authz::message(other).to_string(),
            };
            UnregisterBrokerResponse::default()
                .with_error_code(error.code())
                .with_error_message(Some(StrBytes::from_string(message)))
        }
    }
}

/// A broker's one log dir (`log.dirs`).
fn log_dir(broker_id: i32) -> String {
    format!("/kafka-emulator/broker-{broker_id}")
}

/// Moves replicas between the receiving broker's log dirs. It has one, so a move can only be to
/// where the replica already is: done at once. Kafka checks the dir before the partition, and
/// answers REPLICA_NOT_AVAILABLE for a partition this broker holds no replica of.
pub fn alter_replica_log_dirs(
    ctx: &RequestContext,
    req: AlterReplicaLogDirsRequest,
) -> AlterReplicaLogDirsResponse {
    let authorized = authz::cluster(ctx, operation::ALTER);
    let our_dir = log_dir(ctx.broker_id);
    let mut results: Vec<AlterReplicaLogDirTopicResult> = Vec::new();
    for dir in &req.dirs {
        for topic in &dir.topics {
            let found = ctx.cluster.topics.get(&topic.name);
            let partitions = topic.partitions.iter().map(|&index| {
                let error = match authorized {
                    Err(error) => Some(error),
                    Ok(()) if dir.path.as_str() != our_dir => Some(ResponseError::LogDirNotFound),
                    Ok(()) => match found.as_ref().and_then(|t| t.partition(index)) {
                        None => Some(ResponseError::UnknownTopicOrPartition),
                        Some(p) if !p.leadership().replicas.contains(&ctx.broker_id) => {
                            Some(ResponseError::ReplicaNotAvailable)
                        }
                        Some(_) => None,
                    },
                };
                AlterReplicaLogDirPartitionResult::default()
                    .with_partition_index(index)
                    .with_error_code(error.map_or(0, |e| e.code()))
            });
            // One result per topic, as Kafka groups them.
            match results.iter_mut().find(|r| r.topic_name == topic.name) {
                Some(result) => result.partitions.extend(partitions),
                None => results.push(
                    AlterReplicaLogDirTopicResult::default()
                        .with_topic_name(topic.name.clone())
                        .with_partitions(partitions.collect()),
                ),
            }
        }
    }
    AlterReplicaLogDirsResponse::default().with_results(results)
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
        .with_log_dir(StrBytes::from_string(log_dir(ctx.broker_id)))
        .with_topics(described);
    // The volume's total and usable bytes (v4) stay -1, "unknown": memory has no fixed size.
    DescribeLogDirsResponse::default().with_results(vec![result])
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};

    use super::*;
    use crate::handlers::tests::{call, test_cluster};

    fn described(
        cluster: &std::sync::Arc<crate::state::Cluster>,
        version: i16,
        include_fenced: bool,
    ) -> Vec<(i32, bool)> {
        let req = DescribeClusterRequest::default().with_include_fenced_brokers(include_fenced);
        match call(
            cluster,
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
    fn a_replica_moves_only_to_the_dir_it_is_in() {
        let cluster = test_cluster(2);
        let sample = crate::handlers::tests::sample_request(ApiKey::AlterReplicaLogDirs, 2);
        let errors = match call(&cluster, ApiKey::AlterReplicaLogDirs, 2, sample) {
            ResponseKind::AlterReplicaLogDirs(r) => {
                assert_eq!(r.results.len(), 1, "one result per topic");
                r.results[0]
                    .partitions
                    .iter()
                    .map(|p| (p.partition_index, p.error_code))
                    .collect::<Vec<_>>()
            }
            other => panic!("{other:?}"),
        };
        assert_eq!(
            errors,
            vec![
                (0, 0),
                (9, ResponseError::UnknownTopicOrPartition.code()),
                (1, ResponseError::LogDirNotFound.code()),
            ]
        );
    }

    #[test]
    fn a_partition_this_broker_holds_no_replica_of_is_not_available() {
        use kafka_protocol::messages::alter_replica_log_dirs_request::{
            AlterReplicaLogDir, AlterReplicaLogDirTopic,
        };
        // test_cluster(2): partition 1 of `t` lives on broker 1 only.
        let cluster = test_cluster(2);
        let req =
            AlterReplicaLogDirsRequest::default().with_dirs(vec![AlterReplicaLogDir::default()
                .with_path(StrBytes::from_string(log_dir(0)))
                .with_topics(vec![AlterReplicaLogDirTopic::default()
                    .with_name(TopicName(StrBytes::from_static_str("t")))
                    .with_partitions(vec![1])])]);
        match call(
            &cluster,
            ApiKey::AlterReplicaLogDirs,
            2,
            RequestKind::AlterReplicaLogDirs(req),
        ) {
            ResponseKind::AlterReplicaLogDirs(r) => assert_eq!(
                r.results[0].partitions[0].error_code,
                ResponseError::ReplicaNotAvailable.code()
            ),
            other => panic!("{other:?}"),
        }
    }

    fn unregister(cluster: &std::sync::Arc<crate::state::Cluster>, id: i32) -> i16 {
        let req = UnregisterBrokerRequest::default().with_broker_id(BrokerId(id));
        match call(
            cluster,
            ApiKey::UnregisterBroker,
            0,
            RequestKind::UnregisterBroker(req),
        ) {
            ResponseKind::UnregisterBroker(r) => r.error_code,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_fenced_broker_unregisters_once() {
        let cluster = test_cluster(2);
        cluster.stop_broker(1).unwrap();
        assert_eq!(unregister(&cluster, 1), 0);
        assert_eq!(described(&cluster, 2, true), vec![(0, false)]);
        assert_eq!(
            unregister(&cluster, 1),
            ResponseError::BrokerIdNotRegistered.code()
        );
    }

    #[test]
    fn a_stopped_broker_is_listed_fenced_only_when_asked() {
        let cluster = test_cluster(2);
        cluster.stop_broker(1).unwrap();
        assert_eq!(described(&cluster, 1, false), vec![(0, false)]);
        assert_eq!(described(&cluster, 2, false), vec![(0, false)]);
        assert_eq!(described(&cluster, 2, true), vec![(0, false), (1, true)]);
    }
}
