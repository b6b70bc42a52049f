//! The consumer group protocol (KIP-848): ConsumerGroupHeartbeat and ConsumerGroupDescribe. The
//! state machine is `state::groups::consumer_group`; the group id space shared with classic groups is
//! `state::groups::consumer_coordinator`.

use std::collections::BTreeSet;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::consumer_group_describe_response::{
    self as describe_response, DescribedGroup,
};
use kafka_protocol::messages::consumer_group_heartbeat_response as heartbeat_response;
use kafka_protocol::messages::{
    ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, ConsumerGroupHeartbeatRequest,
    ConsumerGroupHeartbeatResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::authz::{self, operation};
use super::group::check_coordinator;
use super::RequestContext;
use crate::state::groups::assignor::Assignment;
use crate::state::groups::consumer_group::{GroupError, HeartbeatRequest, TopicsImage};

/// ConsumerGroupDescribe v1 `member_type` of a member using the consumer protocol (KIP-1099).
const MEMBER_TYPE_CONSUMER: i8 = 1;

fn text(s: impl Into<String>) -> StrBytes {
    StrBytes::from_string(s.into())
}

/// Every topic by name, with its id and partition count: what subscriptions resolve against.
pub(super) fn topics_image(ctx: &RequestContext) -> TopicsImage {
    ctx.cluster
        .topics
        .all()
        .into_iter()
        .map(|t| (t.name.clone(), (t.id, t.partition_count() as i32)))
        .collect()
}

pub fn heartbeat(
    ctx: &RequestContext,
    req: ConsumerGroupHeartbeatRequest,
) -> ConsumerGroupHeartbeatResponse {
    // A member needs READ on its group, and may only subscribe to topics it may describe.
    let authorized = authz::group(ctx, &req.group_id, operation::READ).and_then(|()| {
        let names = req.subscribed_topic_names.iter().flatten();
        names
            .into_iter()
            .try_for_each(|name| authz::topic(ctx, name, operation::DESCRIBE))
    });
    // An empty group id is INVALID_REQUEST, found by the request checks.
    let routed = match authorized {
        Err(error) => Err(GroupError::from(error)),
        Ok(()) if req.group_id.is_empty() => Ok(()),
        Ok(()) => check_coordinator(ctx, &req.group_id).map_err(GroupError::from),
    };
    // A share group's id is not a consumer group's (Kafka's answer, probed).
    let routed = routed.and_then(
        |()| match ctx.cluster.shares.is_share_group(&req.group_id) {
            true => Err(GroupError::new(
                ResponseError::GroupIdNotFound,
                format!("Group {} is not a consumer group.", &*req.group_id),
            )),
            false => Ok(()),
        },
    );
    let result = routed.and_then(|()| {
        let owned_partitions = req.topic_partitions.map(|topics| {
            let mut owned = Assignment::new();
            for t in topics {
                owned
                    .entry(t.topic_id)
                    .or_default()
                    .extend(t.partitions.iter().copied());
            }
            owned
        });
        let request = HeartbeatRequest {
            member_id: req.member_id.to_string(),
            member_epoch: req.member_epoch,
            instance_id: req.instance_id.map(|s| s.to_string()),
            rack_id: req.rack_id.map(|s| s.to_string()),
            rebalance_timeout_ms: req.rebalance_timeout_ms,
            subscribed_topic_names: req
                .subscribed_topic_names
                .map(|names| names.iter().map(|n| n.to_string()).collect()),
            subscribed_topic_regex: req.subscribed_topic_regex.map(|s| s.to_string()),
            server_assignor: req.server_assignor.map(|s| s.to_string()),
            owned_partitions,
            client_id: ctx.client_id().to_string(),
            client_host: ctx.client_host.clone(),
        };
        ctx.cluster.groups.consumer_heartbeat(
            &req.group_id,
            request,
            ctx.version(),
            &topics_image(ctx),
        )
    });
    match result {
        Err(e) => ConsumerGroupHeartbeatResponse::default()
            .with_error_code(e.error.code())
            .with_error_message(e.message.map(text)),
        Ok(r) => ConsumerGroupHeartbeatResponse::default()
            .with_member_id(Some(text(r.member_id)))
            .with_member_epoch(r.member_epoch)
            .with_heartbeat_interval_ms(r.heartbeat_interval_ms)
            .with_assignment(r.assignment.map(heartbeat_assignment)),
    }
}

/// The assignment codecs of a group protocol's Heartbeat and Describe responses, whose types are
/// alike (ConsumerGroup*, ShareGroup*): `heartbeat_assignment` gives a member its partitions by
/// topic id, `described_assignment` by id and name (topics deleted since are left out, as Kafka
/// does).
macro_rules! assignment_codecs {
    ($heartbeat:ident, $describe:ident) => {
        fn heartbeat_assignment(
            a: $crate::state::groups::assignor::Assignment,
        ) -> $heartbeat::Assignment {
            $heartbeat::Assignment::default().with_topic_partitions(
                a.into_iter()
                    .map(|(topic_id, partitions)| {
                        $heartbeat::TopicPartitions::default()
                            .with_topic_id(topic_id)
                            .with_partitions(partitions.into_iter().collect())
                    })
                    .collect(),
            )
        }

        fn described_assignment(
            ctx: &RequestContext,
            a: $crate::state::groups::assignor::Assignment,
        ) -> $describe::Assignment {
            $describe::Assignment::default().with_topic_partitions(
                a.into_iter()
                    .filter_map(|(topic_id, partitions)| {
                        let topic = ctx.cluster.topics.get_by_id(&topic_id)?;
                        let name =
                            kafka_protocol::protocol::StrBytes::from_string(topic.name.clone());
                        Some(
                            $describe::TopicPartitions::default()
                                .with_topic_id(topic_id)
                                .with_topic_name(kafka_protocol::messages::TopicName(name))
                                .with_partitions(partitions.into_iter().collect()),
                        )
                    })
                    .collect(),
            )
        }
    };
}
pub(super) use assignment_codecs;

assignment_codecs!(heartbeat_response, describe_response);

pub fn describe(
    ctx: &RequestContext,
    req: ConsumerGroupDescribeRequest,
) -> ConsumerGroupDescribeResponse {
    let version = ctx.version();
    let include_operations = req.include_authorized_operations;
    let groups = req
        .group_ids
        .into_iter()
        .map(|group_id| {
            let described = DescribedGroup::default().with_group_id(group_id.clone());
            let checked = authz::group(ctx, &group_id, operation::DESCRIBE)
                .and_then(|()| check_coordinator(ctx, &group_id));
            if let Err(error) = checked {
                return described.with_error_code(error.code());
            }
            let operations = authz::group_operations(ctx, include_operations, &group_id);
            let described = described.with_authorized_operations(operations);
            let group = match ctx.cluster.groups.consumer_describe(&group_id) {
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
                    let names: BTreeSet<String> = m.subscribed_topic_names.into_iter().collect();
                    let member = describe_response::Member::default()
                        .with_member_id(text(m.member_id))
                        .with_instance_id(m.instance_id.map(text))
                        .with_rack_id(m.rack_id.map(text))
                        .with_member_epoch(m.member_epoch)
                        .with_client_id(text(m.client_id))
                        .with_client_host(text(m.client_host))
                        .with_subscribed_topic_names(
                            names.into_iter().map(|n| TopicName(text(n))).collect(),
                        )
                        .with_subscribed_topic_regex(Some(text(m.subscribed_topic_regex.unwrap_or_default())))
                        .with_assignment(described_assignment(ctx, m.assignment))
                        .with_target_assignment(described_assignment(ctx, m.target_assignment));
                    if version >= 1 {
                        member.with_member_type(MEMBER_TYPE_CONSUMER)
                    } else {
                        member
                    }
                })
                .collect::<Vec<_>>();
            // Clients may not learn of topics they may not describe through a group's members.
            let hidden = members.iter().any(|m| {
                let assigned = [&m.assignment, &m.target_assignment]
                    .into_iter()
                    .flat_map(|a| a.topic_partitions.iter().map(|t| &t.topic_name));
                m.subscribed_topic_names
                    .iter()
                    .chain(assigned)
                    .any(|name| authz::topic(ctx, name, operation::DESCRIBE).is_err())
            });
            if hidden {
                return described
                    .with_error_code(ResponseError::TopicAuthorizationFailed.code())
                    .with_error_message(Some(text(
                        "The group has described topic(s) that the client is not authorized to describe.",
                    )));
            }
            described
                .with_group_state(text(group.state.name()))
                .with_group_epoch(group.group_epoch)
                .with_assignment_epoch(group.assignment_epoch)
                .with_assignor_name(text(group.assignor_name))
                .with_members(members)
        })
        .collect();
    ConsumerGroupDescribeResponse::default().with_groups(groups)
}
