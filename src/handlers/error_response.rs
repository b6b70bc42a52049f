//! Error responses built from a request, for injected faults: the response a broker would send
//! if every partition, group or topic the request names failed with one error. Also what the
//! fault matcher and the request log need to know of a request or response: the topics a request
//! names and the first error code a response carries.
//!
//! Each API is spelled out: the shape of an error differs (a top-level code, a code per topic, a
//! code per partition), and clients only react to the one they read.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;
use crate::state::Cluster;

/// The APIs `build` can fail. A request of any other API cannot be given an injected error.
pub const FAILABLE_APIS: &[ApiKey] = &[
    ApiKey::Produce,
    ApiKey::Fetch,
    ApiKey::ListOffsets,
    ApiKey::Metadata,
    ApiKey::OffsetCommit,
    ApiKey::OffsetFetch,
    ApiKey::FindCoordinator,
    ApiKey::JoinGroup,
    ApiKey::Heartbeat,
    ApiKey::LeaveGroup,
    ApiKey::SyncGroup,
    ApiKey::DescribeGroups,
    ApiKey::ListGroups,
    ApiKey::ApiVersions,
    ApiKey::CreateTopics,
    ApiKey::DeleteTopics,
    ApiKey::InitProducerId,
    ApiKey::AddPartitionsToTxn,
    ApiKey::AddOffsetsToTxn,
    ApiKey::EndTxn,
    ApiKey::TxnOffsetCommit,
    ApiKey::DeleteGroups,
    ApiKey::OffsetDelete,
    ApiKey::CreatePartitions,
    ApiKey::DescribeConfigs,
    ApiKey::AlterConfigs,
    ApiKey::IncrementalAlterConfigs,
    ApiKey::DeleteRecords,
    ApiKey::DescribeCluster,
    ApiKey::DescribeLogDirs,
    ApiKey::ElectLeaders,
    ApiKey::AlterPartitionReassignments,
    ApiKey::ListPartitionReassignments,
    ApiKey::OffsetForLeaderEpoch,
    ApiKey::DescribeClientQuotas,
    ApiKey::AlterClientQuotas,
    ApiKey::DescribeTransactions,
    ApiKey::ListTransactions,
    ApiKey::DescribeProducers,
    ApiKey::CreateAcls,
    ApiKey::DescribeAcls,
    ApiKey::DeleteAcls,
    ApiKey::DescribeUserScramCredentials,
    ApiKey::AlterUserScramCredentials,
    ApiKey::DescribeTopicPartitions,
    ApiKey::ConsumerGroupHeartbeat,
    ApiKey::ConsumerGroupDescribe,
    ApiKey::UpdateFeatures,
    ApiKey::ShareGroupHeartbeat,
    ApiKey::ShareGroupDescribe,
    ApiKey::ShareFetch,
    ApiKey::ShareAcknowledge,
    ApiKey::DescribeShareGroupOffsets,
    ApiKey::AlterShareGroupOffsets,
    ApiKey::DeleteShareGroupOffsets,
    ApiKey::SaslHandshake,
    ApiKey::SaslAuthenticate,
    ApiKey::CreateDelegationToken,
    ApiKey::RenewDelegationToken,
    ApiKey::ExpireDelegationToken,
    ApiKey::DescribeDelegationToken,
    ApiKey::AlterReplicaLogDirs,
    ApiKey::UnregisterBroker,
    ApiKey::DescribeQuorum,
    ApiKey::ListConfigResources,
    ApiKey::AddRaftVoter,
    ApiKey::RemoveRaftVoter,
];

fn injected_message(error: ResponseError) -> StrBytes {
    StrBytes::from_string(format!(
        "{} (injected by kafka-emulator)",
        crate::faults::error_name(error)
    ))
}

/// The response to `body` in which everything failed with `error`; `None` for an API not in
/// `FAILABLE_APIS`, and for a produce with acks=0, which is never answered.
pub fn build(
    ctx: &RequestContext,
    body: &RequestKind,
    error: ResponseError,
) -> Option<ResponseKind> {
    build_with_message(ctx, body, error, injected_message(error))
}

