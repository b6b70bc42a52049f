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

use super::RequestContext;
use crate::state::topics::Topic;

pub fn handle(ctx: &RequestContext, req: MetadataRequest) -> MetadataResponse {
    let cluster = &ctx.cluster;
    let version = ctx.version();
    let brokers = cluster
        .brokers()
        .into_iter()
        .map(|b| {
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(b.node_id))
                .with_host(StrBytes::from_string(b.host))
                .with_port(b.port as i32)
        })
        .collect();

    // v0 asks for every topic with an empty list; v1+ with a null one.
    let topics = match req.topics {
        None => cluster.topics.all().iter().map(|t| describe(t)).collect(),
        Some(list) if list.is_empty() && version == 0 => {
            cluster.topics.all().iter().map(|t| describe(t)).collect()
        }
        Some(list) => {
            // Before v4 a request could not opt out of auto-creation.
            let auto_create = version < 4 || req.allow_auto_topic_creation;
            list.into_iter()
                .map(|requested| match requested.name {
                    Some(name) => by_name(ctx, name, auto_create),
                    None => by_id(ctx, requested.topic_id),
                })
                .collect()
        }
    };

    MetadataResponse::default()
        .with_brokers(brokers)
        .with_cluster_id(Some(StrBytes::from_string(cluster.cluster_id.clone())))
        .with_controller_id(BrokerId(cluster.controller_id()))
        .with_topics(topics)
}

fn by_name(ctx: &RequestContext, name: TopicName, auto_create: bool) -> MetadataResponseTopic {
    let cluster = &ctx.cluster;
    let found = match cluster.topics.get(&name) {
        Some(topic) => Ok(topic),
        None if crate::state::topics::validate_topic_name(&name).is_err() => {
            Err(ResponseError::InvalidTopicException)
        }
        None if auto_create => cluster.auto_create_topic(&name),
        None => Err(ResponseError::UnknownTopicOrPartition),
    };
    match found {
        Ok(topic) => describe(&topic),
        Err(error) => MetadataResponseTopic::default()
            .with_name(Some(name))
            .with_error_code(error.code()),
    }
}

fn by_id(ctx: &RequestContext, id: Uuid) -> MetadataResponseTopic {
    match ctx.cluster.topics.get_by_id(&id) {
        Some(topic) => describe(&topic),
        None => MetadataResponseTopic::default()
            .with_name(None)
            .with_topic_id(id)
            .with_error_code(ResponseError::UnknownTopicId.code()),
    }
}

fn describe(topic: &Topic) -> MetadataResponseTopic {
    let partitions = topic
        .partitions
        .read()
        .iter()
        .map(|p| {
            let leadership = p.leadership();
            let replicas: Vec<BrokerId> =
                leadership.replicas.iter().map(|&id| BrokerId(id)).collect();
            MetadataResponsePartition::default()
                .with_partition_index(p.index)
                .with_leader_id(BrokerId(leadership.leader))
                .with_leader_epoch(leadership.leader_epoch)
                .with_isr_nodes(replicas.clone())
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
    let mut names: Vec<String> = if req.topics.is_empty() {
        ctx.cluster
            .topics
            .all()
            .iter()
            .map(|t| t.name.clone())
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
            let replicas: Vec<BrokerId> =
                leadership.replicas.iter().map(|&id| BrokerId(id)).collect();
            partitions.push(
                DescribeTopicPartitionsResponsePartition::default()
                    .with_partition_index(p.index)
                    .with_leader_id(BrokerId(leadership.leader))
                    .with_leader_epoch(leadership.leader_epoch)
                    .with_isr_nodes(replicas.clone())
                    .with_replica_nodes(replicas)
                    .with_eligible_leader_replicas(Some(Vec::new()))
                    .with_last_known_elr(Some(Vec::new())),
            );
        }
        topics.push(
            DescribeTopicPartitionsResponseTopic::default()
                .with_name(Some(topic_name))
                .with_topic_id(topic.id)
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
