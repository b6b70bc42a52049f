//! Partition administration: CreatePartitions, and the leader-election and reassignment APIs,
//! answered as a cluster whose replicas are always in sync (but for the replicas a reassignment
//! adds, for a moment).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::list_partition_reassignments_response::{
    OngoingPartitionReassignment, OngoingTopicReassignment,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, BrokerId,
    CreatePartitionsRequest, CreatePartitionsResponse, ElectLeadersRequest, ElectLeadersResponse,
    ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::authz::{self, operation};
use super::RequestContext;
use crate::state::topics::{
    assign_replicas, Partition, Reassigned, Topic, MAX_PARTITIONS_PER_REQUEST, TOO_MANY_PARTITIONS,
};

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
    if i64::from(count) - i64::from(current) > MAX_PARTITIONS_PER_REQUEST {
        return Err((
            ResponseError::PolicyViolation,
            TOO_MANY_PARTITIONS.to_string(),
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
                        "Attempted to add {new} additional partition(s), but only {} assignment(s) were specified.",
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

/// How long replicas a reassignment adds take to catch up: logs are shared here, so they are
/// in sync at once, but Kafka's clients and tools expect to see the reassignment under way.
pub const REASSIGNMENT_CATCH_UP: Duration = Duration::from_millis(1000);

/// A reassignment that adds replicas is under way (ListPartitionReassignments lists it) until
/// they have caught up, `REASSIGNMENT_CATCH_UP` later (or once their brokers are back up), then
/// completes; one that only drops replicas completes at once, and so does a reassignment to
/// the current replicas. Null replicas cancel the reassignment under way.
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
    let registered: HashSet<i32> = ctx
        .cluster
        .all_brokers()
        .iter()
        .map(|b| b.node_id)
        .collect();
    // v1 (KIP-860): a client may refuse reassignments that change a partition's replica count.
    // The answer says which way it was taken (true before v1, which cannot ask).
    let allow_rf_change = ctx.version() < 1 || req.allow_replication_factor_change;
    let cluster = ctx.cluster.clone();
    let elect = move |replicas: &[i32]| cluster.first_live_replica(replicas).unwrap_or(replicas[0]);
    let elect = &elect;
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
                            "Unknown topic or partition.".into(),
                        )),
                        (Some(partition), None) => {
                            if partition.cancel_reassignment(elect) {
                                Ok(())
                            } else {
                                Err((
                                    ResponseError::NoReassignmentInProgress,
                                    "No reassignment in progress.".into(),
                                ))
                            }
                        }
                        (Some(partition), Some(replicas)) => {
                            let replicas: Vec<i32> = replicas.into_iter().map(|b| b.0).collect();
                            // The replication factor the partition is at, or is heading to.
                            let current = match partition.reassignment() {
                                Some(r) => r.target.len(),
                                None => partition.leadership().replicas.len(),
                            };
                            if let Err(message) = check_replicas(&replicas, &registered, &brokers) {
                                Err((ResponseError::InvalidReplicaAssignment, message))
                            } else if !allow_rf_change && replicas.len() != current {
                                Err((
                                    ResponseError::InvalidReplicationFactor,
                                    format!(
                                        "The replication factor is changed from {current} to {}",
                                        replicas.len()
                                    ),
                                ))
                            } else {
                                if let Reassigned::Started(id) = partition.reassign(replicas, elect)
                                {
                                    complete_when_caught_up(ctx, partition, id);
                                }
                                Ok(())
                            }
                        }
                    };
                    match result {
                        Ok(()) => response.with_error_message(None),
                        Err((error, message)) => response
                            .with_error_code(error.code())
                            .with_error_message(Some(StrBytes::from_string(message))),
                    }
                })
                .collect();
            ReassignableTopicResponse::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    let response = AlterPartitionReassignmentsResponse::default()
        .with_error_message(None)
        .with_responses(responses);
    if ctx.version() >= 1 {
        response.with_allow_replication_factor_change(allow_rf_change)
    } else {
        response
    }
}

/// A reassignment's target replicas as Kafka's controller checks them, with its messages; a
/// stopped broker is refused too (its replica could not catch up).
fn check_replicas(
    replicas: &[i32],
    registered: &HashSet<i32>,
    live: &HashSet<i32>,
) -> Result<(), String> {
    if replicas.is_empty() {
        return Err("The manual partition assignment includes an empty replica list.".into());
    }
    let mut seen = HashSet::new();
    for &replica in replicas {
        if !registered.contains(&replica) {
            return Err(format!(
                "The manual partition assignment includes broker {replica}, but no such broker is registered."
            ));
        }
        if !seen.insert(replica) {
            return Err(format!(
                "The manual partition assignment includes the broker {replica} more than once."
            ));
        }
    }
    if replicas.iter().any(|r| !live.contains(r)) {
        return Err("Replicas must name live brokers.".into());
    }
    Ok(())
}

