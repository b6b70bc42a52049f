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
