//! Partition administration: CreatePartitions, and the leader-election and reassignment APIs,
//! answered as a cluster whose replicas are always in sync.

use std::collections::HashSet;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::list_partition_reassignments_response::OngoingTopicReassignment;
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse,
    CreatePartitionsRequest, CreatePartitionsResponse, ElectLeadersRequest, ElectLeadersResponse,
    ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::authz::{self, operation};
use super::RequestContext;
use crate::state::topics::{assign_replicas, Topic};

/// ElectLeaders' election type for a preferred replica election (1 is unclean).
const PREFERRED: i8 = 0;

pub fn create(ctx: &RequestContext, req: CreatePartitionsRequest) -> CreatePartitionsResponse {
    let results = req
        .topics
        .into_iter()
        .map(|t| {
            let result = CreatePartitionsTopicResult::default().with_name(t.name.clone());
            let added = match authz::topic(ctx, &t.name, operation::ALTER) {
                Err(error) => Err((error, "The topic authorization is failed.".to_string())),
                Ok(()) => add(ctx, &t.name, t.count, t.assignments, req.validate_only),
            };
            match added {
                Ok(()) => result,
                Err((error, message)) => result
                    .with_error_code(error.code())
                    .with_error_message(Some(StrBytes::from_string(message))),
            }
        })
        .collect();
    CreatePartitionsResponse::default().with_results(results)
}

fn add(
    ctx: &RequestContext,
    name: &TopicName,
    count: i32,
    assignments: Option<
        Vec<kafka_protocol::messages::create_partitions_request::CreatePartitionsAssignment>,
    >,
    validate_only: bool,
) -> Result<(), (ResponseError, String)> {
    let topic = ctx.cluster.topics.get(name).ok_or_else(|| {
        (
            ResponseError::UnknownTopicOrPartition,
            format!("The topic '{}' does not exist.", &**name),
        )
    })?;
    let current = topic.partition_count() as i32;
    if count < current {
        return Err((
            ResponseError::InvalidPartitions,
            format!("Topic currently has {current} partitions, which is higher than the requested {count}."),
        ));
    }
    if count == current {
        return Err((
            ResponseError::InvalidPartitions,
            format!("Topic already has {current} partitions."),
        ));
    }
    let new = (count - current) as usize;
    let replication_factor = topic
        .partition(0)
        .map_or(1, |p| p.leadership().replicas.len());
    let brokers: Vec<i32> = ctx.cluster.brokers().iter().map(|b| b.node_id).collect();
    let assignment = match assignments {
        Some(assignments) => {
            let known: HashSet<i32> = brokers.iter().copied().collect();
            if assignments.len() != new {
                return Err((
                    ResponseError::InvalidReplicaAssignment,
                    format!(
                        "Increasing the number of partitions by {new} but {} assignments provided.",
                        assignments.len()
                    ),
                ));
            }
            let assignment: Vec<Vec<i32>> = assignments
                .into_iter()
                .map(|a| a.broker_ids.into_iter().map(|b| b.0).collect())
                .collect();
            if assignment
                .iter()
                .any(|r: &Vec<i32>| r.is_empty() || r.iter().any(|b| !known.contains(b)))
            {
                return Err((
                    ResponseError::InvalidReplicaAssignment,
                    "The manual partition assignment names a broker that does not exist.".into(),
                ));
            }
            assignment
        }
        // New partitions continue the round-robin where the existing ones stopped.
        None => assign_replicas(&brokers, count as usize, replication_factor)
            .split_off(current as usize),
    };
    if !validate_only {
        topic.add_partitions(assignment);
    }
    Ok(())
}

/// The partitions a request names, or every partition of every topic when it names none.
fn named_partitions(
    ctx: &RequestContext,
    requested: Option<Vec<(TopicName, Vec<i32>)>>,
) -> Vec<(TopicName, Option<std::sync::Arc<Topic>>, Vec<i32>)> {
    match requested {
        Some(list) => list
            .into_iter()
            .map(|(name, partitions)| {
                let topic = ctx.cluster.topics.get(&name);
                (name, topic, partitions)
            })
            .collect(),
        None => ctx
            .cluster
            .topics
            .all()
            .into_iter()
            .map(|t| {
                let partitions = (0..t.partition_count() as i32).collect();
                (
                    TopicName(StrBytes::from_string(t.name.clone())),
                    Some(t),
                    partitions,
                )
            })
            .collect(),
    }
}

