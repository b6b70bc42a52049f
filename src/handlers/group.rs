//! The classic group protocol: JoinGroup, SyncGroup, Heartbeat, LeaveGroup, and the group admin
//! APIs DescribeGroups, ListGroups, DeleteGroups (which also see consumer groups). The state
//! machine is `state::groups::group`.

use std::time::Duration;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{
    DeleteGroupsRequest, DeleteGroupsResponse, DescribeGroupsRequest, DescribeGroupsResponse,
    GroupId, HeartbeatRequest, HeartbeatResponse, JoinGroupRequest, JoinGroupResponse,
    LeaveGroupRequest, LeaveGroupResponse, ListGroupsRequest, ListGroupsResponse, SyncGroupRequest,
    SyncGroupResponse,
};
use kafka_protocol::protocol::StrBytes;
use tokio::sync::oneshot;

use super::authz::{self, operation, resource};
use super::RequestContext;
use crate::state::groups::group::{GroupState, JoinRequest, JoinResult, Reply, SyncResult};

fn text(s: impl Into<String>) -> StrBytes {
    StrBytes::from_string(s.into())
}

/// NOT_COORDINATOR when a group's requests reach a broker that does not coordinate it.
pub fn check_coordinator(ctx: &RequestContext, group_id: &str) -> Result<(), ResponseError> {
    if group_id.is_empty() {
        return Err(ResponseError::InvalidGroupId);
    }
    match ctx.cluster.coordinator_for(group_id) {
        Some(node) if node.node_id == ctx.broker_id => Ok(()),
        _ => Err(ResponseError::NotCoordinator),
    }
}

/// Waits for a parked request's answer; `None` if the broker is stopping or the request was
/// superseded (a newer join from the same member).
async fn parked<T>(ctx: &RequestContext, reply: Reply<T>) -> Result<T, ResponseError> {
    let rx: oneshot::Receiver<T> = match reply {
        Reply::Now(result) => return Ok(result),
        Reply::Later(rx) => rx,
    };
    let mut shutdown = ctx.shutdown.clone();
    tokio::select! {
        result = rx => result.map_err(|_| ResponseError::RebalanceInProgress),
        _ = shutdown.changed() => Err(ResponseError::CoordinatorNotAvailable),
    }
}

pub async fn join(ctx: &RequestContext, req: JoinGroupRequest) -> JoinGroupResponse {
    let version = ctx.version();
    let member_id = req.member_id.to_string();
    let checked = authz::group(ctx, &req.group_id, operation::READ)
        .and_then(|()| check_coordinator(ctx, &req.group_id));
    let result = match checked {
        Err(error) => Err(error),
        // A share group's id is not a classic group's (Kafka's answer, probed).
        Ok(()) if ctx.cluster.shares.is_share_group(&req.group_id) => {
            Err(ResponseError::InconsistentGroupProtocol)
        }
        Ok(()) => {
            let session_timeout = Duration::from_millis(req.session_timeout_ms.max(0) as u64);
            let request = JoinRequest {
                member_id: member_id.clone(),
                group_instance_id: req.group_instance_id.map(|s| s.to_string()),
                client_id: ctx.client_id().to_string(),
                client_host: ctx.client_host.clone(),
                session_timeout,
                // v0 has no rebalance timeout: the session timeout serves as both.
                rebalance_timeout: if version >= 1 {
                    Duration::from_millis(req.rebalance_timeout_ms.max(0) as u64)
                } else {
                    session_timeout
                },
                protocol_type: req.protocol_type.to_string(),
                protocols: req
                    .protocols
                    .into_iter()
                    .map(|p| (p.name.to_string(), p.metadata))
                    .collect(),
                require_known_member_id: version >= 4,
                supports_skip_assignment: version >= 9,
            };
            parked(ctx, ctx.cluster.groups.join(&req.group_id, request)).await
        }
    };
    let result = result.unwrap_or_else(|error| JoinResult {
        error: Some(error),
        generation_id: -1,
        protocol_type: None,
        protocol_name: None,
        leader: String::new(),
        member_id,
        skip_assignment: false,
        members: Vec::new(),
    });
    let members = result
        .members
        .into_iter()
        .map(|m| {
            JoinGroupResponseMember::default()
                .with_member_id(text(m.member_id))
                .with_group_instance_id(m.group_instance_id.map(text))
                .with_metadata(m.metadata)
        })
        .collect();
    // Before v7 the protocol name is not nullable.
    let protocol_name = match result.protocol_name {
        None if version < 7 => Some(StrBytes::default()),
        name => name.map(text),
    };
    JoinGroupResponse::default()
        .with_error_code(result.error.map_or(0, |e| e.code()))
        .with_generation_id(result.generation_id)
        .with_protocol_type(result.protocol_type.map(text))
        .with_protocol_name(protocol_name)
        .with_leader(text(result.leader))
        .with_skip_assignment(result.skip_assignment)
        .with_member_id(text(result.member_id))
        .with_members(members)
}

