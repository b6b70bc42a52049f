//! FindCoordinator: which broker coordinates a group or a transactional id.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

use super::authz::{self, operation};
use super::RequestContext;

/// Coordinator key types.
const GROUP: i8 = 0;
const TRANSACTION: i8 = 1;
/// KIP-932: the share coordinator of a share partition, keyed `group:topic id:partition`.
const SHARE: i8 = 2;

pub fn handle(ctx: &RequestContext, req: FindCoordinatorRequest) -> FindCoordinatorResponse {
    if ctx.version() >= 4 {
        // v4+ batches keys; each gets its own answer.
        let coordinators = req
            .coordinator_keys
            .into_iter()
            .map(|key| {
                let found = find(ctx, &key, req.key_type);
                let coordinator = Coordinator::default().with_key(key);
                match found {
                    Ok((node_id, host, port)) => coordinator
                        .with_node_id(BrokerId(node_id))
                        .with_host(host)
                        .with_port(port),
                    Err(error) => coordinator
                        .with_node_id(BrokerId(-1))
                        .with_port(-1)
                        .with_error_code(error.code()),
                }
            })
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    // v1-v3's error message is the error's own, as Kafka writes it: `NONE` on success (v4+
    // leaves each coordinator's at '').
    match find(ctx, &req.key, req.key_type) {
        Ok((node_id, host, port)) => FindCoordinatorResponse::default()
            .with_error_message(Some(StrBytes::from_static_str("NONE")))
            .with_node_id(BrokerId(node_id))
            .with_host(host)
            .with_port(port),
        Err(error) => FindCoordinatorResponse::default()
            .with_error_code(error.code())
            .with_error_message(Some(StrBytes::from_string(error.to_string())))
            .with_node_id(BrokerId(-1))
            .with_port(-1),
    }
}

fn find(
    ctx: &RequestContext,
    key: &str,
    key_type: i8,
) -> Result<(i32, StrBytes, i32), ResponseError> {
    match key_type {
        GROUP => authz::group(ctx, key, operation::DESCRIBE)?,
        TRANSACTION => authz::transactional_id(ctx, key, operation::DESCRIBE)?,
        // Share keys exist from v6 on, asked by brokers (CLUSTER_ACTION) for their share
        // partitions' state, with Kafka's checks. The share coordinator is placed like a group
        // coordinator; without share groups (`share.version` 0) there is none.
        SHARE if ctx.version() >= 6 => {
            authz::cluster(ctx, operation::CLUSTER_ACTION)?;
            if !is_share_partition_key(key) {
                return Err(ResponseError::InvalidRequest);
            }
            if !ctx.cluster.features.share_groups_enabled() {
                return Err(ResponseError::CoordinatorNotAvailable);
            }
        }
        _ => return Err(ResponseError::InvalidRequest),
    }
    // Given at its address on the listener this request came through.
    let node = ctx
        .cluster
        .coordinator_for(key)
        .and_then(|node| ctx.cluster.endpoint(node.node_id, &ctx.listener))
        .ok_or(ResponseError::CoordinatorNotAvailable)?;
    Ok((
        node.node_id,
        StrBytes::from_string(node.host),
        node.port as i32,
    ))
}

/// `group:topic id:partition`, as Kafka's `SharePartitionKey.validate` accepts it.
fn is_share_partition_key(key: &str) -> bool {
    use base64::Engine;
    let parts: Vec<&str> = key.split(':').collect();
    let [group, topic_id, partition] = parts[..] else {
        return false;
    };
    let topic_id = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(topic_id);
    !group.trim().is_empty()
        && topic_id.is_ok_and(|id| id.len() == 16)
        && partition.parse::<i32>().is_ok()
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};

    use super::*;
    use crate::handlers::tests::{call, test_cluster};

    fn find_share(version: i16, key: &'static str) -> i16 {
        let req = FindCoordinatorRequest::default()
            .with_key_type(SHARE)
            .with_coordinator_keys(vec![StrBytes::from_static_str(key)]);
        match call(
            &test_cluster(1),
            ApiKey::FindCoordinator,
            version,
            RequestKind::FindCoordinator(req),
        ) {
            ResponseKind::FindCoordinator(r) => r.coordinators[0].error_code,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn share_keys_are_checked_and_name_a_coordinator() {
        let valid = "g:AAAAAAAAAAAAAAAAAAAAAQ:0";
        assert_eq!(find_share(5, valid), ResponseError::InvalidRequest.code());
        assert_eq!(find_share(6, valid), 0);
        for bad in [
            "g",
            "g:AAAAAAAAAAAAAAAAAAAAAQ",
            " :AAAAAAAAAAAAAAAAAAAAAQ:0",
            "g:x:0",
            "g:AAAAAAAAAAAAAAAAAAAAAQ:p",
        ] {
            assert_eq!(
                find_share(6, bad),
                ResponseError::InvalidRequest.code(),
                "{bad}"
            );
        }
    }
}