/// As `build`, with `error_message` where the response has room for one.
pub fn build_with_message(
    ctx: &RequestContext,
    body: &RequestKind,
    error: ResponseError,
    error_message: StrBytes,
) -> Option<ResponseKind> {
    let message = |_: ResponseError| Some(error_message.clone());
    let code = error.code();
    let version = ctx.version();
    // A response that fails as a whole: one top-level error code and message.
    macro_rules! whole {
        ($api:ident, $response:ident) => {
            ResponseKind::$api(
                $response::default()
                    .with_error_code(code)
                    .with_error_message(message(error)),
            )
        };
    }
    // A group Describe that fails for each group asked about.
    macro_rules! by_group {
        ($api:ident, $response:ident, $module:ident, $group_ids:expr) => {{
            let groups = $group_ids.iter().map(|g| {
                $module::DescribedGroup::default()
                    .with_group_id(g.clone())
                    .with_error_code(code)
                    .with_error_message(message(error))
            });
            ResponseKind::$api($response::default().with_groups(groups.collect()))
        }};
    }
    let response = match body {
        RequestKind::Produce(req) => {
            if req.acks == 0 {
                return None;
            }
            use produce_response::{PartitionProduceResponse, TopicProduceResponse};
            ResponseKind::Produce(
                ProduceResponse::default().with_responses(
                    req.topic_data
                        .iter()
                        .map(|t| {
                            let topic = TopicProduceResponse::default();
                            // v13 names topics by id (KIP-516).
                            let topic = if version >= 13 {
                                topic.with_topic_id(t.topic_id)
                            } else {
                                topic.with_name(t.name.clone())
                            };
                            topic.with_partition_responses(
                                t.partition_data
                                    .iter()
                                    .map(|p| {
                                        PartitionProduceResponse::default()
                                            .with_index(p.index)
                                            .with_error_code(code)
                                            .with_base_offset(-1)
                                            .with_error_message(message(error))
                                    })
                                    .collect(),
                            )
                        })
                        .collect(),
                ),
            )
        }
        RequestKind::Fetch(req) => {
            use fetch_response::{FetchableTopicResponse, PartitionData};
            ResponseKind::Fetch(
                FetchResponse::default().with_responses(
                    req.topics
                        .iter()
                        .map(|t| {
                            let partitions = t
                                .partitions
                                .iter()
                                .map(|p| {
                                    PartitionData::default()
                                        .with_partition_index(p.partition)
                                        .with_error_code(code)
                                        .with_high_watermark(-1)
                                        .with_records(None)
                                })
                                .collect();
                            let topic =
                                FetchableTopicResponse::default().with_partitions(partitions);
                            if version >= 13 {
                                topic.with_topic_id(t.topic_id)
                            } else {
                                topic.with_topic(t.topic.clone())
                            }
                        })
                        .collect(),
                ),
            )
        }
        RequestKind::ListOffsets(req) => {
            use list_offsets_response::{ListOffsetsPartitionResponse, ListOffsetsTopicResponse};
            ResponseKind::ListOffsets(
                ListOffsetsResponse::default().with_topics(
                    req.topics
                        .iter()
                        .map(|t| {
                            ListOffsetsTopicResponse::default()
                                .with_name(t.name.clone())
                                .with_partitions(
                                    t.partitions
                                        .iter()
                                        .map(|p| {
                                            ListOffsetsPartitionResponse::default()
                                                .with_partition_index(p.partition_index)
                                                .with_error_code(code)
                                        })
                                        .collect(),
                                )
                        })
                        .collect(),
                ),
            )
        }
        RequestKind::Metadata(req) => {
            use metadata_response::MetadataResponseTopic;
            let failed = |name: Option<TopicName>, id: uuid::Uuid| {
                MetadataResponseTopic::default()
                    .with_name(name)
                    .with_topic_id(id)
                    .with_error_code(code)
            };
            // The brokers are still listed: a client must be able to reach the cluster.
            let topics = match &req.topics {
                Some(topics) if !(topics.is_empty() && version == 0) => topics
                    .iter()
                    .map(|t| failed(t.name.clone(), t.topic_id))
                    .collect(),
                _ => ctx
                    .cluster
                    .topics
                    .all()
                    .iter()
                    .map(|t| failed(Some(topic_name(&t.name)), t.id))
                    .collect(),
            };
            ResponseKind::Metadata(super::metadata::empty(ctx).with_topics(topics))
        }
        RequestKind::OffsetCommit(req) => {
            use offset_commit_response::{
                OffsetCommitResponsePartition, OffsetCommitResponseTopic,
            };
            ResponseKind::OffsetCommit(
                OffsetCommitResponse::default().with_topics(
                    req.topics
                        .iter()
                        .map(|t| {
                            OffsetCommitResponseTopic::default()
                                .with_name(t.name.clone())
                                .with_partitions(
                                    t.partitions
                                        .iter()
                                        .map(|p| {
                                            OffsetCommitResponsePartition::default()
                                                .with_partition_index(p.partition_index)
                                                .with_error_code(code)
                                        })
                                        .collect(),
                                )
                        })
                        .collect(),
                ),
            )
        }
        RequestKind::OffsetFetch(req) => {
            use offset_fetch_response::*;
            if version >= 8 {
                ResponseKind::OffsetFetch(
                    OffsetFetchResponse::default().with_groups(
                        req.groups
                            .iter()
                            .map(|g| {
                                OffsetFetchResponseGroup::default()
                                    .with_group_id(g.group_id.clone())
                                    .with_error_code(code)
                            })
                            .collect(),
                    ),
                )
            } else {
                // v1 has no group-level error: each partition carries it.
                let topics = req
                    .topics
                    .iter()
                    .flatten()
                    .map(|t| {
                        OffsetFetchResponseTopic::default()
                            .with_name(t.name.clone())
                            .with_partitions(
                                t.partition_indexes
                                    .iter()
                                    .map(|&p| {
                                        OffsetFetchResponsePartition::default()
                                            .with_partition_index(p)
                                            .with_committed_offset(-1)
                                            .with_error_code(code)
                                    })
                                    .collect(),
                            )
                    })
                    .collect();
                let response = OffsetFetchResponse::default().with_topics(topics);
                ResponseKind::OffsetFetch(if version >= 2 {
                    response.with_error_code(code)
                } else {
                    response
                })
            }
        }
        RequestKind::FindCoordinator(req) => {
            if version >= 4 {
                use find_coordinator_response::Coordinator;
                ResponseKind::FindCoordinator(
                    FindCoordinatorResponse::default().with_coordinators(
                        req.coordinator_keys
                            .iter()
                            .map(|key| {
                                Coordinator::default()
                                    .with_key(key.clone())
                                    .with_node_id(BrokerId(-1))
                                    .with_port(-1)
                                    .with_error_code(code)
                                    .with_error_message(message(error))
                            })
                            .collect(),
                    ),
                )
            } else {
                let response = FindCoordinatorResponse::default()
                    .with_node_id(BrokerId(-1))
                    .with_port(-1)
                    .with_error_code(code);
                ResponseKind::FindCoordinator(if version >= 1 {
                    response.with_error_message(message(error))
                } else {
                    response
                })
            }
        }
        RequestKind::JoinGroup(req) => ResponseKind::JoinGroup(
            JoinGroupResponse::default()
                .with_error_code(code)
                .with_generation_id(-1)
                .with_member_id(req.member_id.clone())
                // Before v7 the protocol name is not nullable.
                .with_protocol_name((version < 7).then(StrBytes::default)),
        ),
        RequestKind::SyncGroup(_) => {
            ResponseKind::SyncGroup(SyncGroupResponse::default().with_error_code(code))
        }
        RequestKind::Heartbeat(_) => {
            ResponseKind::Heartbeat(HeartbeatResponse::default().with_error_code(code))
        }
        RequestKind::LeaveGroup(_) => {
            ResponseKind::LeaveGroup(LeaveGroupResponse::default().with_error_code(code))
        }
        RequestKind::DescribeGroups(req) => {
            use describe_groups_response::DescribedGroup;
            ResponseKind::DescribeGroups(
                DescribeGroupsResponse::default().with_groups(
                    req.groups
                        .iter()
                        .map(|g| {
                            DescribedGroup::default()
                                .with_group_id(g.clone())
                                .with_error_code(code)
                        })
                        .collect(),
                ),
            )
        }
        RequestKind::ListGroups(_) => {
            ResponseKind::ListGroups(ListGroupsResponse::default().with_error_code(code))
        }
        RequestKind::DeleteGroups(req) => {
            use delete_groups_response::DeletableGroupResult;
            ResponseKind::DeleteGroups(
                DeleteGroupsResponse::default().with_results(
                    req.groups_names
                        .iter()
                        .map(|g| {
                            DeletableGroupResult::default()
                                .with_group_id(g.clone())
                                .with_error_code(code)
                        })
                        .collect(),
                ),
            )
        }
        RequestKind::OffsetDelete(_) => {
            ResponseKind::OffsetDelete(OffsetDeleteResponse::default().with_error_code(code))
        }
        RequestKind::ApiVersions(_) => {
            ResponseKind::ApiVersions(ApiVersionsResponse::default().with_error_code(code))
        }
        RequestKind::CreateTopics(req) => {
            use create_topics_response::CreatableTopicResult;
            ResponseKind::CreateTopics(
                CreateTopicsResponse::default().with_topics(
                    req.topics
                        .iter()
                        .map(|t| {
                            let result = CreatableTopicResult::default()
                                .with_name(t.name.clone())
                                .with_error_code(code)
                                .with_num_partitions(-1)
                                .with_replication_factor(-1);
                            if version >= 1 {
                                result.with_error_message(message(error))
                            } else {
                                result
                            }
                        })
                        .collect(),
                ),
            )
        }
        RequestKind::DeleteTopics(req) => {
            use delete_topics_response::DeletableTopicResult;
            let named: Vec<(Option<TopicName>, uuid::Uuid)> = if version >= 6 {
                req.topics
                    .iter()
                    .map(|t| (t.name.clone(), t.topic_id))
                    .collect()
            } else {
                req.topic_names
                    .iter()
                    .map(|n| (Some(n.clone()), uuid::Uuid::nil()))
                    .collect()
            };
            ResponseKind::DeleteTopics(
                DeleteTopicsResponse::default().with_responses(
                    named
                        .into_iter()
                        .map(|(name, id)| {
                            let result = DeletableTopicResult::default()
                                .with_name(name)
                                .with_error_code(code);
                            if version >= 6 {
                                result.with_topic_id(id)
                            } else {
                                result
                            }
                        })
                        .collect(),
                ),
            )
        }
        RequestKind::InitProducerId(_) => ResponseKind::InitProducerId(
            InitProducerIdResponse::default()
                .with_error_code(code)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1),
        ),
        RequestKind::AddPartitionsToTxn(req) => {
            use add_partitions_to_txn_response::*;
            let topics = |topics: &[add_partitions_to_txn_request::AddPartitionsToTxnTopic]| {
                topics
                    .iter()
                    .map(|t| {
                        AddPartitionsToTxnTopicResult::default()
                            .with_name(t.name.clone())
                            .with_results_by_partition(
                                t.partitions
                                    .iter()
                                    .map(|&p| {
                                        AddPartitionsToTxnPartitionResult::default()
                                            .with_partition_index(p)
                                            .with_partition_error_code(code)
                                    })
                                    .collect(),
                            )
                    })
                    .collect()
            };
            let response = if version >= 4 {
                AddPartitionsToTxnResponse::default().with_error_code(code)
            } else {
                AddPartitionsToTxnResponse::default()
                    .with_results_by_topic_v3_and_below(topics(&req.v3_and_below_topics))
            };
            ResponseKind::AddPartitionsToTxn(response)
        }
        RequestKind::AddOffsetsToTxn(_) => {
            ResponseKind::AddOffsetsToTxn(AddOffsetsToTxnResponse::default().with_error_code(code))
        }
        RequestKind::EndTxn(_) => {
            ResponseKind::EndTxn(EndTxnResponse::default().with_error_code(code))
        }
        RequestKind::TxnOffsetCommit(req) => {
            use txn_offset_commit_response::*;
            ResponseKind::TxnOffsetCommit(
                TxnOffsetCommitResponse::default().with_topics(
                    req.topics
                        .iter()
                        .map(|t| {
                            TxnOffsetCommitResponseTopic::default()
                                .with_name(t.name.clone())
                                .with_partitions(
                                    t.partitions
                                        .iter()
                                        .map(|p| {
                                            TxnOffsetCommitResponsePartition::default()
                                                .with_partition_index(p.partition_index)
                                                .with_error_code(code)
                                        })
                                        .collect(),
                                )
                        })
                        .collect(),
                ),
            )
        }
        RequestKind::CreatePartitions(req) => {
            use create_partitions_response::CreatePartitionsTopicResult;
            ResponseKind::CreatePartitions(
                CreatePartitionsResponse::default().with_results(
                    req.topics
                        .iter()
                        .map(|t| {
                            CreatePartitionsTopicResult::default()
                                .with_name(t.name.clone())
                                .with_error_code(code)
                                .with_error_message(message(error))
                        })
                        .collect(),
                ),
            )
        }
        RequestKind::DescribeConfigs(req) => {
            use describe_configs_response::DescribeConfigsResult;
            ResponseKind::DescribeConfigs(
                DescribeConfigsResponse::default().with_results(
                    req.resources
                        .iter()
                        .map(|r| {
                            DescribeConfigsResult::default()
                                .with_error_code(code)
                                .with_error_message(message(error))
                                .with_resource_type(r.resource_type)
                                .with_resource_name(r.resource_name.clone())
                        })
                        .collect(),
                ),
            )
        }
        RequestKind::AlterConfigs(req) => {
            use alter_configs_response::AlterConfigsResourceResponse;
            ResponseKind::AlterConfigs(
                AlterConfigsResponse::default().with_responses(
                    req.resources
                        .iter()
                        .map(|r| {
                            AlterConfigsResourceResponse::default()
                                .with_error_code(code)
                                .with_error_message(message(error))
                                .with_resource_type(r.resource_type)
                                .with_resource_name(r.resource_name.clone())
                        })
                        .collect(),
                ),
            )
        }
        RequestKind::IncrementalAlterConfigs(req) => {
            use incremental_alter_configs_response::AlterConfigsResourceResponse;
            ResponseKind::IncrementalAlterConfigs(
                IncrementalAlterConfigsResponse::default().with_responses(
                    req.resources
                        .iter()
                        .map(|r| {
                            AlterConfigsResourceResponse::default()
                                .with_error_code(code)
                                .with_error_message(message(error))
                                .with_resource_type(r.resource_type)
                                .with_resource_name(r.resource_name.clone())
                        })
                        .collect(),
                ),
            )
        }
        RequestKind::DeleteRecords(req) => {
            use delete_records_response::{DeleteRecordsPartitionResult, DeleteRecordsTopicResult};
            ResponseKind::DeleteRecords(
                DeleteRecordsResponse::default().with_topics(
                    req.topics
                        .iter()
                        .map(|t| {
                            DeleteRecordsTopicResult::default()
                                .with_name(t.name.clone())
                                .with_partitions(
                                    t.partitions
                                        .iter()
                                        .map(|p| {
                                            DeleteRecordsPartitionResult::default()
                                                .with_partition_index(p.partition_index)
                                                .with_low_watermark(-1)
                                                .with_error_code(code)
                                        })
                                        .collect(),
                                )
                        })
                        .collect(),
                ),
            )
        }
        RequestKind::DescribeCluster(_) => ResponseKind::DescribeCluster(
            DescribeClusterResponse::default()
                .with_error_code(code)
                .with_error_message(message(error))
                .with_cluster_id(StrBytes::from_string(ctx.cluster.cluster_id.clone()))
                .with_controller_id(BrokerId(-1)),
        ),
        RequestKind::DescribeLogDirs(_) => {
            use describe_log_dirs_response::DescribeLogDirsResult;
            // The top-level code exists from v3; before, each log dir carries it.
            let response = DescribeLogDirsResponse::default()
                .with_results(vec![DescribeLogDirsResult::default().with_error_code(code)]);
            ResponseKind::DescribeLogDirs(if version >= 3 {
                response.with_error_code(code)
            } else {
                response
            })
        }
        RequestKind::ElectLeaders(req) => {
            use elect_leaders_response::{PartitionResult, ReplicaElectionResult};
            let named: Vec<(TopicName, Vec<i32>)> = match &req.topic_partitions {
                Some(topics) => topics
                    .iter()
                    .map(|t| (t.topic.clone(), t.partitions.clone()))
                    .collect(),
                // Null: every partition of the cluster.
                None => ctx
                    .cluster
                    .topics
                    .all()
                    .iter()
                    .map(|t| {
                        (
                            topic_name(&t.name),
                            (0..t.partition_count() as i32).collect(),
                        )
                    })
                    .collect(),
            };
            let results = named
                .into_iter()
                .map(|(topic, partitions)| {
                    ReplicaElectionResult::default()
                        .with_topic(topic)
                        .with_partition_result(
                            partitions
                                .into_iter()
                                .map(|p| {
                                    PartitionResult::default()
                                        .with_partition_id(p)
                                        .with_error_code(code)
                                        .with_error_message(message(error))
                                })
                                .collect(),
                        )
                })
                .collect();
            let response = ElectLeadersResponse::default().with_replica_election_results(results);
            ResponseKind::ElectLeaders(if version >= 1 {
                response.with_error_code(code)
            } else {
                response
            })
        }
        RequestKind::AlterPartitionReassignments(_) => ResponseKind::AlterPartitionReassignments(
            AlterPartitionReassignmentsResponse::default()
                .with_error_code(code)
                .with_error_message(message(error)),
        ),
        RequestKind::ListPartitionReassignments(_) => ResponseKind::ListPartitionReassignments(
            ListPartitionReassignmentsResponse::default()
                .with_error_code(code)
                .with_error_message(message(error)),
        ),
        RequestKind::OffsetForLeaderEpoch(req) => {
            use offset_for_leader_epoch_response::{EpochEndOffset, OffsetForLeaderTopicResult};
            ResponseKind::OffsetForLeaderEpoch(
                OffsetForLeaderEpochResponse::default().with_topics(
                    req.topics
                        .iter()
                        .map(|t| {
                            OffsetForLeaderTopicResult::default()
                                .with_topic(t.topic.clone())
                                .with_partitions(
                                    t.partitions
                                        .iter()
                                        .map(|p| {
                                            EpochEndOffset::default()
                                                .with_partition(p.partition)
                                                .with_error_code(code)
                                                .with_leader_epoch(-1)
                                                .with_end_offset(-1)
                                        })
                                        .collect(),
                                )
                        })
                        .collect(),
                ),
            )
        }
        RequestKind::DescribeClientQuotas(_) => ResponseKind::DescribeClientQuotas(
            DescribeClientQuotasResponse::default()
                .with_error_code(code)
                .with_error_message(message(error))
                .with_entries(None),
        ),
        RequestKind::AlterClientQuotas(req) => {
            use alter_client_quotas_response::{EntityData, EntryData};
            ResponseKind::AlterClientQuotas(
                AlterClientQuotasResponse::default().with_entries(
                    req.entries
                        .iter()
                        .map(|e| {
                            EntryData::default()
                                .with_error_code(code)
                                .with_error_message(message(error))
                                .with_entity(
                                    e.entity
                                        .iter()
                                        .map(|d| {
                                            EntityData::default()
                                                .with_entity_type(d.entity_type.clone())
                                                .with_entity_name(d.entity_name.clone())
                                        })
                                        .collect(),
                                )
                        })
                        .collect(),
                ),
            )
        }
        RequestKind::DescribeTransactions(req) => {
            use describe_transactions_response::TransactionState;
            ResponseKind::DescribeTransactions(
                DescribeTransactionsResponse::default().with_transaction_states(
                    req.transactional_ids
                        .iter()
                        .map(|id| {
                            TransactionState::default()
                                .with_transactional_id(id.clone())
                                .with_error_code(code)
                                .with_producer_id(ProducerId(-1))
                                .with_producer_epoch(-1)
                        })
                        .collect(),
                ),
            )
        }
        RequestKind::ListTransactions(_) => ResponseKind::ListTransactions(
            ListTransactionsResponse::default().with_error_code(code),
        ),
        RequestKind::DescribeProducers(req) => {
            use describe_producers_response::{PartitionResponse, TopicResponse};
            ResponseKind::DescribeProducers(
                DescribeProducersResponse::default().with_topics(
                    req.topics
                        .iter()
                        .map(|t| {
                            TopicResponse::default()
                                .with_name(t.name.clone())
                                .with_partitions(
                                    t.partition_indexes
                                        .iter()
                                        .map(|&p| {
                                            PartitionResponse::default()
                                                .with_partition_index(p)
                                                .with_error_code(code)
                                                .with_error_message(message(error))
                                        })
                                        .collect(),
                                )
                        })
                        .collect(),
                ),
            )
        }
        RequestKind::CreateAcls(req) => {
            use create_acls_response::AclCreationResult;
            ResponseKind::CreateAcls(
                CreateAclsResponse::default().with_results(
                    req.creations
                        .iter()
                        .map(|_| {
                            AclCreationResult::default()
                                .with_error_code(code)
                                .with_error_message(message(error))
                        })
                        .collect(),
                ),
            )
        }
        RequestKind::DescribeAcls(_) => ResponseKind::DescribeAcls(
            DescribeAclsResponse::default()
                .with_error_code(code)
                .with_error_message(message(error)),
        ),
        RequestKind::DeleteAcls(req) => {
            use delete_acls_response::DeleteAclsFilterResult;
            ResponseKind::DeleteAcls(
                DeleteAclsResponse::default().with_filter_results(
                    req.filters
                        .iter()
                        .map(|_| {
                            DeleteAclsFilterResult::default()
                                .with_error_code(code)
                                .with_error_message(message(error))
                        })
                        .collect(),
                ),
            )
        }
        RequestKind::SaslHandshake(_) => {
            ResponseKind::SaslHandshake(SaslHandshakeResponse::default().with_error_code(code))
        }
        RequestKind::SaslAuthenticate(_) => ResponseKind::SaslAuthenticate(
            SaslAuthenticateResponse::default()
                .with_error_code(code)
                .with_error_message(message(error)),
        ),
        RequestKind::DescribeUserScramCredentials(_) => ResponseKind::DescribeUserScramCredentials(
            DescribeUserScramCredentialsResponse::default()
                .with_error_code(code)
                .with_error_message(message(error)),
        ),
        RequestKind::AlterUserScramCredentials(req) => {
            use alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
            let users = req
                .deletions
                .iter()
                .map(|d| d.name.clone())
                .chain(req.upsertions.iter().map(|u| u.name.clone()));
            ResponseKind::AlterUserScramCredentials(
                AlterUserScramCredentialsResponse::default().with_results(
                    users
                        .map(|user| {
                            AlterUserScramCredentialsResult::default()
                                .with_user(user)
                                .with_error_code(code)
                                .with_error_message(message(error))
                        })
                        .collect(),
                ),
            )
        }
        RequestKind::DescribeTopicPartitions(req) => {
            use describe_topic_partitions_response::DescribeTopicPartitionsResponseTopic;
            ResponseKind::DescribeTopicPartitions(
                DescribeTopicPartitionsResponse::default().with_topics(
                    req.topics
                        .iter()
                        .map(|t| {
                            DescribeTopicPartitionsResponseTopic::default()
                                .with_name(Some(t.name.clone()))
                                .with_error_code(code)
                        })
                        .collect(),
                ),
            )
        }
        RequestKind::ConsumerGroupHeartbeat(_) => {
            whole!(ConsumerGroupHeartbeat, ConsumerGroupHeartbeatResponse)
        }
        RequestKind::ConsumerGroupDescribe(req) => by_group!(
            ConsumerGroupDescribe,
            ConsumerGroupDescribeResponse,
            consumer_group_describe_response,
            req.group_ids
        ),
        RequestKind::ShareGroupHeartbeat(_) => {
            whole!(ShareGroupHeartbeat, ShareGroupHeartbeatResponse)
        }
        RequestKind::ShareGroupDescribe(req) => by_group!(
            ShareGroupDescribe,
            ShareGroupDescribeResponse,
            share_group_describe_response,
            req.group_ids
        ),
        // Share requests fail as a whole, at the top level, as Kafka fails them.
        RequestKind::ShareFetch(_) => whole!(ShareFetch, ShareFetchResponse),
        RequestKind::ShareAcknowledge(_) => whole!(ShareAcknowledge, ShareAcknowledgeResponse),
        RequestKind::DescribeShareGroupOffsets(req) => {
            use describe_share_group_offsets_response::DescribeShareGroupOffsetsResponseGroup;
            let groups = req.groups.iter().map(|g| {
                DescribeShareGroupOffsetsResponseGroup::default()
                    .with_group_id(g.group_id.clone())
                    .with_error_code(code)
                    .with_error_message(message(error))
            });
            ResponseKind::DescribeShareGroupOffsets(
                DescribeShareGroupOffsetsResponse::default().with_groups(groups.collect()),
            )
        }
        RequestKind::UpdateFeatures(_) => ResponseKind::UpdateFeatures(
            UpdateFeaturesResponse::default()
                .with_error_code(code)
                .with_error_message(message(error)),
        ),
        RequestKind::AlterReplicaLogDirs(req) => {
            use alter_replica_log_dirs_response::{
                AlterReplicaLogDirPartitionResult, AlterReplicaLogDirTopicResult,
            };
            ResponseKind::AlterReplicaLogDirs(
                AlterReplicaLogDirsResponse::default().with_results(
                    req.dirs
                        .iter()
                        .flat_map(|d| d.topics.iter())
                        .map(|t| {
                            AlterReplicaLogDirTopicResult::default()
                                .with_topic_name(t.name.clone())
                                .with_partitions(
                                    t.partitions
                                        .iter()
                                        .map(|&p| {
                                            AlterReplicaLogDirPartitionResult::default()
                                                .with_partition_index(p)
                                                .with_error_code(code)
                                        })
                                        .collect(),
                                )
                        })
                        .collect(),
                ),
            )
        }
        RequestKind::CreateDelegationToken(_) => ResponseKind::CreateDelegationToken(
            CreateDelegationTokenResponse::default()
                .with_error_code(code)
                .with_issue_timestamp_ms(-1)
                .with_expiry_timestamp_ms(-1)
                .with_max_timestamp_ms(-1),
        ),
        RequestKind::RenewDelegationToken(_) => ResponseKind::RenewDelegationToken(
            RenewDelegationTokenResponse::default()
                .with_error_code(code)
                .with_expiry_timestamp_ms(-1),
        ),
        RequestKind::ExpireDelegationToken(_) => ResponseKind::ExpireDelegationToken(
            ExpireDelegationTokenResponse::default()
                .with_error_code(code)
                .with_expiry_timestamp_ms(-1),
        ),
        RequestKind::DescribeDelegationToken(_) => ResponseKind::DescribeDelegationToken(
            DescribeDelegationTokenResponse::default().with_error_code(code),
        ),
        RequestKind::UnregisterBroker(_) => ResponseKind::UnregisterBroker(
            UnregisterBrokerResponse::default()
                .with_error_code(code)
                .with_error_message(message(error)),
        ),
        RequestKind::DescribeQuorum(_) => {
            let response = DescribeQuorumResponse::default().with_error_code(code);
            // The message came with v2.
            ResponseKind::DescribeQuorum(if version >= 2 {
                response.with_error_message(message(error))
            } else {
                response
            })
        }
        RequestKind::ListConfigResources(_) => ResponseKind::ListConfigResources(
            ListConfigResourcesResponse::default().with_error_code(code),
        ),
        RequestKind::AddRaftVoter(_) => ResponseKind::AddRaftVoter(
            AddRaftVoterResponse::default()
                .with_error_code(code)
                .with_error_message(message(error)),
        ),
        RequestKind::RemoveRaftVoter(_) => ResponseKind::RemoveRaftVoter(
            RemoveRaftVoterResponse::default()
                .with_error_code(code)
                .with_error_message(message(error)),
        ),
        RequestKind::AlterShareGroupOffsets(_) => {
            whole!(AlterShareGroupOffsets, AlterShareGroupOffsetsResponse)
        }
        RequestKind::DeleteShareGroupOffsets(_) => {
            whole!(DeleteShareGroupOffsets, DeleteShareGroupOffsetsResponse)
        }
        _ => return None,
    };
    Some(response)
}

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

