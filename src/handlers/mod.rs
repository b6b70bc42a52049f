//! Request handlers, one file per Kafka API area: each turns a decoded request and the cluster
//! state into a response. No socket code here; no codecs either.

mod api_versions;
mod fetch;
mod find_coordinator;
mod group;
mod list_offsets;
mod metadata;
mod offsets;
mod produce;
mod topics;

use std::sync::Arc;

use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseKind};
use tokio::sync::watch;

use crate::state::Cluster;

pub use api_versions::unsupported_version_response;

/// The APIs this broker implements and the versions of each, advertised by ApiVersions.
/// A version appears here only once it is implemented and tested.
pub const SUPPORTED_APIS: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 9),
    (ApiKey::Fetch, 4, 13),
    (ApiKey::ListOffsets, 1, 8),
    (ApiKey::Metadata, 0, 12),
    (ApiKey::ApiVersions, 0, 3),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::DeleteTopics, 1, 6),
    (ApiKey::FindCoordinator, 0, 5),
    (ApiKey::JoinGroup, 0, 9),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::OffsetCommit, 2, 9),
    (ApiKey::OffsetFetch, 1, 9),
    (ApiKey::DescribeGroups, 0, 5),
    (ApiKey::ListGroups, 0, 5),
    (ApiKey::DeleteGroups, 0, 2),
    (ApiKey::OffsetDelete, 0, 0),
];

pub fn supported_versions(api_key: ApiKey) -> Option<(i16, i16)> {
    SUPPORTED_APIS
        .iter()
        .find(|(key, _, _)| *key == api_key)
        .map(|&(_, min, max)| (min, max))
}

/// What a handler knows about the request beyond its body: which broker of the cluster received
/// it, from which client, at which version.
pub struct RequestContext {
    pub cluster: Arc<Cluster>,
    pub broker_id: i32,
    pub header: RequestHeader,
    /// The client's address as Kafka reports it in DescribeGroups (`/127.0.0.1`).
    pub client_host: String,
    /// Flips to true when the broker stops, so long-polls answer at once.
    pub shutdown: watch::Receiver<bool>,
}

impl RequestContext {
    pub fn version(&self) -> i16 {
        self.header.request_api_version
    }

    pub fn client_id(&self) -> &str {
        self.header.client_id.as_deref().unwrap_or_default()
    }
}

/// Serves one request. `None` means no response is sent (a produce with acks=0).
pub async fn handle(ctx: &RequestContext, body: RequestKind) -> Option<ResponseKind> {
    let response = match body {
        RequestKind::ApiVersions(req) => ResponseKind::ApiVersions(api_versions::handle(ctx, req)),
        RequestKind::Metadata(req) => ResponseKind::Metadata(metadata::handle(ctx, req)),
        RequestKind::CreateTopics(req) => ResponseKind::CreateTopics(topics::create(ctx, req)),
        RequestKind::DeleteTopics(req) => ResponseKind::DeleteTopics(topics::delete(ctx, req)),
        RequestKind::Produce(req) => ResponseKind::Produce(produce::handle(ctx, req)?),
        RequestKind::Fetch(req) => ResponseKind::Fetch(fetch::handle(ctx, req).await),
        RequestKind::ListOffsets(req) => ResponseKind::ListOffsets(list_offsets::handle(ctx, req)),
        RequestKind::FindCoordinator(req) => {
            ResponseKind::FindCoordinator(find_coordinator::handle(ctx, req))
        }
        RequestKind::JoinGroup(req) => ResponseKind::JoinGroup(group::join(ctx, req).await),
        RequestKind::SyncGroup(req) => ResponseKind::SyncGroup(group::sync(ctx, req).await),
        RequestKind::Heartbeat(req) => ResponseKind::Heartbeat(group::heartbeat(ctx, req)),
        RequestKind::LeaveGroup(req) => ResponseKind::LeaveGroup(group::leave(ctx, req)),
        RequestKind::DescribeGroups(req) => ResponseKind::DescribeGroups(group::describe(ctx, req)),
        RequestKind::ListGroups(req) => ResponseKind::ListGroups(group::list(ctx, req)),
        RequestKind::DeleteGroups(req) => ResponseKind::DeleteGroups(group::delete(ctx, req)),
        RequestKind::OffsetCommit(req) => ResponseKind::OffsetCommit(offsets::commit(ctx, req)),
        RequestKind::OffsetFetch(req) => ResponseKind::OffsetFetch(offsets::fetch(ctx, req)),
        RequestKind::OffsetDelete(req) => ResponseKind::OffsetDelete(offsets::delete(ctx, req)),
        // decode_request only decodes the APIs in SUPPORTED_APIS.
        _ => unreachable!("request for an API that is not advertised"),
    };
    Some(response)
}
