//! Metadata: the cluster's brokers and controller, and topics with their partitions' leaders.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_topic_partitions_response::{
    Cursor, DescribeTopicPartitionsResponsePartition, DescribeTopicPartitionsResponseTopic,
};
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{
    BrokerId, DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse, MetadataRequest,
    MetadataResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::authz::{self, operation, resource, CLUSTER_NAME};
use super::RequestContext;
use crate::state::topics::Topic;
use crate::state::Cluster;

/// v13 (KIP-1102) adds a top-level error code for REBOOTSTRAP_REQUIRED; a broker never sets it
/// (Kafka's KafkaApis leaves it NONE), so it stays 0 here too.
pub fn handle(ctx: &RequestContext, req: MetadataRequest) -> MetadataResponse {
    let cluster = &ctx.cluster;
    let version = ctx.version();
    // Every topic the principal may describe; the others are not even said to exist.
    let all_topics = || -> Vec<MetadataResponseTopic> {
        cluster
            .topics
            .all()
            .iter()
            .filter(|t| authz::allowed(ctx, resource::TOPIC, &t.name, operation::DESCRIBE))
            .map(|t| describe(cluster, t))
            .collect()
    };
    // v0 asks for every topic with an empty list; v1+ with a null one.
    let topics = match req.topics {
        None => all_topics(),
        Some(list) if list.is_empty() && version == 0 => all_topics(),
        Some(list) => {
            // Before v4 a request could not opt out of auto-creation.
            let auto_create = version < 4 || req.allow_auto_topic_creation;
            list.into_iter()
                .map(|requested| match requested.name {
                    // As in Kafka, a topic id (v12) names the topic whatever the name says: the
                    // Java admin sends an empty name beside it.
                    _ if !requested.topic_id.is_nil() => by_id(ctx, requested.topic_id),
                    Some(name) => by_name(ctx, name, auto_create),
                    None => by_id(ctx, requested.topic_id),
                })
                .collect()
        }
    };
    let topics = if version >= 8 && req.include_topic_authorized_operations {
        topics
            .into_iter()
            .map(|t| match &t.name {
                Some(name) if t.error_code != ResponseError::TopicAuthorizationFailed.code() => {
                    let ops = authz::authorized_operations(ctx, resource::TOPIC, name);
                    t.with_topic_authorized_operations(ops)
                }
                _ => t,
            })
            .collect()
    } else {
        topics
    };
    let response = empty(ctx).with_topics(topics);
    // v8 to v10 could ask for the cluster's too (later versions ask DescribeCluster).
    if (8..=10).contains(&version) && req.include_cluster_authorized_operations {
        let ops = if authz::allowed(ctx, resource::CLUSTER, CLUSTER_NAME, operation::DESCRIBE) {
            authz::authorized_operations(ctx, resource::CLUSTER, CLUSTER_NAME)
        } else {
            0
        };
        response.with_cluster_authorized_operations(ops)
    } else {
        response
    }
}

/// A response with the cluster and its live brokers but no topics. Brokers are given at their
/// address on the listener this request came through (`advertised.listeners`).
pub fn empty(ctx: &RequestContext) -> MetadataResponse {
    let cluster = &ctx.cluster;
    let brokers = cluster
        .brokers_on(&ctx.listener)
        .into_iter()
        .map(|b| {
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(b.node_id))
                .with_host(StrBytes::from_string(b.host))
                .with_port(b.port as i32)
        })
        .collect();
    MetadataResponse::default()
        .with_brokers(brokers)
        .with_cluster_id(Some(StrBytes::from_string(cluster.cluster_id.clone())))
        .with_controller_id(BrokerId(cluster.controller_id()))
}

fn by_name(ctx: &RequestContext, name: TopicName, auto_create: bool) -> MetadataResponseTopic {
    let cluster = &ctx.cluster;
    // Whether it exists or not is no business of a principal that may not describe it.
    let found = match cluster.topics.get(&name) {
        _ if !authz::allowed(ctx, resource::TOPIC, &name, operation::DESCRIBE) => {
            Err(ResponseError::TopicAuthorizationFailed)
        }
        Some(topic) => Ok(topic),
        // Auto-creation needs CREATE on the cluster or on the topic.
        None if auto_create
            && cluster.config.auto_create_topics
            && !authz::allowed(ctx, resource::CLUSTER, CLUSTER_NAME, operation::CREATE)
            && !authz::allowed(ctx, resource::TOPIC, &name, operation::CREATE) =>
        {
            Err(ResponseError::TopicAuthorizationFailed)
        }
        None if crate::state::topics::validate_topic_name(&name).is_err() => {
            Err(ResponseError::InvalidTopicException)
        }
        None if auto_create => cluster.auto_create_topic(&name),
        None => Err(ResponseError::UnknownTopicOrPartition),
    };
    match found {
        Ok(topic) => describe(cluster, &topic),
        Err(error) => MetadataResponseTopic::default()
            .with_name(Some(name))
            .with_error_code(error.code()),
    }
}