/// A topic named in a request: by its name, or (from the versions that carry them) by its id.
fn named(name: &str, topic_id: &uuid::Uuid, cluster: &Cluster) -> Option<String> {
    if topic_id.is_nil() {
        Some(name.to_string())
    } else {
        cluster.topics.get_by_id(topic_id).map(|t| t.name.clone())
    }
}

/// The topics a request names (by name; topic ids are looked up), for faults that filter by
/// topic. Requests that name no topics (groups, coordinators) list none.
pub fn topics(body: &RequestKind, cluster: &Cluster) -> Vec<String> {
    let by_id = |ids: &mut dyn Iterator<Item = &uuid::Uuid>| -> Vec<String> {
        ids.filter_map(|id| cluster.topics.get_by_id(id).map(|t| t.name.clone()))
            .collect()
    };
    let names: Vec<String> = match body {
        RequestKind::Produce(req) => req
            .topic_data
            .iter()
            .filter_map(|t| named(&t.name, &t.topic_id, cluster))
            .collect(),
        RequestKind::Fetch(req) => req
            .topics
            .iter()
            .filter_map(|t| named(&t.topic, &t.topic_id, cluster))
            .collect(),
        RequestKind::ListOffsets(req) => req.topics.iter().map(|t| t.name.to_string()).collect(),
        RequestKind::Metadata(req) => req
            .topics
            .iter()
            .flatten()
            .filter_map(|t| match &t.name {
                Some(name) => Some(name.to_string()),
                None => cluster
                    .topics
                    .get_by_id(&t.topic_id)
                    .map(|t| t.name.clone()),
            })
            .collect(),
        RequestKind::OffsetCommit(req) => req.topics.iter().map(|t| t.name.to_string()).collect(),
        RequestKind::OffsetFetch(req) => req
            .topics
            .iter()
            .flatten()
            .map(|t| t.name.to_string())
            .chain(
                req.groups
                    .iter()
                    .flat_map(|g| g.topics.iter().flatten())
                    .map(|t| t.name.to_string()),
            )
            .collect(),
        RequestKind::CreateTopics(req) => req.topics.iter().map(|t| t.name.to_string()).collect(),
        RequestKind::DeleteTopics(req) => req
            .topic_names
            .iter()
            .map(|n| n.to_string())
            .chain(req.topics.iter().filter_map(|t| {
                match &t.name {
                    Some(name) => Some(name.to_string()),
                    None => cluster
                        .topics
                        .get_by_id(&t.topic_id)
                        .map(|t| t.name.clone()),
                }
            }))
            .collect(),
        RequestKind::OffsetDelete(req) => req.topics.iter().map(|t| t.name.to_string()).collect(),
        RequestKind::AddPartitionsToTxn(req) => req
            .v3_and_below_topics
            .iter()
            .chain(req.transactions.iter().flat_map(|t| t.topics.iter()))
            .map(|t| t.name.to_string())
            .collect(),
        RequestKind::TxnOffsetCommit(req) => {
            req.topics.iter().map(|t| t.name.to_string()).collect()
        }
        // Share requests name topics by id only.
        RequestKind::ShareFetch(req) => by_id(&mut req.topics.iter().map(|t| &t.topic_id)),
        RequestKind::ShareAcknowledge(req) => by_id(&mut req.topics.iter().map(|t| &t.topic_id)),
        _ => Vec::new(),
    };
    names
}