/// Preferred (election type 0) or unclean (1) leader elections, decided as Kafka's controller
/// does; see `Cluster::elect_leader`. A partition that has the leader it would get answers
/// ELECTION_NOT_NEEDED.
pub fn elect_leaders(ctx: &RequestContext, req: ElectLeadersRequest) -> ElectLeadersResponse {
    if let Err(error) = authz::cluster(ctx, operation::ALTER) {
        // Every partition named fails; with none named, there is nothing to list.
        let results = req
            .topic_partitions
            .unwrap_or_default()
            .into_iter()
            .map(|t| {
                ReplicaElectionResult::default()
                    .with_topic(t.topic)
                    .with_partition_result(
                        t.partitions
                            .into_iter()
                            .map(|index| {
                                PartitionResult::default()
                                    .with_partition_id(index)
                                    .with_error_code(error.code())
                            })
                            .collect(),
                    )
            })
            .collect();
        let response = ElectLeadersResponse::default().with_replica_election_results(results);
        return if ctx.version() >= 1 {
            response.with_error_code(error.code())
        } else {
            response
        };
    }
    let requested = req
        .topic_partitions
        .map(|list| list.into_iter().map(|t| (t.topic, t.partitions)).collect());
    let results = named_partitions(ctx, requested)
        .into_iter()
        .map(|(name, topic, partitions)| {
            let partition_result = partitions
                .into_iter()
                .map(|index| {
                    let result = match topic.as_ref().and_then(|t| t.partition(index)) {
                        None => Err(ResponseError::UnknownTopicOrPartition),
                        Some(partition) => ctx
                            .cluster
                            .elect_leader(&partition, req.election_type == PREFERRED)
                            .map(|_| ()),
                    };
                    // Kafka's ApiError.NONE has a null message.
                    PartitionResult::default()
                        .with_partition_id(index)
                        .with_error_code(result.as_ref().err().map_or(0, |e| e.code()))
                        .with_error_message(
                            result.err().map(|e| StrBytes::from_string(e.to_string())),
                        )
                })
                .collect();
            ReplicaElectionResult::default()
                .with_topic(name)
                .with_partition_result(partition_result)
        })
        .collect();
    ElectLeadersResponse::default().with_replica_election_results(results)
}

/// Reassignments complete at once: replicas are copied instantly here. A reassignment to the
/// current replicas is a no-op; a cancellation (null replicas) finds nothing in progress.
pub fn alter_reassignments(
    ctx: &RequestContext,
    req: AlterPartitionReassignmentsRequest,
) -> AlterPartitionReassignmentsResponse {
    if let Err(error) = authz::cluster(ctx, operation::ALTER) {
        let message = Some(StrBytes::from_static_str(authz::message(error)));
        let responses = req
            .topics
            .into_iter()
            .map(|t| {
                ReassignableTopicResponse::default()
                    .with_name(t.name)
                    .with_partitions(
                        t.partitions
                            .into_iter()
                            .map(|p| {
                                ReassignablePartitionResponse::default()
                                    .with_partition_index(p.partition_index)
                                    .with_error_code(error.code())
                                    .with_error_message(message.clone())
                            })
                            .collect(),
                    )
            })
            .collect();
        return AlterPartitionReassignmentsResponse::default()
            .with_error_code(error.code())
            .with_error_message(message)
            .with_responses(responses);
    }
    let brokers: HashSet<i32> = ctx.cluster.brokers().iter().map(|b| b.node_id).collect();
    let responses = req
        .topics
        .into_iter()
        .map(|t| {
            let topic = ctx.cluster.topics.get(&t.name);
            let partitions = t
                .partitions
                .into_iter()
                .map(|p| {
                    let response = ReassignablePartitionResponse::default()
                        .with_partition_index(p.partition_index);
                    let result = match (
                        topic.as_ref().and_then(|t| t.partition(p.partition_index)),
                        p.replicas,
                    ) {
                        (None, _) => Err((
                            ResponseError::UnknownTopicOrPartition,
                            "Unknown topic or partition.",
                        )),
                        (Some(_), None) => Err((
                            ResponseError::NoReassignmentInProgress,
                            "No reassignment in progress.",
                        )),
                        (Some(partition), Some(replicas)) => {
                            let replicas: Vec<i32> = replicas.into_iter().map(|b| b.0).collect();
                            if replicas.is_empty() || replicas.iter().any(|r| !brokers.contains(r))
                            {
                                Err((
                                    ResponseError::InvalidReplicaAssignment,
                                    "Replicas must name live brokers.",
                                ))
                            } else {
                                let mut leadership = partition.leadership.write();
                                if leadership.replicas != replicas {
                                    if leadership.leader != replicas[0] {
                                        leadership.leader = replicas[0];
                                        leadership.leader_epoch += 1;
                                    }
                                    leadership.replicas = replicas;
                                }
                                Ok(())
                            }
                        }
                    };
                    match result {
                        Ok(()) => response.with_error_message(None),
                        Err((error, message)) => response
                            .with_error_code(error.code())
                            .with_error_message(Some(StrBytes::from_static_str(message))),
                    }
                })
                .collect();
            ReassignableTopicResponse::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    AlterPartitionReassignmentsResponse::default()
        .with_error_message(None)
        .with_responses(responses)
}

/// Reassignments finish instantly, so none is ever in progress.
pub fn list_reassignments(
    ctx: &RequestContext,
    _req: ListPartitionReassignmentsRequest,
) -> ListPartitionReassignmentsResponse {
    if let Err(error) = authz::cluster(ctx, operation::DESCRIBE) {
        return ListPartitionReassignmentsResponse::default()
            .with_error_code(error.code())
            .with_error_message(Some(StrBytes::from_static_str(authz::message(error))));
    }
    ListPartitionReassignmentsResponse::default()
        .with_error_message(None)
        .with_topics(Vec::<OngoingTopicReassignment>::new())
}
