//! Share groups (KIP-932): ShareGroupHeartbeat, ShareGroupDescribe and the share group offsets
//! admin (Describe/Alter/DeleteShareGroupOffsets). The coordinator is `state::share`. With the
//! `share.version` feature at 0 these APIs answer UNSUPPORTED_VERSION, as Kafka 4.1 does (it
//! still advertises them).

use std::time::Instant;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::share_group_describe_response::{
    self as describe_response, DescribedGroup,
};
use kafka_protocol::messages::share_group_heartbeat_response::{self as heartbeat_response};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use super::authz::{self, operation};
use super::consumer_group::{assignment_codecs, topics_image};
use super::group::check_coordinator;
use super::RequestContext;
use crate::state::groups::consumer_group::GroupError;
use crate::state::share::ShareHeartbeat;

/// Kafka's only share group assignor.
const ASSIGNOR_NAME: &str = "simple";

fn text(s: impl Into<String>) -> StrBytes {
    StrBytes::from_string(s.into())
}

/// UNSUPPORTED_VERSION while `share.version` is 0 (read at request time: UpdateFeatures may
/// change it).
pub(super) fn check_enabled(ctx: &RequestContext) -> Result<(), ResponseError> {
    if ctx.cluster.features.share_groups_enabled() {
        Ok(())
    } else {
        Err(ResponseError::UnsupportedVersion)
    }
}

/// A group request must reach the group's coordinator, by a client allowed `op` on the group.
fn check_group(ctx: &RequestContext, group_id: &str, op: i8) -> Result<(), ResponseError> {
    authz::group(ctx, group_id, op)?;
    check_coordinator(ctx, group_id)
}

pub fn heartbeat(
    ctx: &RequestContext,
    req: ShareGroupHeartbeatRequest,
) -> ShareGroupHeartbeatResponse {
    let settings = &ctx.cluster.config.groups.share;
    let result = check_enabled(ctx)
        .and_then(|()| {
            authz::group(ctx, &req.group_id, operation::READ)?;
            let names = req.subscribed_topic_names.iter().flatten();
            names
                .into_iter()
                .try_for_each(|name| authz::topic(ctx, name, operation::DESCRIBE))?;
            if req.group_id.is_empty() {
                return Ok(());
            }
            check_coordinator(ctx, &req.group_id)
        })
        .map_err(GroupError::from)
        .and_then(|()| {
            // One group id space: a classic or consumer group's id is not a share group's.
            if other_kind_of_group(ctx, &req.group_id)
                && !ctx.cluster.shares.is_share_group(&req.group_id)
            {
                return Err(GroupError::new(
                    ResponseError::GroupIdNotFound,
                    format!("Group {} is not a share group.", &*req.group_id),
                ));
            }
            let request = ShareHeartbeat {
                member_id: req.member_id.to_string(),
                member_epoch: req.member_epoch,
                rack_id: req.rack_id.map(|s| s.to_string()),
                subscribed_topic_names: req
                    .subscribed_topic_names
                    .map(|names| names.iter().map(|n| n.to_string()).collect()),
                client_id: ctx.client_id().to_string(),
                client_host: ctx.client_host.clone(),
            };
            ctx.cluster.shares.heartbeat(
                &req.group_id,
                request,
                &topics_image(ctx),
                settings,
                Instant::now(),
            )
        });
    match result {
        Err(e) => ShareGroupHeartbeatResponse::default()
            .with_error_code(e.error.code())
            .with_error_message(e.message.map(text)),
        Ok(r) => ShareGroupHeartbeatResponse::default()
            .with_member_id(Some(text(r.member_id)))
            .with_member_epoch(r.member_epoch)
            .with_heartbeat_interval_ms(r.heartbeat_interval_ms)
            .with_assignment(r.assignment.map(heartbeat_assignment)),
    }
}

assignment_codecs!(heartbeat_response, describe_response);

/// Whether `group_id` names a classic or consumer group.
fn other_kind_of_group(ctx: &RequestContext, group_id: &str) -> bool {
    let groups = &ctx.cluster.groups;
    groups.is_consumer_group(group_id) || groups.describe(group_id).is_some()
}