/// The first error code a response carries: its top-level code, else the first non-zero code
/// of a topic, partition, group or coordinator in it. 0 when all went well.
pub fn error_code(response: &ResponseKind) -> i16 {
    fn first(codes: impl IntoIterator<Item = i16>) -> i16 {
        codes.into_iter().find(|&c| c != 0).unwrap_or(0)
    }
    match response {
        ResponseKind::Produce(r) => first(
            r.responses
                .iter()
                .flat_map(|t| t.partition_responses.iter().map(|p| p.error_code)),
        ),
        ResponseKind::Fetch(r) => first(
            std::iter::once(r.error_code).chain(
                r.responses
                    .iter()
                    .flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
            ),
        ),
        ResponseKind::ListOffsets(r) => first(
            r.topics
                .iter()
                .flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
        ),
        ResponseKind::Metadata(r) => first(r.topics.iter().flat_map(|t| {
            std::iter::once(t.error_code).chain(t.partitions.iter().map(|p| p.error_code))
        })),
        ResponseKind::OffsetCommit(r) => first(
            r.topics
                .iter()
                .flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
        ),
        ResponseKind::OffsetFetch(r) => first(
            std::iter::once(r.error_code)
                .chain(
                    r.topics
                        .iter()
                        .flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
                )
                .chain(r.groups.iter().flat_map(|g| {
                    std::iter::once(g.error_code).chain(
                        g.topics
                            .iter()
                            .flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
                    )
                })),
        ),
        ResponseKind::FindCoordinator(r) => {
            first(std::iter::once(r.error_code).chain(r.coordinators.iter().map(|c| c.error_code)))
        }
        ResponseKind::JoinGroup(r) => r.error_code,
        ResponseKind::SyncGroup(r) => r.error_code,
        ResponseKind::Heartbeat(r) => r.error_code,
        ResponseKind::LeaveGroup(r) => {
            first(std::iter::once(r.error_code).chain(r.members.iter().map(|m| m.error_code)))
        }
        ResponseKind::DescribeGroups(r) => first(r.groups.iter().map(|g| g.error_code)),
        ResponseKind::ListGroups(r) => r.error_code,
        ResponseKind::DeleteGroups(r) => first(r.results.iter().map(|g| g.error_code)),
        ResponseKind::OffsetDelete(r) => first(
            std::iter::once(r.error_code).chain(
                r.topics
                    .iter()
                    .flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
            ),
        ),
        ResponseKind::ApiVersions(r) => r.error_code,
        ResponseKind::CreateTopics(r) => first(r.topics.iter().map(|t| t.error_code)),
        ResponseKind::DeleteTopics(r) => first(r.responses.iter().map(|t| t.error_code)),
        ResponseKind::InitProducerId(r) => r.error_code,
        ResponseKind::AddPartitionsToTxn(r) => first(
            std::iter::once(r.error_code)
                .chain(
                    r.results_by_topic_v3_and_below
                        .iter()
                        .flat_map(|t| t.results_by_partition.iter())
                        .map(|p| p.partition_error_code),
                )
                .chain(
                    r.results_by_transaction
                        .iter()
                        .flat_map(|t| t.topic_results.iter())
                        .flat_map(|t| t.results_by_partition.iter())
                        .map(|p| p.partition_error_code),
                ),
        ),
        ResponseKind::AddOffsetsToTxn(r) => r.error_code,
        ResponseKind::EndTxn(r) => r.error_code,
        ResponseKind::TxnOffsetCommit(r) => first(
            r.topics
                .iter()
                .flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
        ),
        ResponseKind::CreatePartitions(r) => first(r.results.iter().map(|t| t.error_code)),
        ResponseKind::DescribeConfigs(r) => first(r.results.iter().map(|t| t.error_code)),
        ResponseKind::AlterConfigs(r) => first(r.responses.iter().map(|t| t.error_code)),
        ResponseKind::IncrementalAlterConfigs(r) => first(r.responses.iter().map(|t| t.error_code)),
        ResponseKind::DeleteRecords(r) => first(
            r.topics
                .iter()
                .flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
        ),
        ResponseKind::DescribeCluster(r) => r.error_code,
        ResponseKind::AlterReplicaLogDirs(r) => first(
            r.results
                .iter()
                .flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
        ),
        ResponseKind::UnregisterBroker(r) => r.error_code,
        ResponseKind::CreateDelegationToken(r) => r.error_code,
        ResponseKind::RenewDelegationToken(r) => r.error_code,
        ResponseKind::ExpireDelegationToken(r) => r.error_code,
        ResponseKind::DescribeDelegationToken(r) => r.error_code,
        ResponseKind::DescribeQuorum(r) => first(
            std::iter::once(r.error_code).chain(
                r.topics
                    .iter()
                    .flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
            ),
        ),
        ResponseKind::ListConfigResources(r) => r.error_code,
        ResponseKind::AddRaftVoter(r) => r.error_code,
        ResponseKind::RemoveRaftVoter(r) => r.error_code,
        ResponseKind::DescribeLogDirs(r) => {
            first(std::iter::once(r.error_code).chain(r.results.iter().map(|d| d.error_code)))
        }
        ResponseKind::ElectLeaders(r) => first(
            std::iter::once(r.error_code).chain(
                r.replica_election_results
                    .iter()
                    .flat_map(|t| t.partition_result.iter().map(|p| p.error_code)),
            ),
        ),
        ResponseKind::AlterPartitionReassignments(r) => first(
            std::iter::once(r.error_code).chain(
                r.responses
                    .iter()
                    .flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
            ),
        ),
        ResponseKind::ListPartitionReassignments(r) => r.error_code,
        ResponseKind::OffsetForLeaderEpoch(r) => first(
            r.topics
                .iter()
                .flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
        ),
        ResponseKind::DescribeClientQuotas(r) => r.error_code,
        ResponseKind::AlterClientQuotas(r) => first(r.entries.iter().map(|e| e.error_code)),
        ResponseKind::DescribeTransactions(r) => {
            first(r.transaction_states.iter().map(|t| t.error_code))
        }
        ResponseKind::ListTransactions(r) => r.error_code,
        ResponseKind::DescribeProducers(r) => first(
            r.topics
                .iter()
                .flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
        ),
        ResponseKind::CreateAcls(r) => first(r.results.iter().map(|a| a.error_code)),
        ResponseKind::DescribeAcls(r) => r.error_code,
        ResponseKind::DeleteAcls(r) => first(r.filter_results.iter().map(|f| f.error_code)),
        ResponseKind::DescribeUserScramCredentials(r) => {
            first(std::iter::once(r.error_code).chain(r.results.iter().map(|u| u.error_code)))
        }
        ResponseKind::AlterUserScramCredentials(r) => first(r.results.iter().map(|u| u.error_code)),
        ResponseKind::DescribeTopicPartitions(r) => first(r.topics.iter().flat_map(|t| {
            std::iter::once(t.error_code).chain(t.partitions.iter().map(|p| p.error_code))
        })),
        ResponseKind::ConsumerGroupHeartbeat(r) => r.error_code,
        ResponseKind::ConsumerGroupDescribe(r) => first(r.groups.iter().map(|g| g.error_code)),
        ResponseKind::UpdateFeatures(r) => r.error_code,
        ResponseKind::ShareGroupHeartbeat(r) => r.error_code,
        ResponseKind::ShareGroupDescribe(r) => first(r.groups.iter().map(|g| g.error_code)),
        ResponseKind::ShareFetch(r) => first(
            std::iter::once(r.error_code).chain(
                r.responses
                    .iter()
                    .flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
            ),
        ),
        ResponseKind::ShareAcknowledge(r) => first(
            std::iter::once(r.error_code).chain(
                r.responses
                    .iter()
                    .flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
            ),
        ),
        ResponseKind::DescribeShareGroupOffsets(r) => first(r.groups.iter().map(|g| g.error_code)),
        ResponseKind::AlterShareGroupOffsets(r) => r.error_code,
        ResponseKind::DeleteShareGroupOffsets(r) => r.error_code,
        ResponseKind::SaslHandshake(r) => r.error_code,
        ResponseKind::SaslAuthenticate(r) => r.error_code,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::handlers::tests::sample_request;
    use crate::handlers::SUPPORTED_APIS;
    use crate::protocol::encode_response;
    use crate::state::{BrokerConfig, BrokerNode};
    use kafka_protocol::messages::RequestHeader;
    use tokio::sync::watch;

    fn context(api_key: ApiKey, version: i16) -> RequestContext {
        let cluster = Arc::new(Cluster::new("test".into(), BrokerConfig::default()));
        cluster.add_broker(BrokerNode {
            node_id: 0,
            host: "127.0.0.1".into(),
            port: 9092,
        });
        let spec = cluster.topic_spec("t", 2, 1, Default::default()).unwrap();
        cluster.topics.create(spec).unwrap();
        RequestContext {
            cluster,
            broker_id: 0,
            header: RequestHeader::default()
                .with_request_api_key(api_key as i16)
                .with_request_api_version(version),
            client_host: "/127.0.0.1".into(),
            principal: crate::handlers::ANONYMOUS.into(),
            token_authenticated: false,
            listener: "PLAINTEXT".into(),
            connection_id: 0,
            shutdown: watch::channel(false).1,
        }
    }

    /// Every advertised API can be failed, at every advertised version, and the error response
    /// encodes at that version and carries the error.
    #[test]
    fn every_advertised_api_has_an_error_response() {
        let error = ResponseError::NotLeaderOrFollower;
        for &(api_key, min, max) in SUPPORTED_APIS {
            assert!(
                FAILABLE_APIS.contains(&api_key),
                "{api_key:?} is advertised but has no error response: add it to error_response.rs"
            );
            for version in min..=max {
                let ctx = context(api_key, version);
                let body = sample_request(api_key, version);
                let response = build(&ctx, &body, error)
                    .unwrap_or_else(|| panic!("{api_key:?} v{version}: no error response"));
                encode_response(api_key, version, 1, &response)
                    .unwrap_or_else(|e| panic!("{api_key:?} v{version}: {e}"));
                // These samples name nothing to fail, so their responses list nothing.
                let names_nothing = match api_key {
                    ApiKey::AlterClientQuotas | ApiKey::AlterUserScramCredentials => true,
                    // v0 has no top-level error code, and the sample names no partition.
                    ApiKey::ElectLeaders => version == 0,
                    _ => false,
                };
                if !names_nothing {
                    assert_eq!(
                        error_code(&response),
                        error.code(),
                        "{api_key:?} v{version}"
                    );
                }
            }
        }
    }

    /// APIs that are not advertised yet (transactions) still build responses that encode.
    #[test]
    fn error_responses_of_apis_not_yet_served_encode() {
        for &api_key in FAILABLE_APIS {
            if crate::handlers::supported_versions(api_key).is_some() {
                continue;
            }
            let range = api_key.valid_versions();
            for version in range.min..=range.max {
                let ctx = context(api_key, version);
                let body = default_request(api_key);
                let response = build(&ctx, &body, ResponseError::CoordinatorNotAvailable)
                    .unwrap_or_else(|| panic!("{api_key:?}: no error response"));
                encode_response(api_key, version, 1, &response)
                    .unwrap_or_else(|e| panic!("{api_key:?} v{version}: {e}"));
            }
        }
    }

    fn default_request(api_key: ApiKey) -> RequestKind {
        match api_key {
            ApiKey::InitProducerId => RequestKind::InitProducerId(Default::default()),
            ApiKey::AddPartitionsToTxn => RequestKind::AddPartitionsToTxn(
                AddPartitionsToTxnRequest::default().with_v3_and_below_topics(vec![
                    add_partitions_to_txn_request::AddPartitionsToTxnTopic::default()
                        .with_name(topic_name("t"))
                        .with_partitions(vec![0]),
                ]),
            ),
            ApiKey::AddOffsetsToTxn => RequestKind::AddOffsetsToTxn(Default::default()),
            ApiKey::EndTxn => RequestKind::EndTxn(Default::default()),
            ApiKey::TxnOffsetCommit => RequestKind::TxnOffsetCommit(Default::default()),
            other => panic!("no default request for {other:?}"),
        }
    }

    #[test]
    fn topics_named_by_a_request_are_listed() {
        let ctx = context(ApiKey::Produce, 9);
        let produce = sample_request(ApiKey::Produce, 9);
        assert_eq!(topics(&produce, &ctx.cluster), vec!["t".to_string()]);
        let heartbeat = sample_request(ApiKey::Heartbeat, 4);
        assert!(topics(&heartbeat, &ctx.cluster).is_empty());
        // Fetch v13 names topics by id.
        let id = ctx.cluster.topics.get("t").unwrap().id;
        let fetch = RequestKind::Fetch(
            FetchRequest::default()
                .with_topics(vec![fetch_request::FetchTopic::default().with_topic_id(id)]),
        );
        assert_eq!(topics(&fetch, &ctx.cluster), vec!["t".to_string()]);
        let share_fetch = RequestKind::ShareFetch(ShareFetchRequest::default().with_topics(vec![
            share_fetch_request::FetchTopic::default().with_topic_id(id),
        ]));
        assert_eq!(topics(&share_fetch, &ctx.cluster), vec!["t".to_string()]);
    }

    #[test]
    fn a_produce_with_acks_0_is_never_answered() {
        let ctx = context(ApiKey::Produce, 9);
        let body = RequestKind::Produce(ProduceRequest::default().with_acks(0));
        assert!(build(&ctx, &body, ResponseError::NotLeaderOrFollower).is_none());
    }
}