pub async fn sync(ctx: &RequestContext, req: SyncGroupRequest) -> SyncGroupResponse {
    // From v5 the protocol type and name are mandatory: Kafka refuses a request without them
    // before looking at the group.
    let mandatory_missing =
        ctx.version() >= 5 && (req.protocol_type.is_none() || req.protocol_name.is_none());
    let checked = if mandatory_missing {
        Err(ResponseError::InconsistentGroupProtocol)
    } else {
        authz::group(ctx, &req.group_id, operation::READ)
            .and_then(|()| check_coordinator(ctx, &req.group_id))
    };
    let result = match checked {
        Err(error) => Err(error),
        Ok(()) => {
            let assignments = req
                .assignments
                .into_iter()
                .map(|a| (a.member_id.to_string(), a.assignment))
                .collect();
            let reply = ctx.cluster.groups.sync(
                &req.group_id,
                &req.member_id,
                req.group_instance_id.as_deref(),
                req.generation_id,
                (req.protocol_type.as_deref(), req.protocol_name.as_deref()),
                assignments,
            );
            parked(ctx, reply).await
        }
    };
    let result = result.unwrap_or_else(|error| SyncResult {
        error: Some(error),
        protocol_type: None,
        protocol_name: None,
        assignment: Default::default(),
    });
    SyncGroupResponse::default()
        .with_error_code(result.error.map_or(0, |e| e.code()))
        .with_protocol_type(result.protocol_type.map(text))
        .with_protocol_name(result.protocol_name.map(text))
        .with_assignment(result.assignment)
}

pub fn heartbeat(ctx: &RequestContext, req: HeartbeatRequest) -> HeartbeatResponse {
    let routed = authz::group(ctx, &req.group_id, operation::READ)
        .and_then(|()| check_coordinator(ctx, &req.group_id));
    let result = routed.and_then(|()| {
        ctx.cluster.groups.heartbeat(
            &req.group_id,
            &req.member_id,
            req.group_instance_id.as_deref(),
            req.generation_id,
        )
    });
    HeartbeatResponse::default().with_error_code(result.err().map_or(0, |e| e.code()))
}

pub fn leave(ctx: &RequestContext, req: LeaveGroupRequest) -> LeaveGroupResponse {
    // v3+ names a batch of members; earlier versions the one sending it.
    let batched = ctx.version() >= 3;
    let members: Vec<(String, Option<String>)> = if batched {
        req.members
            .iter()
            .map(|m| {
                (
                    m.member_id.to_string(),
                    m.group_instance_id.as_ref().map(|s| s.to_string()),
                )
            })
            .collect()
    } else {
        vec![(req.member_id.to_string(), None)]
    };
    let results = authz::group(ctx, &req.group_id, operation::READ)
        .and_then(|()| check_coordinator(ctx, &req.group_id))
        .and_then(|()| ctx.cluster.groups.leave(&req.group_id, &members));
    match results {
        Err(error) => LeaveGroupResponse::default().with_error_code(error.code()),
        Ok(results) if !batched => {
            LeaveGroupResponse::default().with_error_code(results[0].err().map_or(0, |e| e.code()))
        }
        Ok(results) => LeaveGroupResponse::default().with_members(
            members
                .into_iter()
                .zip(results)
                .map(|((member_id, instance_id), result)| {
                    MemberResponse::default()
                        .with_member_id(text(member_id))
                        .with_group_instance_id(instance_id.map(text))
                        .with_error_code(result.err().map_or(0, |e| e.code()))
                })
                .collect(),
        ),
    }
}

pub fn describe(ctx: &RequestContext, req: DescribeGroupsRequest) -> DescribeGroupsResponse {
    let include_operations = ctx.version() >= 3 && req.include_authorized_operations;
    let groups = req
        .groups
        .into_iter()
        .map(|group_id| {
            let described = DescribedGroup::default().with_group_id(group_id.clone());
            let checked = authz::group(ctx, &group_id, operation::DESCRIBE)
                .and_then(|()| check_coordinator(ctx, &group_id));
            if let Err(error) = checked {
                return described.with_error_code(error.code());
            }
            let Some(group) = ctx.cluster.groups.describe(&group_id) else {
                // A group that is not a classic group is Dead to this API; v6 (KIP-1043) also
                // says why, with GROUP_ID_NOT_FOUND, where older versions carry no error.
                let dead = described.with_group_state(text(GroupState::Dead.name()));
                if ctx.version() < 6 {
                    return dead;
                }
                let message = if ctx.cluster.groups.is_consumer_group(&group_id) {
                    format!("Group {} is not a classic group.", group_id.as_str())
                } else {
                    format!("Group {} not found.", group_id.as_str())
                };
                return dead
                    .with_error_code(ResponseError::GroupIdNotFound.code())
                    .with_error_message(Some(StrBytes::from_string(message)));
            };
            // Kafka adds the group's authorized operations only to groups described without error.
            let operations = authz::group_operations(ctx, include_operations, &group_id);
            let described = described.with_authorized_operations(operations);
            // Member metadata and assignments are only meaningful once the group is Stable.
            let stable = group.state == GroupState::Stable;
            let members = group
                .members
                .into_iter()
                .map(|m| {
                    let member = DescribedGroupMember::default()
                        .with_member_id(text(m.member_id))
                        .with_group_instance_id(m.group_instance_id.map(text))
                        .with_client_id(text(m.client_id))
                        .with_client_host(text(m.client_host));
                    if stable {
                        member
                            .with_member_metadata(m.metadata)
                            .with_member_assignment(m.assignment)
                    } else {
                        member
                    }
                })
                .collect();
            described
                .with_group_state(text(group.state.name()))
                .with_protocol_type(text(group.protocol_type))
                .with_protocol_data(text(group.protocol_name))
                .with_members(members)
        })
        .collect();
    DescribeGroupsResponse::default().with_groups(groups)
}