/// Completes reassignment `id` of `partition` once the replicas it adds have caught up: after
/// `REASSIGNMENT_CATCH_UP`, with every one of their brokers up.
fn complete_when_caught_up(ctx: &RequestContext, partition: Arc<Partition>, id: u64) {
    let cluster = ctx.cluster.clone();
    let complete = move || {
        let elect = |replicas: &[i32]| cluster.first_live_replica(replicas).unwrap_or(replicas[0]);
        match partition.reassignment() {
            Some(r) if r.id == id => {
                if r.adding.iter().all(|b| cluster.is_alive(*b)) {
                    partition.complete_reassignment(id, elect);
                    true
                } else {
                    false
                }
            }
            // Cancelled or replaced: nothing left to do.
            _ => true,
        }
    };
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn(async move {
                loop {
                    tokio::time::sleep(REASSIGNMENT_CATCH_UP).await;
                    if complete() {
                        break;
                    }
                }
            });
        }
        // Outside the broker's runtime (unit tests): caught up at once.
        Err(_) => {
            complete();
        }
    }
}

/// The reassignments under way: of every partition (topics null), or of the named ones.
pub fn list_reassignments(
    ctx: &RequestContext,
    req: ListPartitionReassignmentsRequest,
) -> ListPartitionReassignmentsResponse {
    if let Err(error) = authz::cluster(ctx, operation::DESCRIBE) {
        return ListPartitionReassignmentsResponse::default()
            .with_error_code(error.code())
            .with_error_message(Some(StrBytes::from_static_str(authz::message(error))));
    }
    let wanted: Vec<(TopicName, Option<Vec<i32>>)> = match req.topics {
        Some(topics) => topics
            .into_iter()
            .map(|t| (t.name, Some(t.partition_indexes)))
            .collect(),
        None => ctx
            .cluster
            .topics
            .all()
            .into_iter()
            .map(|t| (TopicName(StrBytes::from_string(t.name.clone())), None))
            .collect(),
    };
    let ids = |ids: Vec<i32>| ids.into_iter().map(BrokerId).collect::<Vec<_>>();
    let topics = wanted
        .into_iter()
        .filter_map(|(name, indexes)| {
            let topic = ctx.cluster.topics.get(&name)?;
            let partitions: Vec<OngoingPartitionReassignment> = topic
                .partitions
                .read()
                .iter()
                .filter(|p| indexes.as_ref().is_none_or(|i| i.contains(&p.index)))
                .filter_map(|p| {
                    let r = p.reassignment()?;
                    Some(
                        OngoingPartitionReassignment::default()
                            .with_partition_index(p.index)
                            .with_replicas(ids(p.leadership().replicas))
                            .with_adding_replicas(ids(r.adding))
                            .with_removing_replicas(ids(r.removing)),
                    )
                })
                .collect();
            (!partitions.is_empty()).then(|| {
                OngoingTopicReassignment::default()
                    .with_name(name)
                    .with_partitions(partitions)
            })
        })
        .collect();
    ListPartitionReassignmentsResponse::default()
        .with_error_message(None)
        .with_topics(topics)
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::alter_partition_reassignments_request::{
        ReassignablePartition, ReassignableTopic,
    };
    use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};

    use super::*;
    use crate::handlers::tests::{call, test_cluster};

    /// Reassigns partition 0 of `t` (one replica) to `replicas`: its error code and message.
    fn reassign(version: i16, allow: bool, replicas: Vec<i32>) -> (i16, Option<String>, bool) {
        let cluster = test_cluster(2);
        let req = AlterPartitionReassignmentsRequest::default()
            .with_allow_replication_factor_change(allow)
            .with_topics(vec![ReassignableTopic::default()
                .with_name(TopicName(StrBytes::from_static_str("t")))
                .with_partitions(vec![ReassignablePartition::default()
                    .with_replicas(Some(
                        replicas.into_iter().map(BrokerId).collect(),
                    ))])]);
        match call(
            &cluster,
            ApiKey::AlterPartitionReassignments,
            version,
            RequestKind::AlterPartitionReassignments(req),
        ) {
            ResponseKind::AlterPartitionReassignments(r) => {
                let p = &r.responses[0].partitions[0];
                (
                    p.error_code,
                    p.error_message.as_ref().map(|m| m.to_string()),
                    r.allow_replication_factor_change,
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_replication_factor_change_is_refused_when_the_client_disallows_it() {
        assert_eq!(
            reassign(1, false, vec![0, 1]),
            (
                ResponseError::InvalidReplicationFactor.code(),
                Some("The replication factor is changed from 1 to 2".into()),
                false
            )
        );
        assert_eq!(reassign(1, false, vec![1]), (0, None, false));
        // The replicas are checked first, as in Kafka: broker 7 does not exist.
        assert_eq!(
            reassign(1, false, vec![0, 7]),
            (
                ResponseError::InvalidReplicaAssignment.code(),
                Some(
                    "The manual partition assignment includes broker 7, but no such broker is registered."
                        .into()
                ),
                false
            )
        );
        assert_eq!(
            reassign(1, true, vec![1, 1]).1.as_deref(),
            Some("The manual partition assignment includes the broker 1 more than once.")
        );
        assert_eq!(reassign(1, true, vec![0, 1]), (0, None, true));
        // v0 cannot disallow it.
        assert_eq!(reassign(0, false, vec![0, 1]), (0, None, true));
    }
}