pub fn describe(
    ctx: &RequestContext,
    req: ShareGroupDescribeRequest,
) -> ShareGroupDescribeResponse {
    let groups = req
        .group_ids
        .into_iter()
        .map(|group_id| {
            let described = DescribedGroup::default().with_group_id(group_id.clone());
            let checked =
                check_enabled(ctx).and_then(|()| check_group(ctx, &group_id, operation::DESCRIBE));
            if let Err(error) = checked {
                return described.with_error_code(error.code());
            }
            let operations =
                authz::group_operations(ctx, req.include_authorized_operations, &group_id);
            let described = described.with_authorized_operations(operations);
            let group = match ctx.cluster.shares.describe(&group_id, Instant::now()) {
                // One group id space: Kafka names a classic or consumer group's id as such.
                Err(e) if other_kind_of_group(ctx, &group_id) => {
                    return described
                        .with_error_code(e.error.code())
                        .with_error_message(Some(text(format!(
                            "Group {} is not a share group.",
                            &*group_id
                        ))))
                }
                Err(e) => {
                    return described
                        .with_error_code(e.error.code())
                        .with_error_message(e.message.map(text))
                }
                Ok(group) => group,
            };
            let members = group
                .members
                .into_iter()
                .map(|m| {
                    describe_response::Member::default()
                        .with_member_id(text(m.member_id))
                        .with_rack_id(m.rack_id.map(text))
                        .with_member_epoch(m.member_epoch)
                        .with_client_id(text(m.client_id))
                        .with_client_host(text(m.client_host))
                        .with_subscribed_topic_names(
                            m.subscribed_topic_names
                                .into_iter()
                                .map(|n| TopicName(text(n)))
                                .collect(),
                        )
                        .with_assignment(described_assignment(ctx, m.assignment))
                })
                .collect();
            described
                .with_group_state(text(group.state))
                .with_group_epoch(group.group_epoch)
                .with_assignment_epoch(group.assignment_epoch)
                .with_assignor_name(text(ASSIGNOR_NAME))
                .with_members(members)
        })
        .collect();
    ShareGroupDescribeResponse::default().with_groups(groups)
}

pub fn describe_offsets(
    ctx: &RequestContext,
    req: DescribeShareGroupOffsetsRequest,
) -> DescribeShareGroupOffsetsResponse {
    use describe_share_group_offsets_response::*;
    let groups = req
        .groups
        .into_iter()
        .map(|g| {
            let group =
                DescribeShareGroupOffsetsResponseGroup::default().with_group_id(g.group_id.clone());
            let checked = check_enabled(ctx)
                .and_then(|()| check_group(ctx, &g.group_id, operation::DESCRIBE));
            if let Err(error) = checked {
                return group.with_error_code(error.code());
            }
            let offsets = ctx
                .cluster
                .shares
                .start_offsets(&g.group_id)
                .unwrap_or_default();
            // Null topics: every share-partition the group has.
            let wanted: Vec<(String, Vec<i32>)> = match g.topics {
                Some(topics) => topics
                    .into_iter()
                    .map(|t| (t.topic_name.to_string(), t.partitions))
                    .collect(),
                None => {
                    let mut by_topic: std::collections::BTreeMap<String, Vec<i32>> =
                        Default::default();
                    for (topic_id, partition) in offsets.keys() {
                        if let Some(t) = ctx.cluster.topics.get_by_id(topic_id) {
                            by_topic.entry(t.name.clone()).or_default().push(*partition);
                        }
                    }
                    by_topic.into_iter().collect()
                }
            };
            let topics = wanted
                .into_iter()
                .filter(|(name, _)| authz::topic(ctx, name, operation::DESCRIBE).is_ok())
                .map(|(name, partitions)| {
                    let topic = ctx.cluster.topics.get(&name);
                    let topic_id = topic.as_ref().map(|t| t.id).unwrap_or_default();
                    let partitions = partitions
                        .into_iter()
                        .map(|p| {
                            let partition = DescribeShareGroupOffsetsResponsePartition::default()
                                .with_partition_index(p)
                                .with_leader_epoch(-1);
                            match &topic {
                                None => partition
                                    .with_start_offset(-1)
                                    .with_error_code(ResponseError::UnknownTopicOrPartition.code()),
                                Some(_) => partition.with_start_offset(
                                    offsets.get(&(topic_id, p)).copied().unwrap_or(-1),
                                ),
                            }
                        })
                        .collect();
                    DescribeShareGroupOffsetsResponseTopic::default()
                        .with_topic_name(TopicName(text(name)))
                        .with_topic_id(topic_id)
                        .with_partitions(partitions)
                })
                .collect();
            group.with_topics(topics)
        })
        .collect();
    DescribeShareGroupOffsetsResponse::default().with_groups(groups)
}