pub fn list(ctx: &RequestContext, req: ListGroupsRequest) -> ListGroupsResponse {
    let version = ctx.version();
    let states: Vec<String> = req.states_filter.iter().map(|s| s.to_lowercase()).collect();
    // Types by Kafka's names, case-insensitively; an unknown type matches no group.
    let types: Vec<String> = req.types_filter.iter().map(|t| t.to_lowercase()).collect();
    // (group id, protocol type, state, group type)
    let classic = ctx
        .cluster
        .groups
        .list()
        .into_iter()
        .map(|(id, protocol, state)| (id, protocol, state.name(), "classic"));
    let consumer = ctx
        .cluster
        .groups
        .list_consumer_groups()
        .into_iter()
        .map(|(id, state)| (id, "consumer".to_string(), state.name(), "consumer"));
    let share = ctx
        .cluster
        .shares
        .list(std::time::Instant::now())
        .into_iter()
        .map(|(id, state)| (id, "share".to_string(), state, "share"));
    let mut all: Vec<_> = classic.chain(consumer).chain(share).collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    // DESCRIBE on the cluster lists every group; otherwise only the groups it may describe.
    let sees_all = authz::allowed(
        ctx,
        resource::CLUSTER,
        authz::CLUSTER_NAME,
        operation::DESCRIBE,
    );
    all.retain(|(group_id, ..)| {
        sees_all || authz::allowed(ctx, resource::GROUP, group_id, operation::DESCRIBE)
    });
    let groups = all
        .into_iter()
        .filter(|(group_id, ..)| {
            ctx.cluster
                .coordinator_for(group_id)
                .is_some_and(|n| n.node_id == ctx.broker_id)
        })
        .filter(|(_, _, state, _)| states.is_empty() || states.contains(&state.to_lowercase()))
        .filter(|(_, _, _, group_type)| types.is_empty() || types.iter().any(|t| t == group_type))
        .map(|(group_id, protocol_type, state, group_type)| {
            let listed = ListedGroup::default()
                .with_group_id(GroupId(text(group_id)))
                .with_protocol_type(text(protocol_type));
            let listed = if version >= 4 {
                listed.with_group_state(text(state))
            } else {
                listed
            };
            if version >= 5 {
                listed.with_group_type(text(group_type))
            } else {
                listed
            }
        })
        .collect();
    ListGroupsResponse::default().with_groups(groups)
}

pub fn delete(ctx: &RequestContext, req: DeleteGroupsRequest) -> DeleteGroupsResponse {
    let results = req
        .groups_names
        .into_iter()
        .map(|group_id| {
            let result = authz::group(ctx, &group_id, operation::DELETE)
                .and_then(|()| check_coordinator(ctx, &group_id))
                .and_then(|()| match ctx.cluster.shares.delete(&group_id) {
                    Some(deleted) => deleted,
                    None => ctx.cluster.groups.delete(&group_id),
                });
            DeletableGroupResult::default()
                .with_group_id(group_id)
                .with_error_code(result.err().map_or(0, |e| e.code()))
        })
        .collect();
    DeleteGroupsResponse::default().with_results(results)
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};

    use super::*;
    use crate::handlers::tests::{call, test_cluster};

    #[test]
    fn an_unknown_group_is_dead_and_from_v6_not_found() {
        let cluster = test_cluster(1);
        let described = |version: i16| {
            let req = DescribeGroupsRequest::default()
                .with_groups(vec![GroupId(text("missing"))])
                .with_include_authorized_operations(true);
            match call(
                &cluster,
                ApiKey::DescribeGroups,
                version,
                RequestKind::DescribeGroups(req),
            ) {
                ResponseKind::DescribeGroups(r) => r.groups[0].clone(),
                other => panic!("{other:?}"),
            }
        };
        let old = described(5);
        assert_eq!((old.error_code, old.group_state.as_str()), (0, "Dead"));
        let new = described(6);
        assert_eq!(
            (new.error_code, new.group_state.as_str()),
            (ResponseError::GroupIdNotFound.code(), "Dead")
        );
        assert_eq!(
            new.error_message.as_deref(),
            Some("Group missing not found.")
        );
        assert_eq!(new.authorized_operations, i32::MIN, "left out on error");
    }
}
