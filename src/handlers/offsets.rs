//! Committed offsets: OffsetCommit, OffsetFetch, OffsetDelete.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{
    OffsetCommitRequest, OffsetCommitResponse, OffsetDeleteRequest, OffsetDeleteResponse,
    OffsetFetchRequest, OffsetFetchResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::authz::{self, operation};
use super::group::check_coordinator;
use super::RequestContext;
use crate::state::groups::coordinator::TopicPartition;
use crate::state::groups::group::CommittedOffset;
use crate::state::topics::Topic;

/// Kafka's `offset.metadata.max.bytes`.
const OFFSET_METADATA_MAX_BYTES: usize = 4096;

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

/// A partition of an OffsetCommit: an error of its own, or the offset to store.
pub(super) type PartitionCommit = (i32, Result<CommittedOffset, ResponseError>);

/// What an OffsetCommit or TxnOffsetCommit checks of each topic it names: READ on the topic, the
/// partition exists, the metadata fits.
pub(super) struct TopicCommitCheck {
    topic: Option<Arc<Topic>>,
    denied: Option<ResponseError>,
}

impl TopicCommitCheck {
    pub(super) fn new(ctx: &RequestContext, name: &str) -> Self {
        TopicCommitCheck {
            topic: ctx.cluster.topics.get(name),
            denied: authz::topic(ctx, name, operation::READ).err(),
        }
    }

    /// The offset to store for one partition, or the partition's error.
    pub(super) fn offset_to_store(
        &self,
        partition: i32,
        offset: i64,
        leader_epoch: i32,
        metadata: Option<StrBytes>,
    ) -> Result<CommittedOffset, ResponseError> {
        if let Some(error) = self.denied {
            Err(error)
        } else if self
            .topic
            .as_ref()
            .is_none_or(|t| t.partition(partition).is_none())
        {
            Err(ResponseError::UnknownTopicOrPartition)
        } else if metadata
            .as_ref()
            .is_some_and(|m| m.len() > OFFSET_METADATA_MAX_BYTES)
        {
            Err(ResponseError::OffsetMetadataTooLarge)
        } else {
            Ok(CommittedOffset {
                offset,
                leader_epoch,
                metadata: metadata.map(|m| m.to_string()),
            })
        }
    }
}

/// The partitions of a commit that passed their checks, with the offsets to store.
pub(super) fn offsets_to_store(
    results: &[(TopicName, Vec<PartitionCommit>)],
) -> Vec<(TopicPartition, CommittedOffset)> {
    results
        .iter()
        .flat_map(|(name, partitions)| {
            partitions.iter().filter_map(move |(index, result)| {
                result
                    .as_ref()
                    .ok()
                    .map(|o| ((name.to_string(), *index), o.clone()))
            })
        })
        .collect()
}