pub fn alter_offsets(
    ctx: &RequestContext,
    req: AlterShareGroupOffsetsRequest,
) -> AlterShareGroupOffsetsResponse {
    use alter_share_group_offsets_response::*;
    let fail = |error: ResponseError| {
        AlterShareGroupOffsetsResponse::default().with_error_code(error.code())
    };
    if let Err(error) =
        check_enabled(ctx).and_then(|()| check_group(ctx, &req.group_id, operation::READ))
    {
        return fail(error);
    }
    let mut offsets = Vec::new();
    let mut responses = Vec::new();
    for t in req.topics {
        let topic = ctx.cluster.topics.get(&t.topic_name);
        let denied = authz::topic(ctx, &t.topic_name, operation::READ).err();
        let partitions = t
            .partitions
            .iter()
            .map(|p| {
                let response = AlterShareGroupOffsetsResponsePartition::default()
                    .with_partition_index(p.partition_index);
                let error = match &topic {
                    _ if denied.is_some() => denied,
                    Some(topic) if topic.partition(p.partition_index).is_some() => {
                        offsets.push(((topic.id, p.partition_index), p.start_offset));
                        None
                    }
                    _ => Some(ResponseError::UnknownTopicOrPartition),
                };
                response.with_error_code(error.map_or(0, |e| e.code()))
            })
            .collect();
        responses.push(
            AlterShareGroupOffsetsResponseTopic::default()
                .with_topic_name(t.topic_name.clone())
                .with_topic_id(topic.map(|t| t.id).unwrap_or_default())
                .with_partitions(partitions),
        );
    }
    match ctx.cluster.shares.alter_offsets(&req.group_id, &offsets) {
        Err(error) => fail(error),
        Ok(()) => AlterShareGroupOffsetsResponse::default().with_responses(responses),
    }
}

pub fn delete_offsets(
    ctx: &RequestContext,
    req: DeleteShareGroupOffsetsRequest,
) -> DeleteShareGroupOffsetsResponse {
    use delete_share_group_offsets_response::*;
    let fail = |error: ResponseError| {
        DeleteShareGroupOffsetsResponse::default().with_error_code(error.code())
    };
    if let Err(error) =
        check_enabled(ctx).and_then(|()| check_group(ctx, &req.group_id, operation::DELETE))
    {
        return fail(error);
    }
    let mut keys = Vec::new();
    let responses = req
        .topics
        .iter()
        .map(|t| {
            let topic = ctx.cluster.topics.get(&t.topic_name);
            let response = DeleteShareGroupOffsetsResponseTopic::default()
                .with_topic_name(t.topic_name.clone())
                .with_topic_id(topic.as_ref().map(|t| t.id).unwrap_or_default());
            match topic {
                None => response.with_error_code(ResponseError::UnknownTopicOrPartition.code()),
                Some(topic) => {
                    keys.extend((0..topic.partition_count() as i32).map(|p| (topic.id, p)));
                    response
                }
            }
        })
        .collect();
    match ctx.cluster.shares.delete_offsets(&req.group_id, &keys) {
        Err(error) => fail(error),
        Ok(()) => DeleteShareGroupOffsetsResponse::default().with_responses(responses),
    }
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};

    use super::*;
    use crate::handlers::tests::{call, sample_request, test_cluster};

    #[test]
    fn a_share_group_id_is_refused_to_the_other_group_protocols() {
        let cluster = test_cluster(1);
        let joined = call(
            &cluster,
            ApiKey::ShareGroupHeartbeat,
            1,
            sample_request(ApiKey::ShareGroupHeartbeat, 1),
        );
        let ResponseKind::ShareGroupHeartbeat(joined) = joined else {
            panic!("{joined:?}")
        };
        assert_eq!((joined.error_code, joined.member_epoch), (0, 1));
        let consumer = sample_request(ApiKey::ConsumerGroupHeartbeat, 1);
        match call(&cluster, ApiKey::ConsumerGroupHeartbeat, 1, consumer) {
            ResponseKind::ConsumerGroupHeartbeat(r) => {
                assert_eq!(r.error_code, ResponseError::GroupIdNotFound.code());
                assert_eq!(
                    r.error_message.as_deref(),
                    Some("Group g is not a consumer group.")
                );
            }
            other => panic!("{other:?}"),
        }
        let join = RequestKind::JoinGroup(
            JoinGroupRequest::default()
                .with_group_id(GroupId(text("g")))
                .with_session_timeout_ms(10_000)
                .with_protocol_type(text("consumer")),
        );
        match call(&cluster, ApiKey::JoinGroup, 9, join) {
            ResponseKind::JoinGroup(r) => {
                assert_eq!(
                    r.error_code,
                    ResponseError::InconsistentGroupProtocol.code()
                )
            }
            other => panic!("{other:?}"),
        }
    }
}
