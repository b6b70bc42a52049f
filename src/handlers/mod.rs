//! Request handlers, one file per Kafka API area: each turns a decoded request and the cluster
//! state into a response. No socket code here; no codecs either.

mod acls;
mod api_versions;
mod authz;
mod cluster;
mod configs;
mod consumer_group;
mod delegation_tokens;
pub mod error_response;
mod features;
mod fetch;
mod find_coordinator;
mod group;
pub mod intercept;
mod list_offsets;
mod metadata;
mod offsets;
mod partitions;
mod produce;
mod quorum;
mod quotas;
mod records;
pub mod sasl;
mod share_fetch;
mod share_group;
mod topics;
mod txn;

use std::sync::Arc;

use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseKind};
use tokio::sync::watch;

use crate::state::Cluster;

pub use api_versions::unsupported_version_response;

/// The APIs this broker implements and the versions of each, advertised by ApiVersions.
/// A version appears here only once it is implemented and tested.
pub const SUPPORTED_APIS: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 13),
    (ApiKey::Fetch, 4, 18),
    (ApiKey::ListOffsets, 1, 10),
    (ApiKey::Metadata, 0, 13),
    (ApiKey::SaslHandshake, 0, 1),
    (ApiKey::ApiVersions, 0, 4),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::DeleteTopics, 1, 6),
    (ApiKey::FindCoordinator, 0, 6),
    (ApiKey::JoinGroup, 0, 9),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::OffsetCommit, 2, 9),
    (ApiKey::OffsetFetch, 1, 9),
    (ApiKey::DescribeGroups, 0, 6),
    (ApiKey::ListGroups, 0, 5),
    (ApiKey::DeleteGroups, 0, 2),
    (ApiKey::OffsetDelete, 0, 0),
    (ApiKey::CreatePartitions, 0, 3),
    (ApiKey::DescribeConfigs, 1, 4),
    (ApiKey::AlterConfigs, 0, 2),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
    (ApiKey::DeleteRecords, 0, 2),
    (ApiKey::DescribeCluster, 0, 2),
    (ApiKey::DescribeLogDirs, 1, 4),
    (ApiKey::AlterReplicaLogDirs, 1, 2),
    (ApiKey::ElectLeaders, 0, 2),
    (ApiKey::AlterPartitionReassignments, 0, 1),
    (ApiKey::ListPartitionReassignments, 0, 0),
    (ApiKey::OffsetForLeaderEpoch, 2, 4),
    (ApiKey::SaslAuthenticate, 0, 2),
    (ApiKey::CreateDelegationToken, 1, 3),
    (ApiKey::RenewDelegationToken, 1, 2),
    (ApiKey::ExpireDelegationToken, 1, 2),
    (ApiKey::DescribeDelegationToken, 1, 3),
    (ApiKey::DescribeClientQuotas, 0, 1),
    (ApiKey::AlterClientQuotas, 0, 1),
    (ApiKey::InitProducerId, 0, 5),
    (ApiKey::AddPartitionsToTxn, 0, 5),
    (ApiKey::AddOffsetsToTxn, 0, 4),
    (ApiKey::EndTxn, 0, 5),
    (ApiKey::TxnOffsetCommit, 0, 5),
    (ApiKey::DescribeTransactions, 0, 0),
    (ApiKey::ListTransactions, 0, 2),
    (ApiKey::DescribeProducers, 0, 0),
    (ApiKey::CreateAcls, 1, 3),
    (ApiKey::DescribeAcls, 1, 3),
    (ApiKey::DeleteAcls, 1, 3),
    (ApiKey::DescribeUserScramCredentials, 0, 0),
    (ApiKey::AlterUserScramCredentials, 0, 0),
    (ApiKey::DescribeTopicPartitions, 0, 0),
    (ApiKey::ConsumerGroupHeartbeat, 0, 1),
    (ApiKey::ConsumerGroupDescribe, 0, 1),
    (ApiKey::UpdateFeatures, 0, 2),
    (ApiKey::DescribeQuorum, 0, 2),
    (ApiKey::UnregisterBroker, 0, 0),
    (ApiKey::ListConfigResources, 0, 1),
    (ApiKey::AddRaftVoter, 0, 0),
    (ApiKey::RemoveRaftVoter, 0, 0),
    (ApiKey::ShareGroupHeartbeat, 1, 1),
    (ApiKey::ShareGroupDescribe, 1, 1),
    (ApiKey::ShareFetch, 1, 1),
    (ApiKey::ShareAcknowledge, 1, 1),
    (ApiKey::DescribeShareGroupOffsets, 0, 0),
    (ApiKey::AlterShareGroupOffsets, 0, 0),
    (ApiKey::DeleteShareGroupOffsets, 0, 0),
];

pub fn supported_versions(api_key: ApiKey) -> Option<(i16, i16)> {
    SUPPORTED_APIS
        .iter()
        .find(|(key, _, _)| *key == api_key)
        .map(|&(_, min, max)| (min, max))
}

