//! The KRaft quorum APIs (KIP-595, KIP-853): DescribeQuorum, AddRaftVoter, RemoveRaftVoter.
//! Every broker is a voter of a static quorum led by the active controller (`state::quorum`).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_quorum_response::{
    Listener, Node, PartitionData, ReplicaState, TopicData,
};
use kafka_protocol::messages::{
    AddRaftVoterRequest, AddRaftVoterResponse, BrokerId, DescribeQuorumRequest,
    DescribeQuorumResponse, RemoveRaftVoterRequest, RemoveRaftVoterResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::authz::{self, operation};
use super::RequestContext;

/// The metadata log's topic and its one partition.
const METADATA_TOPIC: &str = "__cluster_metadata";
/// The listener name Kafka's controllers listen on by default.
const CONTROLLER_LISTENER: &str = "CONTROLLER";

pub fn describe_quorum(ctx: &RequestContext, req: DescribeQuorumRequest) -> DescribeQuorumResponse {
    let version = ctx.version();
    if let Err(error) = authz::cluster(ctx, operation::DESCRIBE) {
        return DescribeQuorumResponse::default().with_error_code(error.code());
    }
    // Only the metadata log's partition 0 has a quorum; anything else is unknown, per partition.
    let names_the_metadata_log = req.topics.len() == 1
        && req.topics[0].topic_name.as_str() == METADATA_TOPIC
        && req.topics[0].partitions.len() == 1
        && req.topics[0].partitions[0].partition_index == 0;
    if !names_the_metadata_log {
        let topics = req
            .topics
            .iter()
            .map(|t| {
                TopicData::default()
                    .with_topic_name(t.topic_name.clone())
                    .with_partitions(
                        t.partitions
                            .iter()
                            .map(|p| {
                                PartitionData::default()
                                    .with_partition_index(p.partition_index)
                                    .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                            })
                            .collect(),
                    )
            })
            .collect();
        return DescribeQuorumResponse::default().with_topics(topics);
    }
    let brokers = ctx.cluster.all_brokers();
    let voters: Vec<(i32, bool)> = brokers.iter().map(|b| (b.node_id, b.alive)).collect();
    let quorum =
        ctx.cluster
            .quorum
            .describe(&voters, ctx.cluster.controller_id(), crate::state::now_ms());
    let partition = PartitionData::default()
        .with_leader_id(BrokerId(quorum.leader_id))
        .with_leader_epoch(quorum.leader_epoch)
        .with_high_watermark(quorum.high_watermark)
        .with_current_voters(
            quorum
                .voters
                .iter()
                .map(|v| {
                    let state = ReplicaState::default()
                        .with_replica_id(BrokerId(v.replica_id))
                        .with_log_end_offset(v.log_end_offset);
                    // The timestamps came with v1 (KIP-836).
                    if version >= 1 {
                        state
                            .with_last_fetch_timestamp(v.last_fetch_timestamp)
                            .with_last_caught_up_timestamp(v.last_caught_up_timestamp)
                    } else {
                        state
                    }
                })
                .collect(),
        );
    // A combined node's broker is its voter: no observers. A static quorum's voters have no
    // directory id (the nil one). v2 lists the voters' controller endpoints (KIP-853); the
    // emulator's controllers are its brokers, reached at their address on this listener.
    let nodes = if version >= 2 {
        brokers
            .iter()
            .filter_map(|b| {
                let endpoint = b.endpoint(&ctx.listener).or(b.endpoints.first())?;
                Some(
                    Node::default()
                        .with_node_id(BrokerId(b.node_id))
                        .with_listeners(vec![Listener::default()
                            .with_name(StrBytes::from_static_str(CONTROLLER_LISTENER))
                            .with_host(StrBytes::from_string(endpoint.host.clone()))
                            .with_port(endpoint.port)]),
                )
            })
            .collect()
    } else {
        Vec::new()
    };
    DescribeQuorumResponse::default()
        .with_topics(vec![TopicData::default()
            .with_topic_name(TopicName(StrBytes::from_static_str(METADATA_TOPIC)))
            .with_partitions(vec![partition])])
        .with_nodes(nodes)
}

/// Why a voter change fails: a static quorum (`kraft.version` 0) cannot change its voters
/// (KIP-853); a request naming another cluster is refused first.
fn refuse_voter_change(
    ctx: &RequestContext,
    cluster_id: Option<&StrBytes>,
    voter: (i32, uuid::Uuid),
    change: &str,
) -> (ResponseError, Option<String>) {
    if let Err(error) = authz::cluster(ctx, operation::ALTER) {
        return (error, None);
    }
    if cluster_id.is_some_and(|id| id.as_str() != ctx.cluster.cluster_id) {
        return (ResponseError::InconsistentClusterId, None);
    }
    // As Kafka's raft client: a voter is a node id and a directory id, checked before the
    // quorum's kind.
    if voter.0 < 0 || voter.1.is_nil() {
        let request = if change == "adding" { "Add" } else { "Remove" };
        return (
            ResponseError::InvalidRequest,
            Some(format!(
                "{request} voter request didn't include a valid voter"
            )),
        );
    }
    (
        ResponseError::UnsupportedVersion,
        Some(format!(
            "Cluster doesn't support {change} voter because the kraft.version feature is 0"
        )),
    )
}

pub fn add_raft_voter(ctx: &RequestContext, req: AddRaftVoterRequest) -> AddRaftVoterResponse {
    let (error, message) = refuse_voter_change(
        ctx,
        req.cluster_id.as_ref(),
        (req.voter_id, req.voter_directory_id),
        "adding",
    );
    AddRaftVoterResponse::default()
        .with_error_code(error.code())
        .with_error_message(message.map(StrBytes::from_string))
}

pub fn remove_raft_voter(
    ctx: &RequestContext,
    req: RemoveRaftVoterRequest,
) -> RemoveRaftVoterResponse {
    let (error, message) = refuse_voter_change(
        ctx,
        req.cluster_id.as_ref(),
        (req.voter_id, req.voter_directory_id),
        "removing",
    );
    RemoveRaftVoterResponse::default()
        .with_error_code(error.code())
        .with_error_message(message.map(StrBytes::from_string))
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::describe_quorum_request;
    use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};

    use super::*;
    use crate::handlers::tests::{call, test_cluster};

    fn metadata_log() -> DescribeQuorumRequest {
        DescribeQuorumRequest::default().with_topics(vec![
            describe_quorum_request::TopicData::default()
                .with_topic_name(TopicName(StrBytes::from_static_str(METADATA_TOPIC)))
                .with_partitions(vec![describe_quorum_request::PartitionData::default()]),
        ])
    }

    fn describe(
        cluster: &std::sync::Arc<crate::state::Cluster>,
        req: DescribeQuorumRequest,
    ) -> DescribeQuorumResponse {
        match call(
            cluster,
            ApiKey::DescribeQuorum,
            2,
            RequestKind::DescribeQuorum(req),
        ) {
            ResponseKind::DescribeQuorum(r) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_broker_is_a_voter_and_the_controller_leads() {
        let cluster = test_cluster(3);
        cluster.stop_broker(0).unwrap();
        let r = describe(&cluster, metadata_log());
        let p = &r.topics[0].partitions[0];
        assert_eq!(p.error_code, 0);
        assert_eq!(p.leader_id.0, 1);
        assert_eq!(p.leader_epoch, 1);
        let voters: Vec<i32> = p.current_voters.iter().map(|v| v.replica_id.0).collect();
        assert_eq!(voters, vec![0, 1, 2]);
        assert!(p.observers.is_empty());
        // Broker 0 stopped before the quorum was first described: nothing known of it.
        assert_eq!(p.current_voters[0].log_end_offset, -1);
        assert_eq!(p.current_voters[1].log_end_offset, p.high_watermark);
        assert_eq!(r.nodes.len(), 3);
        assert_eq!(r.nodes[1].listeners[0].port, 9093);
    }

    #[test]
    fn another_partition_is_unknown() {
        let cluster = test_cluster(1);
        let mut req = metadata_log();
        req.topics[0].partitions[0].partition_index = 1;
        let r = describe(&cluster, req);
        assert_eq!(
            r.topics[0].partitions[0].error_code,
            ResponseError::UnknownTopicOrPartition.code()
        );
    }

    #[test]
    fn a_static_quorum_refuses_voter_changes() {
        let cluster = test_cluster(1);
        let r = match call(
            &cluster,
            ApiKey::AddRaftVoter,
            0,
            RequestKind::AddRaftVoter(
                AddRaftVoterRequest::default()
                    .with_cluster_id(None)
                    .with_voter_id(3)
                    .with_voter_directory_id(uuid::Uuid::from_u128(1)),
            ),
        ) {
            ResponseKind::AddRaftVoter(r) => r,
            other => panic!("{other:?}"),
        };
        assert_eq!(r.error_code, ResponseError::UnsupportedVersion.code());
        // A voter without a directory id is not a voter, whatever the quorum.
        match call(
            &cluster,
            ApiKey::AddRaftVoter,
            0,
            RequestKind::AddRaftVoter(
                AddRaftVoterRequest::default()
                    .with_cluster_id(None)
                    .with_voter_id(3),
            ),
        ) {
            ResponseKind::AddRaftVoter(r) => {
                assert_eq!(r.error_code, ResponseError::InvalidRequest.code());
                assert_eq!(
                    r.error_message.as_deref(),
                    Some("Add voter request didn't include a valid voter")
                );
            }
            other => panic!("{other:?}"),
        }
        let other_cluster = RemoveRaftVoterRequest::default()
            .with_cluster_id(Some(StrBytes::from_static_str("elsewhere")));
        match call(
            &cluster,
            ApiKey::RemoveRaftVoter,
            0,
            RequestKind::RemoveRaftVoter(other_cluster),
        ) {
            ResponseKind::RemoveRaftVoter(r) => {
                assert_eq!(r.error_code, ResponseError::InconsistentClusterId.code())
            }
            other => panic!("{other:?}"),
        }
    }
}
