//! CreateTopics and DeleteTopics.

use std::collections::{BTreeMap, HashSet};

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{
    CreateTopicsRequest, CreateTopicsResponse, DeleteTopicsRequest, DeleteTopicsResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::authz::{self, operation, resource, CLUSTER_NAME};
use super::RequestContext;
use crate::state::configs::validate_topic_config;
use crate::state::topics::{TopicSpec, MAX_PARTITIONS_PER_REQUEST, TOO_MANY_PARTITIONS};

pub fn create(ctx: &RequestContext, req: CreateTopicsRequest) -> CreateTopicsResponse {
    let mut seen = HashSet::new();
    let duplicates: HashSet<TopicName> = req
        .topics
        .iter()
        .filter(|t| !seen.insert(t.name.clone()))
        .map(|t| t.name.clone())
        .collect();
    // Kafka's controller refuses the whole request past this many partitions.
    let partitions: i64 = req
        .topics
        .iter()
        .map(|t| match (t.assignments.len(), t.num_partitions) {
            (0, -1) => i64::from(ctx.cluster.config.num_partitions),
            (0, n) => i64::from(n.max(0)),
            (assigned, _) => assigned as i64,
        })
        .sum();
    let too_many = partitions > MAX_PARTITIONS_PER_REQUEST;
    // CREATE on the cluster creates any topic; otherwise CREATE on each topic is needed.
    let may_create_any = authz::allowed(ctx, resource::CLUSTER, CLUSTER_NAME, operation::CREATE);
    let topics = req
        .topics
        .into_iter()
        .map(|topic| {
            let name = topic.name.clone();
            let result = if too_many {
                Err((ResponseError::PolicyViolation, TOO_MANY_PARTITIONS.to_string()))
            } else if duplicates.contains(&name) {
                Err((
                    ResponseError::InvalidRequest,
                    format!("Create topics request from client contains multiple entries for the topic {}", &*name),
                ))
            } else if !may_create_any
                && !authz::allowed(ctx, resource::TOPIC, &name, operation::CREATE)
            {
                Err((
                    ResponseError::TopicAuthorizationFailed,
                    "Authorization failed.".to_string(),
                ))
            } else {
                create_one(ctx, topic, req.validate_only)
            };
            match result {
                // The new topic's configs are only told to who may describe them.
                Ok(result)
                    if ctx.version() >= 5
                        && !authz::allowed(
                            ctx,
                            resource::TOPIC,
                            &name,
                            operation::DESCRIBE_CONFIGS,
                        ) =>
                {
                    result
                        .with_configs(None)
                        .with_topic_config_error_code(
                            ResponseError::TopicAuthorizationFailed.code(),
                        )
                }
                Ok(result) => result,
                Err((error, message)) => CreatableTopicResult::default()
                    .with_name(name)
                    .with_error_code(error.code())
                    .with_error_message(Some(StrBytes::from_string(message)))
                    .with_num_partitions(-1)
                    .with_replication_factor(-1),
            }
        })
        .collect();
    CreateTopicsResponse::default().with_topics(topics)
}

fn create_one(
    ctx: &RequestContext,
    topic: CreatableTopic,
    validate_only: bool,
) -> Result<CreatableTopicResult, (ResponseError, String)> {
    let cluster = &ctx.cluster;
    let mut configs = BTreeMap::new();
    for c in &topic.configs {
        let Some(value) = &c.value else { continue };
        let value =
            validate_topic_config(&c.name, value).map_err(|m| (ResponseError::InvalidConfig, m))?;
        configs.insert(c.name.to_string(), value);
    }
    let described = cluster.config.describe_topic_configs(
        &configs,
        &cluster.dynamic_configs.read().layers(Some(ctx.broker_id)),
    );
    let spec = if topic.assignments.is_empty() {
        cluster.topic_spec(
            &topic.name,
            topic.num_partitions,
            topic.replication_factor,
            configs,
        )?
    } else {
        manual_spec(ctx, &topic, configs)?
    };
    if cluster.topics.get(&spec.name).is_some() {
        return Err((
            ResponseError::TopicAlreadyExists,
            format!("Topic '{}' already exists.", spec.name),
        ));
    }
    let partitions = spec.assignment.len() as i32;
    let replication_factor = spec.assignment[0].len() as i16;
    let topic_id = if validate_only {
        uuid::Uuid::nil()
    } else {
        cluster
            .topics
            .create(spec)
            .map_err(|e| (e, format!("Topic '{}' already exists.", &*topic.name)))?
            .id
    };
    // Kafka leaves a created topic's error message null.
    let result = CreatableTopicResult::default()
        .with_name(topic.name)
        .with_error_message(None)
        .with_topic_id(topic_id)
        .with_num_partitions(partitions)
        .with_replication_factor(replication_factor);
    // v5+ describes the new topic's configs back.
    if ctx.version() < 5 {
        return Ok(result);
    }
    Ok(result.with_configs(Some(
        described
            .into_iter()
            .map(|c| {
                CreatableTopicConfigs::default()
                    .with_name(StrBytes::from_string(c.name))
                    .with_value(Some(StrBytes::from_string(c.value)))
                    .with_read_only(c.read_only)
                    .with_config_source(c.source as i8)
            })
            .collect(),
    )))
}

/// A topic whose replicas the client assigned itself: every partition listed once, in order,
/// on brokers that exist.
fn manual_spec(
    ctx: &RequestContext,
    topic: &CreatableTopic,
    configs: BTreeMap<String, String>,
) -> Result<TopicSpec, (ResponseError, String)> {
    if topic.num_partitions != -1 || topic.replication_factor != -1 {
        return Err((
            ResponseError::InvalidRequest,
            "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.".into(),
        ));
    }
    crate::state::topics::validate_topic_name(&topic.name)
        .map_err(|m| (ResponseError::InvalidTopicException, m))?;
    let brokers: HashSet<i32> = ctx.cluster.brokers().iter().map(|b| b.node_id).collect();
    let mut assignment = Vec::with_capacity(topic.assignments.len());
    for (i, a) in topic.assignments.iter().enumerate() {
        if a.partition_index != i as i32 {
            return Err((
                ResponseError::InvalidReplicaAssignment,
                "Partitions should be a consecutive 0-based integer sequence".into(),
            ));
        }
        let replicas: Vec<i32> = a.broker_ids.iter().map(|b| b.0).collect();
        if replicas.is_empty() || replicas.iter().any(|r| !brokers.contains(r)) {
            return Err((
                ResponseError::InvalidReplicaAssignment,
                format!("Replica assignment for partition {i} names a broker that does not exist."),
            ));
        }
        assignment.push(replicas);
    }
    Ok(TopicSpec {
        name: topic.name.to_string(),
        assignment,
        configs,
    })
}

pub fn delete(ctx: &RequestContext, req: DeleteTopicsRequest) -> DeleteTopicsResponse {
    let topics = &ctx.cluster.topics;
    // v6 names topics by name or id; earlier versions by name only.
    let requested: Vec<(Option<TopicName>, uuid::Uuid)> = if ctx.version() >= 6 {
        req.topics
            .into_iter()
            .map(|t| (t.name, t.topic_id))
            .collect()
    } else {
        req.topic_names
            .into_iter()
            .map(|n| (Some(n), uuid::Uuid::nil()))
            .collect()
    };
    let responses = requested
        .into_iter()
        .map(|(name, id)| {
            let found = match &name {
                Some(name) => topics.get(name),
                None => topics.get_by_id(&id),
            };
            // By name, DELETE is checked before existence, so a principal without it learns
            // nothing; by id, a topic it may not describe keeps its name to itself.
            let denied = match (&name, &found) {
                (Some(name), _) => authz::topic(ctx, name, operation::DELETE).err(),
                (None, Some(topic)) => authz::topic(ctx, &topic.name, operation::DELETE).err(),
                (None, None) => None,
            };
            if let Some(error) = denied {
                let name = match (&name, &found) {
                    (None, Some(topic))
                        if authz::topic(ctx, &topic.name, operation::DESCRIBE).is_ok() =>
                    {
                        Some(TopicName(StrBytes::from_string(topic.name.clone())))
                    }
                    _ => name,
                };
                return DeletableTopicResult::default()
                    .with_name(name)
                    .with_topic_id(id)
                    .with_error_code(error.code())
                    .with_error_message(Some(StrBytes::from_static_str(authz::message(error))));
            }
            match found {
                Some(topic) => {
                    topics.delete(&topic.name);
                    DeletableTopicResult::default()
                        .with_name(Some(TopicName(StrBytes::from_string(topic.name.clone()))))
                        .with_topic_id(topic.id)
                }
                None => {
                    let error = if name.is_some() {
                        ResponseError::UnknownTopicOrPartition
                    } else {
                        ResponseError::UnknownTopicId
                    };
                    DeletableTopicResult::default()
                        .with_name(name)
                        .with_topic_id(id)
                        .with_error_code(error.code())
                        .with_error_message(Some(StrBytes::from_static_str(
                            "This server does not host this topic-partition.",
                        )))
                }
            }
        })
        .collect();
    DeleteTopicsResponse::default().with_responses(responses)
}
