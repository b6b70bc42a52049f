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
];

fn message(error: ResponseError) -> Option<StrBytes> {
    Some(StrBytes::from_string(format!(
        "{} (injected by kafka-emulator)",
        crate::faults::error_name(error)
    )))
}

/// The response to `body` in which everything failed with `error`; `None` for an API not in
/// `FAILABLE_APIS`, and for a produce with acks=0, which is never answered.
pub fn build(
    ctx: &RequestContext,
    body: &RequestKind,
    error: ResponseError,
) -> Option<ResponseKind> {
    let code = error.code();
    let version = ctx.version();
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
                            TopicProduceResponse::default()
                                .with_name(t.name.clone())
                                .with_partition_responses(
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
        _ => return None,
    };
    Some(response)
}

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

/// The topics a request names (by name; topic ids are looked up), for faults that filter by
/// topic. Requests that name no topics (groups, coordinators) list none.
pub fn topics(body: &RequestKind, cluster: &Cluster) -> Vec<String> {
    let names: Vec<String> = match body {
        RequestKind::Produce(req) => req.topic_data.iter().map(|t| t.name.to_string()).collect(),
        RequestKind::Fetch(req) => req
            .topics
            .iter()
            .filter_map(|t| {
                if t.topic_id.is_nil() {
                    Some(t.topic.to_string())
                } else {
                    cluster
                        .topics
                        .get_by_id(&t.topic_id)
                        .map(|t| t.name.clone())
                }
            })
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
                assert_eq!(
                    error_code(&response),
                    error.code(),
                    "{api_key:?} v{version}"
                );
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
    }

    #[test]
    fn a_produce_with_acks_0_is_never_answered() {
        let ctx = context(ApiKey::Produce, 9);
        let body = RequestKind::Produce(ProduceRequest::default().with_acks(0));
        assert!(build(&ctx, &body, ResponseError::NotLeaderOrFollower).is_none());
    }
}