pub fn commit(ctx: &RequestContext, req: OffsetCommitRequest) -> OffsetCommitResponse {
    let mut results: Vec<(TopicName, Vec<PartitionCommit>)> = req
        .topics
        .into_iter()
        .map(|topic| {
            let check = TopicCommitCheck::new(ctx, &topic.name);
            let partitions = topic
                .partitions
                .into_iter()
                .map(|p| {
                    let result = check.offset_to_store(
                        p.partition_index,
                        p.committed_offset,
                        p.committed_leader_epoch,
                        p.committed_metadata,
                    );
                    (p.partition_index, result)
                })
                .collect();
            (topic.name, partitions)
        })
        .collect();
    let valid = offsets_to_store(&results);
    let routed = authz::group(ctx, &req.group_id, operation::READ)
        .and_then(|()| check_coordinator(ctx, &req.group_id));
    let committed = routed.and_then(|()| {
        ctx.cluster.groups.commit_offsets(
            &req.group_id,
            &req.member_id,
            req.group_instance_id.as_deref(),
            req.generation_id_or_member_epoch,
            valid,
            ctx.version(),
        )
    });
    // A group-level refusal applies to every partition of the request.
    if let Err(error) = committed {
        for (_, partitions) in &mut results {
            for (_, result) in partitions.iter_mut() {
                *result = Err(error);
            }
        }
    }
    let topics = results
        .into_iter()
        .map(|(name, partitions)| {
            OffsetCommitResponseTopic::default()
                .with_name(name)
                .with_partitions(
                    partitions
                        .into_iter()
                        .map(|(index, result)| {
                            OffsetCommitResponsePartition::default()
                                .with_partition_index(index)
                                .with_error_code(result.err().map_or(0, |e| e.code()))
                        })
                        .collect(),
                )
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}

/// One group's committed offsets, grouped by topic: (topic, [(partition, offset)]). An offset
/// is an error when it is unstable (see `fetch_group`).
type GroupOffsets = Vec<(
    String,
    Vec<(i32, Result<Option<CommittedOffset>, ResponseError>)>,
)>;

/// With `require_stable` (v7+), a partition whose offset a transaction has yet to commit is
/// UNSTABLE_OFFSET_COMMIT (retriable) instead of its last committed offset.
fn fetch_group(
    ctx: &RequestContext,
    group_id: &str,
    requested: Option<Vec<TopicPartition>>,
    require_stable: bool,
) -> Result<GroupOffsets, ResponseError> {
    check_coordinator(ctx, group_id)?;
    // Offsets of topics the principal may not describe: left out when it asked for all,
    // TOPIC_AUTHORIZATION_FAILED when it named them.
    let all = requested.is_none();
    let unstable = if require_stable {
        ctx.cluster.groups.pending_txn_partitions(group_id)
    } else {
        Default::default()
    };
    let mut by_topic: GroupOffsets = Vec::new();
    for (tp, offset) in ctx.cluster.groups.fetch_offsets(group_id, requested) {
        let described = authz::topic(ctx, &tp.0, operation::DESCRIBE);
        if all && described.is_err() {
            continue;
        }
        let offset = if let Err(error) = described {
            Err(error)
        } else if unstable.contains(&tp) {
            Err(ResponseError::UnstableOffsetCommit)
        } else {
            Ok(offset)
        };
        let (topic, partition) = tp;
        match by_topic.iter_mut().find(|(t, _)| *t == topic) {
            Some((_, partitions)) => partitions.push((partition, offset)),
            None => by_topic.push((topic, vec![(partition, offset)])),
        }
    }
    Ok(by_topic)
}

pub fn fetch(ctx: &RequestContext, req: OffsetFetchRequest) -> OffsetFetchResponse {
    let require_stable = ctx.version() >= 7 && req.require_stable;
    if ctx.version() >= 8 {
        // v8+ asks for several groups at once.
        let groups = req
            .groups
            .into_iter()
            .map(|group| {
                let requested = group.topics.map(|topics| {
                    topics
                        .into_iter()
                        .flat_map(|t| {
                            let name = t.name.to_string();
                            t.partition_indexes
                                .into_iter()
                                .map(move |p| (name.clone(), p))
                        })
                        .collect()
                });
                let response =
                    OffsetFetchResponseGroup::default().with_group_id(group.group_id.clone());
                // v9: a consumer group member names itself and its epoch.
                let fetched = authz::group(ctx, &group.group_id, operation::DESCRIBE)
                    .and_then(|()| check_coordinator(ctx, &group.group_id))
                    .and_then(|()| {
                        ctx.cluster.groups.validate_offset_fetch(
                            &group.group_id,
                            group.member_id.as_deref(),
                            group.member_epoch,
                        )
                    })
                    .and_then(|()| fetch_group(ctx, &group.group_id, requested, require_stable));
                match fetched {
                    Err(error) => response.with_error_code(error.code()),
                    Ok(offsets) => response.with_topics(
                        offsets
                            .into_iter()
                            .map(|(topic, partitions)| {
                                OffsetFetchResponseTopics::default()
                                    .with_name(topic_name(&topic))
                                    .with_partitions(
                                        partitions
                                            .into_iter()
                                            .map(|(index, offset)| {
                                                let (committed, epoch, metadata, error) =
                                                    describe(offset);
                                                OffsetFetchResponsePartitions::default()
                                                    .with_partition_index(index)
                                                    .with_committed_offset(committed)
                                                    .with_committed_leader_epoch(epoch)
                                                    .with_metadata(Some(metadata))
                                                    .with_error_code(error)
                                            })
                                            .collect(),
                                    )
                            })
                            .collect(),
                    ),
                }
            })
            .collect();
        return OffsetFetchResponse::default().with_groups(groups);
    }
    let requested = req.topics.map(|topics| {
        topics
            .into_iter()
            .flat_map(|t| {
                let name = t.name.to_string();
                t.partition_indexes
                    .into_iter()
                    .map(move |p| (name.clone(), p))
            })
            .collect()
    });
    let fetched = authz::group(ctx, &req.group_id, operation::DESCRIBE)
        .and_then(|()| fetch_group(ctx, &req.group_id, requested, require_stable));
    match fetched {
        Err(error) => OffsetFetchResponse::default().with_error_code(error.code()),
        Ok(offsets) => OffsetFetchResponse::default().with_topics(
            offsets
                .into_iter()
                .map(|(topic, partitions)| {
                    OffsetFetchResponseTopic::default()
                        .with_name(topic_name(&topic))
                        .with_partitions(
                            partitions
                                .into_iter()
                                .map(|(index, offset)| {
                                    let (committed, epoch, metadata, error) = describe(offset);
                                    OffsetFetchResponsePartition::default()
                                        .with_partition_index(index)
                                        .with_committed_offset(committed)
                                        .with_committed_leader_epoch(epoch)
                                        .with_metadata(Some(metadata))
                                        .with_error_code(error)
                                })
                                .collect(),
                        )
                })
                .collect(),
        ),
    }
}

/// (offset, leader epoch, metadata, error code) as OffsetFetch reports them; -1 and "" when
/// nothing is committed or the offset is unstable.
fn describe(offset: Result<Option<CommittedOffset>, ResponseError>) -> (i64, i32, StrBytes, i16) {
    match offset {
        Ok(Some(o)) => (
            o.offset,
            o.leader_epoch,
            StrBytes::from_string(o.metadata.unwrap_or_default()),
            0,
        ),
        Ok(None) => (-1, -1, StrBytes::default(), 0),
        Err(error) => (-1, -1, StrBytes::default(), error.code()),
    }
}

pub fn delete(ctx: &RequestContext, req: OffsetDeleteRequest) -> OffsetDeleteResponse {
    // Offsets of a topic are deleted only with READ on it.
    let readable = |name: &str| authz::topic(ctx, name, operation::READ).is_ok();
    let requested: Vec<TopicPartition> = req
        .topics
        .iter()
        .filter(|t| readable(&t.name))
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(move |p| (t.name.to_string(), p.partition_index))
        })
        .collect();
    let results = authz::group(ctx, &req.group_id, operation::DELETE)
        .and_then(|()| check_coordinator(ctx, &req.group_id))
        .and_then(|()| ctx.cluster.groups.delete_offsets(&req.group_id, requested));
    match results {
        Err(error) => OffsetDeleteResponse::default().with_error_code(error.code()),
        Ok(results) => {
            let topics = req
                .topics
                .into_iter()
                .map(|t| {
                    let partitions = t
                        .partitions
                        .iter()
                        .map(|p| {
                            let error = results
                                .iter()
                                .find(|((topic, index), _)| {
                                    topic.as_str() == t.name.as_str() && *index == p.partition_index
                                })
                                .and_then(|(_, e)| *e);
                            let error = if !readable(&t.name) {
                                Some(ResponseError::TopicAuthorizationFailed)
                            } else if ctx.cluster.topics.get(&t.name).is_none() {
                                Some(ResponseError::UnknownTopicOrPartition)
                            } else {
                                error
                            };
                            OffsetDeleteResponsePartition::default()
                                .with_partition_index(p.partition_index)
                                .with_error_code(error.map_or(0, |e| e.code()))
                        })
                        .collect();
                    OffsetDeleteResponseTopic::default()
                        .with_name(t.name)
                        .with_partitions(partitions)
                })
                .collect();
            OffsetDeleteResponse::default().with_topics(topics)
        }
    }
}