/// The principal of a client that did not authenticate, as Kafka names it.
pub const ANONYMOUS: &str = "User:ANONYMOUS";

/// What a handler knows about the request beyond its body: which broker of the cluster received
/// it, from which client, at which version.
pub struct RequestContext {
    pub cluster: Arc<Cluster>,
    pub broker_id: i32,
    pub header: RequestHeader,
    /// The client's address as Kafka reports it in DescribeGroups (`/127.0.0.1`).
    pub client_host: String,
    /// Who sends the request, as Kafka's authorizer names it (`User:alice`): the SASL user, the
    /// TLS client certificate's subject, or `User:ANONYMOUS` on an unauthenticated listener.
    pub principal: Arc<str>,
    /// Whether the client logged in with a delegation token (it may not ask for tokens then).
    pub token_authenticated: bool,
    /// The name of the listener the request came through: brokers are advertised at their
    /// address on it.
    pub listener: Arc<str>,
    /// Which connection of the cluster the request came on (for the request log).
    pub connection_id: u64,
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
        RequestKind::CreatePartitions(req) => {
            ResponseKind::CreatePartitions(partitions::create(ctx, req))
        }
        RequestKind::DescribeConfigs(req) => {
            ResponseKind::DescribeConfigs(configs::describe(ctx, req))
        }
        RequestKind::AlterConfigs(req) => ResponseKind::AlterConfigs(configs::alter(ctx, req)),
        RequestKind::IncrementalAlterConfigs(req) => {
            ResponseKind::IncrementalAlterConfigs(configs::incremental_alter(ctx, req))
        }
        RequestKind::DeleteRecords(req) => {
            ResponseKind::DeleteRecords(records::delete_records(ctx, req))
        }
        RequestKind::OffsetForLeaderEpoch(req) => {
            ResponseKind::OffsetForLeaderEpoch(records::offset_for_leader_epoch(ctx, req))
        }
        RequestKind::DescribeCluster(req) => {
            ResponseKind::DescribeCluster(cluster::describe_cluster(ctx, req))
        }
        RequestKind::DescribeLogDirs(req) => {
            ResponseKind::DescribeLogDirs(cluster::describe_log_dirs(ctx, req))
        }
        RequestKind::CreateDelegationToken(req) => {
            ResponseKind::CreateDelegationToken(delegation_tokens::create(ctx, req))
        }
        RequestKind::RenewDelegationToken(req) => {
            ResponseKind::RenewDelegationToken(delegation_tokens::renew(ctx, req))
        }
        RequestKind::ExpireDelegationToken(req) => {
            ResponseKind::ExpireDelegationToken(delegation_tokens::expire(ctx, req))
        }
        RequestKind::DescribeDelegationToken(req) => {
            ResponseKind::DescribeDelegationToken(delegation_tokens::describe(ctx, req))
        }
        RequestKind::AlterReplicaLogDirs(req) => {
            ResponseKind::AlterReplicaLogDirs(cluster::alter_replica_log_dirs(ctx, req))
        }
        RequestKind::UnregisterBroker(req) => {
            ResponseKind::UnregisterBroker(cluster::unregister_broker(ctx, req))
        }
        RequestKind::DescribeQuorum(req) => {
            ResponseKind::DescribeQuorum(quorum::describe_quorum(ctx, req))
        }
        RequestKind::AddRaftVoter(req) => {
            ResponseKind::AddRaftVoter(quorum::add_raft_voter(ctx, req))
        }
        RequestKind::RemoveRaftVoter(req) => {
            ResponseKind::RemoveRaftVoter(quorum::remove_raft_voter(ctx, req))
        }
        RequestKind::ListConfigResources(req) => {
            ResponseKind::ListConfigResources(configs::list_resources(ctx, req))
        }
        RequestKind::ElectLeaders(req) => {
            ResponseKind::ElectLeaders(partitions::elect_leaders(ctx, req))
        }
        RequestKind::AlterPartitionReassignments(req) => {
            ResponseKind::AlterPartitionReassignments(partitions::alter_reassignments(ctx, req))
        }
        RequestKind::ListPartitionReassignments(req) => {
            ResponseKind::ListPartitionReassignments(partitions::list_reassignments(ctx, req))
        }
        RequestKind::DescribeClientQuotas(req) => {
            ResponseKind::DescribeClientQuotas(quotas::describe(ctx, req))
        }
        RequestKind::AlterClientQuotas(req) => {
            ResponseKind::AlterClientQuotas(quotas::alter(ctx, req))
        }
        RequestKind::InitProducerId(req) => {
            ResponseKind::InitProducerId(txn::init_producer_id(ctx, req))
        }
        RequestKind::AddPartitionsToTxn(req) => {
            ResponseKind::AddPartitionsToTxn(txn::add_partitions_to_txn(ctx, req))
        }
        RequestKind::AddOffsetsToTxn(req) => {
            ResponseKind::AddOffsetsToTxn(txn::add_offsets_to_txn(ctx, req))
        }
        RequestKind::EndTxn(req) => ResponseKind::EndTxn(txn::end_txn(ctx, req)),
        RequestKind::TxnOffsetCommit(req) => {
            ResponseKind::TxnOffsetCommit(txn::txn_offset_commit(ctx, req))
        }
        RequestKind::DescribeTransactions(req) => {
            ResponseKind::DescribeTransactions(txn::describe_transactions(ctx, req))
        }
        RequestKind::ListTransactions(req) => {
            ResponseKind::ListTransactions(txn::list_transactions(ctx, req))
        }
        RequestKind::DescribeProducers(req) => {
            ResponseKind::DescribeProducers(txn::describe_producers(ctx, req))
        }
        RequestKind::DescribeTopicPartitions(req) => {
            ResponseKind::DescribeTopicPartitions(metadata::describe_topic_partitions(ctx, req))
        }
        RequestKind::CreateAcls(req) => ResponseKind::CreateAcls(acls::create(ctx, req)),
        RequestKind::DescribeAcls(req) => ResponseKind::DescribeAcls(acls::describe(ctx, req)),
        RequestKind::DeleteAcls(req) => ResponseKind::DeleteAcls(acls::delete(ctx, req)),
        RequestKind::DescribeUserScramCredentials(req) => {
            ResponseKind::DescribeUserScramCredentials(acls::describe_scram(ctx, req))
        }
        RequestKind::AlterUserScramCredentials(req) => {
            ResponseKind::AlterUserScramCredentials(acls::alter_scram(ctx, req))
        }
        RequestKind::ConsumerGroupHeartbeat(req) => {
            ResponseKind::ConsumerGroupHeartbeat(consumer_group::heartbeat(ctx, req))
        }
        RequestKind::ConsumerGroupDescribe(req) => {
            ResponseKind::ConsumerGroupDescribe(consumer_group::describe(ctx, req))
        }
        RequestKind::UpdateFeatures(req) => {
            ResponseKind::UpdateFeatures(features::update(ctx, req))
        }
        RequestKind::ShareGroupHeartbeat(req) => {
            ResponseKind::ShareGroupHeartbeat(share_group::heartbeat(ctx, req))
        }
        RequestKind::ShareGroupDescribe(req) => {
            ResponseKind::ShareGroupDescribe(share_group::describe(ctx, req))
        }
        RequestKind::ShareFetch(req) => {
            ResponseKind::ShareFetch(share_fetch::fetch(ctx, req).await)
        }
        RequestKind::ShareAcknowledge(req) => {
            ResponseKind::ShareAcknowledge(share_fetch::acknowledge_only(ctx, req))
        }
        RequestKind::DescribeShareGroupOffsets(req) => {
            ResponseKind::DescribeShareGroupOffsets(share_group::describe_offsets(ctx, req))
        }
        RequestKind::AlterShareGroupOffsets(req) => {
            ResponseKind::AlterShareGroupOffsets(share_group::alter_offsets(ctx, req))
        }
        RequestKind::DeleteShareGroupOffsets(req) => {
            ResponseKind::DeleteShareGroupOffsets(share_group::delete_offsets(ctx, req))
        }
        RequestKind::SaslHandshake(req) => {
            ResponseKind::SaslHandshake(sasl::handshake_refused(ctx, req))
        }
        RequestKind::SaslAuthenticate(req) => {
            ResponseKind::SaslAuthenticate(sasl::authenticate_refused(ctx, req))
        }
        // decode_request only decodes the APIs in SUPPORTED_APIS.
        _ => unreachable!("request for an API that is not advertised"),
    };
    Some(response)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::protocol::{decode_request, encode_response};
    use crate::state::{BrokerConfig, BrokerNode};
    use bytes::BytesMut;
    use kafka_protocol::messages::*;
    use kafka_protocol::protocol::{encode_request_header_into_buffer, StrBytes};

    /// A cluster of brokers `0..brokers` on 127.0.0.1 with a topic `t` of two partitions.
    pub(crate) fn test_cluster(brokers: i32) -> Arc<Cluster> {
        test_cluster_with(BrokerConfig::default(), brokers)
    }

    /// As `test_cluster`, with these broker settings.
    pub(crate) fn test_cluster_with(config: BrokerConfig, brokers: i32) -> Arc<Cluster> {
        let cluster = Arc::new(Cluster::new("test".into(), config));
        for node_id in 0..brokers {
            cluster.add_broker(BrokerNode {
                node_id,
                host: "127.0.0.1".into(),
                port: 9092 + node_id as u16,
            });
        }
        let spec = cluster.topic_spec("t", 2, 1, Default::default()).unwrap();
        cluster.topics.create(spec).unwrap();
        cluster
    }

    /// Serves one request as broker 0 would, from an anonymous client on PLAINTEXT.
    pub(crate) fn call(
        cluster: &Arc<Cluster>,
        api_key: ApiKey,
        version: i16,
        body: RequestKind,
    ) -> ResponseKind {
        call_as(cluster, crate::handlers::ANONYMOUS, api_key, version, body)
    }

    /// As `call`, from a client that authenticated as `principal`.
    pub(crate) fn call_as(
        cluster: &Arc<Cluster>,
        principal: &str,
        api_key: ApiKey,
        version: i16,
        body: RequestKind,
    ) -> ResponseKind {
        let (_stop, shutdown) = watch::channel(false);
        let ctx = RequestContext {
            cluster: cluster.clone(),
            broker_id: 0,
            header: RequestHeader::default()
                .with_request_api_key(api_key as i16)
                .with_request_api_version(version)
                .with_client_id(Some(StrBytes::from_static_str("test"))),
            client_host: "/127.0.0.1".into(),
            principal: principal.into(),
            token_authenticated: false,
            listener: "PLAINTEXT".into(),
            connection_id: 0,
            shutdown,
        };
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(handle(&ctx, body))
            .unwrap_or_else(|| panic!("{api_key:?} v{version} gave no response"))
    }

    /// A request of each advertised API, naming an existing topic where the API takes topics.
    pub(crate) fn sample_request(api_key: ApiKey, version: i16) -> RequestKind {
        let topic = TopicName(StrBytes::from_static_str("t"));
        let group = GroupId(StrBytes::from_static_str("g"));
        match api_key {
            // v13 names topics by id: an unknown one here.
            ApiKey::Produce => {
                let named = produce_request::TopicProduceData::default();
                let named = if version >= 13 {
                    named.with_topic_id(uuid::Uuid::from_u128(7))
                } else {
                    named.with_name(topic)
                };
                RequestKind::Produce(ProduceRequest::default().with_acks(1).with_topic_data(vec![
                    named.with_partition_data(vec![
                        produce_request::PartitionProduceData::default(),
                    ]),
                ]))
            }
            ApiKey::Fetch => RequestKind::Fetch(FetchRequest::default().with_topics(vec![
                fetch_request::FetchTopic::default()
                    .with_topic(topic)
                    .with_partitions(vec![fetch_request::FetchPartition::default()]),
            ])),
            ApiKey::ListOffsets => {
                RequestKind::ListOffsets(ListOffsetsRequest::default().with_topics(vec![
                    list_offsets_request::ListOffsetsTopic::default()
                        .with_name(topic)
                        .with_partitions(vec![
                            list_offsets_request::ListOffsetsPartition::default()
                                .with_timestamp(-1),
                            list_offsets_request::ListOffsetsPartition::default()
                                .with_partition_index(1)
                                .with_timestamp(if version >= 9 { -5 } else { -2 }),
                        ]),
                ]))
            }
            ApiKey::Metadata => {
                RequestKind::Metadata(MetadataRequest::default().with_topics(Some(vec![
                    metadata_request::MetadataRequestTopic::default().with_name(Some(topic)),
                ])))
            }
            // v3+ must name the client software (Kafka refuses an empty name).
            ApiKey::ApiVersions => RequestKind::ApiVersions(
                ApiVersionsRequest::default()
                    .with_client_software_name(StrBytes::from_static_str("sample"))
                    .with_client_software_version(StrBytes::from_static_str("1.0")),
            ),
            ApiKey::CreateTopics => RequestKind::CreateTopics(
                CreateTopicsRequest::default()
                    .with_timeout_ms(5_000)
                    .with_topics(vec![create_topics_request::CreatableTopic::default()
                        .with_name(TopicName(StrBytes::from_static_str("new")))
                        .with_num_partitions(1)
                        .with_replication_factor(1)]),
            ),
            ApiKey::DeleteTopics if version >= 6 => RequestKind::DeleteTopics(
                DeleteTopicsRequest::default()
                    .with_timeout_ms(5_000)
                    .with_topics(vec![delete_topics_request::DeleteTopicState::default()
                        .with_name(Some(TopicName(StrBytes::from_static_str("missing"))))]),
            ),
            ApiKey::DeleteTopics => RequestKind::DeleteTopics(
                DeleteTopicsRequest::default()
                    .with_timeout_ms(5_000)
                    .with_topic_names(vec![TopicName(StrBytes::from_static_str("missing"))]),
            ),
            ApiKey::FindCoordinator if version >= 4 => RequestKind::FindCoordinator(
                FindCoordinatorRequest::default()
                    .with_coordinator_keys(vec![StrBytes::from_static_str("g")]),
            ),
            ApiKey::FindCoordinator => RequestKind::FindCoordinator(
                FindCoordinatorRequest::default().with_key(StrBytes::from_static_str("g")),
            ),
            ApiKey::JoinGroup => {
                RequestKind::JoinGroup(JoinGroupRequest::default().with_group_id(group))
            }
            // v5+ must name the protocol type and name.
            ApiKey::SyncGroup => RequestKind::SyncGroup(
                SyncGroupRequest::default()
                    .with_group_id(group)
                    .with_protocol_type(Some(StrBytes::from_static_str("consumer")))
                    .with_protocol_name(Some(StrBytes::from_static_str("range"))),
            ),
            ApiKey::Heartbeat => {
                RequestKind::Heartbeat(HeartbeatRequest::default().with_group_id(group))
            }
            ApiKey::LeaveGroup => {
                RequestKind::LeaveGroup(LeaveGroupRequest::default().with_group_id(group))
            }
            ApiKey::OffsetCommit => RequestKind::OffsetCommit(
                OffsetCommitRequest::default()
                    .with_group_id(group)
                    .with_topics(vec![
                        offset_commit_request::OffsetCommitRequestTopic::default()
                            .with_name(topic)
                            .with_partitions(vec![
                                offset_commit_request::OffsetCommitRequestPartition::default(),
                            ]),
                    ]),
            ),
            ApiKey::OffsetFetch if version >= 8 => {
                RequestKind::OffsetFetch(OffsetFetchRequest::default().with_groups(vec![
                offset_fetch_request::OffsetFetchRequestGroup::default()
                    .with_group_id(group)
                    .with_topics(Some(vec![offset_fetch_request::OffsetFetchRequestTopics::default()
                        .with_name(topic)
                        .with_partition_indexes(vec![0])])),
            ]))
            }
            ApiKey::OffsetFetch => RequestKind::OffsetFetch(
                OffsetFetchRequest::default()
                    .with_group_id(group)
                    .with_topics(Some(vec![
                        offset_fetch_request::OffsetFetchRequestTopic::default()
                            .with_name(topic)
                            .with_partition_indexes(vec![0]),
                    ])),
            ),
            ApiKey::DescribeGroups => RequestKind::DescribeGroups(
                DescribeGroupsRequest::default().with_groups(vec![group]),
            ),
            ApiKey::ListGroups => RequestKind::ListGroups(ListGroupsRequest::default()),
            ApiKey::DeleteGroups => RequestKind::DeleteGroups(
                DeleteGroupsRequest::default().with_groups_names(vec![group]),
            ),
            ApiKey::OffsetDelete => {
                RequestKind::OffsetDelete(OffsetDeleteRequest::default().with_group_id(group))
            }
            ApiKey::CreatePartitions => RequestKind::CreatePartitions(
                CreatePartitionsRequest::default()
                    .with_timeout_ms(5_000)
                    .with_topics(vec![
                        create_partitions_request::CreatePartitionsTopic::default()
                            .with_name(topic)
                            .with_count(3),
                    ]),
            ),
            ApiKey::DescribeConfigs => RequestKind::DescribeConfigs(
                DescribeConfigsRequest::default()
                    .with_include_synonyms(true)
                    .with_resources(vec![
                        describe_configs_request::DescribeConfigsResource::default()
                            .with_resource_type(2)
                            .with_resource_name(StrBytes::from_static_str("t")),
                        describe_configs_request::DescribeConfigsResource::default()
                            .with_resource_type(4)
                            .with_resource_name(StrBytes::from_static_str("0")),
                    ]),
            ),
            ApiKey::AlterConfigs => {
                RequestKind::AlterConfigs(AlterConfigsRequest::default().with_resources(vec![
                alter_configs_request::AlterConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(StrBytes::from_static_str("t")),
            ]))
            }
            ApiKey::IncrementalAlterConfigs => RequestKind::IncrementalAlterConfigs(
                IncrementalAlterConfigsRequest::default().with_resources(vec![
                    incremental_alter_configs_request::AlterConfigsResource::default()
                        .with_resource_type(2)
                        .with_resource_name(StrBytes::from_static_str("missing")),
                ]),
            ),
            ApiKey::DeleteRecords => {
                RequestKind::DeleteRecords(DeleteRecordsRequest::default().with_topics(vec![
                    delete_records_request::DeleteRecordsTopic::default()
                        .with_name(topic)
                        .with_partitions(vec![
                            delete_records_request::DeleteRecordsPartition::default(),
                        ]),
                ]))
            }
            ApiKey::DescribeCluster => RequestKind::DescribeCluster(
                DescribeClusterRequest::default().with_include_fenced_brokers(version >= 2),
            ),
            ApiKey::DescribeLogDirs => {
                RequestKind::DescribeLogDirs(DescribeLogDirsRequest::default())
            }
            ApiKey::ElectLeaders => RequestKind::ElectLeaders(ElectLeadersRequest::default()),
            ApiKey::AlterPartitionReassignments => RequestKind::AlterPartitionReassignments(
                AlterPartitionReassignmentsRequest::default()
                    .with_timeout_ms(5_000)
                    .with_allow_replication_factor_change(version < 1)
                    .with_topics(vec![
                        alter_partition_reassignments_request::ReassignableTopic::default()
                            .with_name(topic.clone())
                            .with_partitions(vec![
                            alter_partition_reassignments_request::ReassignablePartition::default()
                                .with_replicas(Some(vec![BrokerId(0)])),
                        ]),
                    ]),
            ),
            ApiKey::ListPartitionReassignments => {
                RequestKind::ListPartitionReassignments(ListPartitionReassignmentsRequest::default())
            }
            ApiKey::OffsetForLeaderEpoch => RequestKind::OffsetForLeaderEpoch(
                OffsetForLeaderEpochRequest::default().with_topics(vec![
                    offset_for_leader_epoch_request::OffsetForLeaderTopic::default()
                        .with_topic(topic)
                        .with_partitions(vec![
                            offset_for_leader_epoch_request::OffsetForLeaderPartition::default(),
                        ]),
                ]),
            ),
            ApiKey::DescribeClientQuotas => {
                RequestKind::DescribeClientQuotas(DescribeClientQuotasRequest::default())
            }
            ApiKey::AlterClientQuotas => {
                RequestKind::AlterClientQuotas(AlterClientQuotasRequest::default())
            }
            ApiKey::InitProducerId => RequestKind::InitProducerId(
                InitProducerIdRequest::default()
                    .with_transactional_id(Some(TransactionalId(StrBytes::from_static_str("tx"))))
                    .with_transaction_timeout_ms(1000)
                    .with_producer_id(ProducerId(-1))
                    .with_producer_epoch(-1),
            ),
            // v4+ is the batched form brokers send: one transaction verified, one added to.
            ApiKey::AddPartitionsToTxn if version >= 4 => {
                let txn = |verify_only: bool| {
                    add_partitions_to_txn_request::AddPartitionsToTxnTransaction::default()
                        .with_transactional_id(TransactionalId(StrBytes::from_static_str("tx")))
                        .with_verify_only(verify_only)
                        .with_topics(vec![
                            add_partitions_to_txn_request::AddPartitionsToTxnTopic::default()
                                .with_name(topic.clone())
                                .with_partitions(vec![0, 7]),
                        ])
                };
                RequestKind::AddPartitionsToTxn(
                    AddPartitionsToTxnRequest::default()
                        .with_transactions(vec![txn(true), txn(false)]),
                )
            }
            ApiKey::AddPartitionsToTxn => RequestKind::AddPartitionsToTxn(
                AddPartitionsToTxnRequest::default()
                    .with_v3_and_below_transactional_id(TransactionalId(StrBytes::from_static_str(
                        "tx",
                    )))
                    .with_v3_and_below_topics(vec![
                        add_partitions_to_txn_request::AddPartitionsToTxnTopic::default()
                            .with_name(topic)
                            .with_partitions(vec![0, 7]),
                    ]),
            ),
            ApiKey::AddOffsetsToTxn => RequestKind::AddOffsetsToTxn(
                AddOffsetsToTxnRequest::default()
                    .with_transactional_id(TransactionalId(StrBytes::from_static_str("tx")))
                    .with_group_id(group),
            ),
            ApiKey::EndTxn => RequestKind::EndTxn(
                EndTxnRequest::default()
                    .with_transactional_id(TransactionalId(StrBytes::from_static_str("tx"))),
            ),
            ApiKey::TxnOffsetCommit => RequestKind::TxnOffsetCommit(
                TxnOffsetCommitRequest::default()
                    .with_transactional_id(TransactionalId(StrBytes::from_static_str("tx")))
                    .with_group_id(group)
                    .with_topics(vec![
                        txn_offset_commit_request::TxnOffsetCommitRequestTopic::default()
                            .with_name(topic)
                            .with_partitions(vec![
                                txn_offset_commit_request::TxnOffsetCommitRequestPartition::default(
                                ),
                            ]),
                    ]),
            ),
            ApiKey::DescribeTransactions => RequestKind::DescribeTransactions(
                DescribeTransactionsRequest::default().with_transactional_ids(vec![
                    TransactionalId(StrBytes::from_static_str("tx")),
                    TransactionalId(StrBytes::from_static_str("unknown")),
                ]),
            ),
            ApiKey::ListTransactions => RequestKind::ListTransactions(
                ListTransactionsRequest::default()
                    .with_state_filters(vec![StrBytes::from_static_str("Ongoing")])
                    .with_transactional_id_pattern(
                        (version >= 2).then(|| StrBytes::from_static_str("t.*")),
                    ),
            ),
            ApiKey::DescribeProducers => RequestKind::DescribeProducers(
                DescribeProducersRequest::default().with_topics(vec![
                    describe_producers_request::TopicRequest::default()
                        .with_name(topic)
                        .with_partition_indexes(vec![0, 9]),
                ]),
            ),
            ApiKey::CreateAcls => {
                RequestKind::CreateAcls(CreateAclsRequest::default().with_creations(vec![
                create_acls_request::AclCreation::default()
                    .with_resource_type(2)
                    .with_resource_name(StrBytes::from_static_str("t"))
                    .with_resource_pattern_type(3)
                    .with_principal(StrBytes::from_static_str("User:alice"))
                    .with_host(StrBytes::from_static_str("*"))
                    .with_operation(3)
                    .with_permission_type(3),
            ]))
            }
            ApiKey::DescribeAcls => RequestKind::DescribeAcls(
                DescribeAclsRequest::default()
                    .with_resource_type_filter(1)
                    .with_pattern_type_filter(1)
                    .with_operation(1)
                    .with_permission_type(1),
            ),
            ApiKey::DeleteAcls => {
                RequestKind::DeleteAcls(DeleteAclsRequest::default().with_filters(vec![
                delete_acls_request::DeleteAclsFilter::default()
                    .with_resource_type_filter(1)
                    .with_pattern_type_filter(1)
                    .with_operation(1)
                    .with_permission_type(1),
            ]))
            }
            ApiKey::DescribeUserScramCredentials => RequestKind::DescribeUserScramCredentials(
                DescribeUserScramCredentialsRequest::default(),
            ),
            ApiKey::AlterUserScramCredentials => {
                RequestKind::AlterUserScramCredentials(AlterUserScramCredentialsRequest::default())
            }
            ApiKey::DescribeTopicPartitions => RequestKind::DescribeTopicPartitions(
                DescribeTopicPartitionsRequest::default()
                    .with_response_partition_limit(1)
                    .with_topics(vec![
                        describe_topic_partitions_request::TopicRequest::default().with_name(topic),
                    ]),
            ),
            ApiKey::ConsumerGroupHeartbeat => RequestKind::ConsumerGroupHeartbeat(
                ConsumerGroupHeartbeatRequest::default()
                    .with_group_id(group)
                    .with_member_id(StrBytes::from_static_str("m"))
                    .with_rebalance_timeout_ms(30_000)
                    .with_subscribed_topic_names(Some(vec![topic]))
                    .with_topic_partitions(Some(vec![])),
            ),
            ApiKey::ConsumerGroupDescribe => RequestKind::ConsumerGroupDescribe(
                ConsumerGroupDescribeRequest::default()
                    .with_group_ids(vec![group, GroupId(StrBytes::from_static_str("missing"))]),
            ),
            // Validate-only from v1: the sample must not change the cluster's features.
            ApiKey::UpdateFeatures => RequestKind::UpdateFeatures(
                UpdateFeaturesRequest::default()
                    .with_timeout_ms(5_000)
                    .with_validate_only(version >= 1)
                    .with_feature_updates(vec![
                        update_features_request::FeatureUpdateKey::default()
                            .with_feature(StrBytes::from_static_str("transaction.version"))
                            .with_max_version_level(2)
                            .with_upgrade_type(1),
                    ]),
            ),
            ApiKey::ShareGroupHeartbeat => RequestKind::ShareGroupHeartbeat(
                ShareGroupHeartbeatRequest::default()
                    .with_group_id(group)
                    .with_member_id(StrBytes::from_static_str("m"))
                    .with_subscribed_topic_names(Some(vec![topic])),
            ),
            ApiKey::ShareGroupDescribe => RequestKind::ShareGroupDescribe(
                ShareGroupDescribeRequest::default().with_group_ids(vec![group]),
            ),
            ApiKey::ShareFetch => RequestKind::ShareFetch(
                ShareFetchRequest::default()
                    .with_group_id(Some(group))
                    .with_member_id(Some(StrBytes::from_static_str("m")))
                    .with_topics(vec![share_fetch_request::FetchTopic::default()
                        .with_topic_id(uuid::Uuid::from_u128(7))
                        .with_partitions(vec![share_fetch_request::FetchPartition::default()])]),
            ),
            ApiKey::ShareAcknowledge => RequestKind::ShareAcknowledge(
                ShareAcknowledgeRequest::default()
                    .with_group_id(Some(group))
                    .with_member_id(Some(StrBytes::from_static_str("m")))
                    .with_share_session_epoch(-1),
            ),
            ApiKey::DescribeShareGroupOffsets => RequestKind::DescribeShareGroupOffsets(
                DescribeShareGroupOffsetsRequest::default().with_groups(vec![
                    describe_share_group_offsets_request::DescribeShareGroupOffsetsRequestGroup::default()
                        .with_group_id(group),
                ]),
            ),
            ApiKey::AlterShareGroupOffsets => RequestKind::AlterShareGroupOffsets(
                AlterShareGroupOffsetsRequest::default().with_group_id(group),
            ),
            ApiKey::DeleteShareGroupOffsets => RequestKind::DeleteShareGroupOffsets(
                DeleteShareGroupOffsetsRequest::default().with_group_id(group),
            ),
            ApiKey::SaslHandshake => RequestKind::SaslHandshake(
                SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("PLAIN")),
            ),
            ApiKey::SaslAuthenticate => RequestKind::SaslAuthenticate(
                SaslAuthenticateRequest::default()
                    .with_auth_bytes(bytes::Bytes::from_static(b"\0alice\0secret")),
            ),
            ApiKey::CreateDelegationToken => RequestKind::CreateDelegationToken(
                CreateDelegationTokenRequest::default()
                    .with_max_lifetime_ms(60_000)
                    .with_renewers(vec![
                        create_delegation_token_request::CreatableRenewers::default()
                            .with_principal_type(StrBytes::from_static_str("User"))
                            .with_principal_name(StrBytes::from_static_str("bob")),
                    ]),
            ),
            ApiKey::RenewDelegationToken => RequestKind::RenewDelegationToken(
                RenewDelegationTokenRequest::default()
                    .with_hmac(bytes::Bytes::from_static(b"not a token"))
                    .with_renew_period_ms(60_000),
            ),
            ApiKey::ExpireDelegationToken => RequestKind::ExpireDelegationToken(
                ExpireDelegationTokenRequest::default()
                    .with_hmac(bytes::Bytes::from_static(b"not a token"))
                    .with_expiry_time_period_ms(-1),
            ),
            ApiKey::DescribeDelegationToken => {
                RequestKind::DescribeDelegationToken(DescribeDelegationTokenRequest::default())
            }
            // Partition 0 here; an unknown dir; a partition that does not exist.
            ApiKey::AlterReplicaLogDirs => {
                use alter_replica_log_dirs_request::{AlterReplicaLogDir, AlterReplicaLogDirTopic};
                let dir = |path: &'static str, partitions: Vec<i32>| {
                    AlterReplicaLogDir::default()
                        .with_path(StrBytes::from_static_str(path))
                        .with_topics(vec![AlterReplicaLogDirTopic::default()
                            .with_name(topic.clone())
                            .with_partitions(partitions)])
                };
                RequestKind::AlterReplicaLogDirs(AlterReplicaLogDirsRequest::default().with_dirs(
                    vec![
                        dir("/kafka-emulator/broker-0", vec![0, 9]),
                        dir("/elsewhere", vec![1]),
                    ],
                ))
            }
            // A broker that is not there: the cluster under test keeps its own.
            ApiKey::UnregisterBroker => RequestKind::UnregisterBroker(
                UnregisterBrokerRequest::default().with_broker_id(BrokerId(7)),
            ),
            ApiKey::DescribeQuorum => {
                use describe_quorum_request::{PartitionData, TopicData};
                RequestKind::DescribeQuorum(DescribeQuorumRequest::default().with_topics(vec![
                    TopicData::default()
                        .with_topic_name(TopicName(StrBytes::from_static_str(
                            "__cluster_metadata",
                        )))
                        .with_partitions(vec![PartitionData::default()]),
                ]))
            }
            ApiKey::ListConfigResources => RequestKind::ListConfigResources(
                ListConfigResourcesRequest::default().with_resource_types(if version >= 1 {
                    vec![2, 4]
                } else {
                    vec![]
                }),
            ),
            ApiKey::AddRaftVoter => RequestKind::AddRaftVoter(
                AddRaftVoterRequest::default()
                    .with_cluster_id(None)
                    .with_voter_id(3)
                    .with_listeners(vec![add_raft_voter_request::Listener::default()
                        .with_name(StrBytes::from_static_str("CONTROLLER"))
                        .with_host(StrBytes::from_static_str("127.0.0.1"))
                        .with_port(9093)]),
            ),
            ApiKey::RemoveRaftVoter => RequestKind::RemoveRaftVoter(
                RemoveRaftVoterRequest::default()
                    .with_cluster_id(None)
                    .with_voter_id(0),
            ),
            other => panic!("no sample request for {other:?}: add one when advertising it"),
        }
    }

    /// Every advertised version of every API: the request decodes, is handled, and the response
    /// encodes at that version (kafka-protocol refuses fields a version does not carry).
    #[test]
    fn every_advertised_version_round_trips() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let cluster = Arc::new(Cluster::new("test".into(), BrokerConfig::default()));
        cluster.add_broker(BrokerNode {
            node_id: 0,
            host: "127.0.0.1".into(),
            port: 9092,
        });
        let spec = cluster.topic_spec("t", 2, 1, Default::default()).unwrap();
        cluster.topics.create(spec).unwrap();
        let (_shutdown_tx, shutdown) = watch::channel(false);

        for &(api_key, min, max) in SUPPORTED_APIS {
            for version in min..=max {
                let header = RequestHeader::default()
                    .with_request_api_key(api_key as i16)
                    .with_request_api_version(version)
                    .with_correlation_id(42)
                    .with_client_id(Some(StrBytes::from_static_str("test")));
                let mut frame = BytesMut::new();
                encode_request_header_into_buffer(&mut frame, &header).unwrap();
                sample_request(api_key, version)
                    .encode(&mut frame, version)
                    .unwrap_or_else(|e| panic!("{api_key:?} v{version} request: {e}"));
                let request = decode_request(frame.freeze(), supported_versions)
                    .unwrap_or_else(|e| panic!("{api_key:?} v{version}: {e}"));
                let ctx = RequestContext {
                    cluster: cluster.clone(),
                    broker_id: 0,
                    header: request.header,
                    client_host: "/127.0.0.1".into(),
                    principal: crate::handlers::ANONYMOUS.into(),
                    token_authenticated: false,
                    listener: "PLAINTEXT".into(),
                    connection_id: 0,
                    shutdown: shutdown.clone(),
                };
                let response = runtime
                    .block_on(handle(&ctx, request.body))
                    .unwrap_or_else(|| panic!("{api_key:?} v{version} gave no response"));
                encode_response(api_key, version, 42, &response)
                    .unwrap_or_else(|e| panic!("{api_key:?} v{version} response: {e}"));
            }
        }
    }
}