fn by_id(ctx: &RequestContext, id: Uuid) -> MetadataResponseTopic {
    match ctx.cluster.topics.get_by_id(&id) {
        // Topic ids are not secret; the name is.
        Some(topic) if !authz::allowed(ctx, resource::TOPIC, &topic.name, operation::DESCRIBE) => {
            MetadataResponseTopic::default()
                .with_name(None)
                .with_topic_id(id)
                .with_error_code(ResponseError::TopicAuthorizationFailed.code())
        }
        Some(topic) => describe(&ctx.cluster, &topic),
        None => MetadataResponseTopic::default()
            .with_name(None)
            .with_topic_id(id)
            .with_error_code(ResponseError::UnknownTopicId.code()),
    }
}

/// A topic's partitions: leader, replicas, and as in-sync replicas the live ones (every live
/// replica is in sync, as all serve one log). A partition with no live replica has no leader.
fn describe(cluster: &Cluster, topic: &Topic) -> MetadataResponseTopic {
    let live: Vec<i32> = cluster.brokers().iter().map(|b| b.node_id).collect();
    let partitions = topic
        .partitions
        .read()
        .iter()
        .map(|p| {
            let leadership = p.leadership();
            // Replicas a reassignment is adding are not in sync until it completes.
            let adding = p.reassignment().map(|r| r.adding).unwrap_or_default();
            let ids = |alive: bool| -> Vec<BrokerId> {
                leadership
                    .replicas
                    .iter()
                    .filter(|id| live.contains(id) == alive)
                    .filter(|id| !alive || !adding.contains(id))
                    .map(|&id| BrokerId(id))
                    .collect()
            };
            let replicas: Vec<BrokerId> =
                leadership.replicas.iter().map(|&id| BrokerId(id)).collect();
            let error = if leadership.leader < 0 {
                ResponseError::LeaderNotAvailable.code()
            } else {
                0
            };
            MetadataResponsePartition::default()
                .with_error_code(error)
                .with_partition_index(p.index)
                .with_leader_id(BrokerId(leadership.leader))
                .with_leader_epoch(leadership.leader_epoch)
                .with_isr_nodes(ids(true))
                .with_offline_replicas(ids(false))
                .with_replica_nodes(replicas)
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_string(topic.name.clone()))))
        .with_topic_id(topic.id)
        .with_partitions(partitions)
}

/// DescribeTopicPartitions (KIP-966): topics sorted by name, at most `response_partition_limit`
/// partitions per response, continued from a cursor.
pub fn describe_topic_partitions(
    ctx: &RequestContext,
    req: DescribeTopicPartitionsRequest,
) -> DescribeTopicPartitionsResponse {
    let describable = |name: &str| authz::allowed(ctx, resource::TOPIC, name, operation::DESCRIBE);
    let mut names: Vec<String> = if req.topics.is_empty() {
        ctx.cluster
            .topics
            .all()
            .iter()
            .map(|t| t.name.clone())
            .filter(|name| describable(name))
            .collect()
    } else {
        req.topics.iter().map(|t| t.name.to_string()).collect()
    };
    names.sort();
    names.dedup();
    let (start_topic, start_partition) = req.cursor.as_ref().map_or((String::new(), 0), |c| {
        (c.topic_name.to_string(), c.partition_index)
    });
    let mut budget = req.response_partition_limit.max(1) as usize;
    let mut topics = Vec::new();
    let mut next_cursor = None;
    for name in names.into_iter().filter(|n| *n >= start_topic) {
        let topic_name = TopicName(StrBytes::from_string(name.clone()));
        if !describable(&name) {
            topics.push(
                DescribeTopicPartitionsResponseTopic::default()
                    .with_name(Some(topic_name))
                    .with_error_code(ResponseError::TopicAuthorizationFailed.code()),
            );
            continue;
        }
        let Some(topic) = ctx.cluster.topics.get(&name) else {
            topics.push(
                DescribeTopicPartitionsResponseTopic::default()
                    .with_name(Some(topic_name))
                    .with_error_code(ResponseError::UnknownTopicOrPartition.code()),
            );
            continue;
        };
        if budget == 0 {
            next_cursor = Some(
                Cursor::default()
                    .with_topic_name(topic_name)
                    .with_partition_index(0),
            );
            break;
        }
        let first = if name == start_topic {
            start_partition.max(0) as usize
        } else {
            0
        };
        let all = topic.partitions.read().clone();
        let mut partitions = Vec::new();
        for p in all.iter().skip(first) {
            if budget == 0 {
                next_cursor = Some(
                    Cursor::default()
                        .with_topic_name(topic_name.clone())
                        .with_partition_index(p.index),
                );
                break;
            }
            budget -= 1;
            let leadership = p.leadership();
            let ids =
                |ids: &[i32]| -> Vec<BrokerId> { ids.iter().map(|&id| BrokerId(id)).collect() };
            let live = ctx.cluster.live_replicas(&leadership.replicas);
            let offline: Vec<i32> = leadership
                .replicas
                .iter()
                .copied()
                .filter(|r| !live.contains(r))
                .collect();
            // Replicas a reassignment is adding are not in sync until it completes.
            let adding = p.reassignment().map(|r| r.adding).unwrap_or_default();
            let in_sync: Vec<i32> = live
                .iter()
                .copied()
                .filter(|r| !adding.contains(r))
                .collect();
            let error = if leadership.leader < 0 {
                ResponseError::LeaderNotAvailable.code()
            } else {
                0
            };
            partitions.push(
                DescribeTopicPartitionsResponsePartition::default()
                    .with_error_code(error)
                    .with_partition_index(p.index)
                    .with_leader_id(BrokerId(leadership.leader))
                    .with_leader_epoch(leadership.leader_epoch)
                    .with_isr_nodes(ids(&in_sync))
                    .with_offline_replicas(ids(&offline))
                    .with_replica_nodes(ids(&leadership.replicas))
                    .with_eligible_leader_replicas(Some(Vec::new()))
                    .with_last_known_elr(Some(Vec::new())),
            );
        }
        topics.push(
            DescribeTopicPartitionsResponseTopic::default()
                .with_name(Some(topic_name))
                .with_topic_id(topic.id)
                .with_topic_authorized_operations(authz::authorized_operations(
                    ctx,
                    resource::TOPIC,
                    &name,
                ))
                .with_partitions(partitions),
        );
        if next_cursor.is_some() {
            break;
        }
    }
    DescribeTopicPartitionsResponse::default()
        .with_topics(topics)
        .with_next_cursor(next_cursor)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
    use kafka_protocol::messages::{ApiKey, RequestHeader};
    use tokio::sync::watch;

    use super::*;
    use crate::state::{BrokerConfig, BrokerNode};

    fn metadata(cluster: &Arc<Cluster>, topics: Vec<MetadataRequestTopic>) -> MetadataResponse {
        let (_stop, shutdown) = watch::channel(false);
        let ctx = RequestContext {
            cluster: cluster.clone(),
            broker_id: 0,
            header: RequestHeader::default()
                .with_request_api_key(ApiKey::Metadata as i16)
                .with_request_api_version(12),
            client_host: "/127.0.0.1".into(),
            principal: crate::handlers::ANONYMOUS.into(),
            token_authenticated: false,
            listener: "PLAINTEXT".into(),
            connection_id: 0,
            shutdown,
        };
        handle(&ctx, MetadataRequest::default().with_topics(Some(topics)))
    }

    #[test]
    fn a_topic_id_names_the_topic_even_beside_an_empty_name() {
        let cluster = Arc::new(Cluster::new("test".into(), BrokerConfig::default()));
        cluster.add_broker(BrokerNode {
            node_id: 0,
            host: "127.0.0.1".into(),
            port: 9092,
        });
        let spec = cluster.topic_spec("t", 2, 1, Default::default()).unwrap();
        let id = cluster.topics.create(spec).unwrap().id;
        let empty_name = Some(TopicName(StrBytes::from_static_str("")));
        let response = metadata(
            &cluster,
            vec![
                MetadataRequestTopic::default()
                    .with_name(empty_name.clone())
                    .with_topic_id(id),
                MetadataRequestTopic::default()
                    .with_name(None)
                    .with_topic_id(id),
                MetadataRequestTopic::default()
                    .with_name(empty_name)
                    .with_topic_id(Uuid::from_u128(7)),
            ],
        );
        for found in &response.topics[..2] {
            assert_eq!(found.error_code, 0);
            assert_eq!(found.name.as_deref().map(|n| n.as_str()), Some("t"));
            assert_eq!((found.topic_id, found.partitions.len()), (id, 2));
        }
        let unknown = &response.topics[2];
        assert_eq!(unknown.error_code, ResponseError::UnknownTopicId.code());
        assert_eq!(unknown.topic_id, Uuid::from_u128(7));
    }
}
