//! Authorization of a request: may its principal, from its host, perform an operation on a
//! resource. Every handler asks here; the decision itself is `state::security::acls`.

use kafka_protocol::error::ResponseError;

pub use crate::state::security::acls::{operation, resource, CLUSTER_NAME};

use super::RequestContext;

/// The client's address as ACLs name hosts: the bare IP (`127.0.0.1`), not `/127.0.0.1`.
fn host(ctx: &RequestContext) -> &str {
    ctx.client_host.trim_start_matches('/')
}

/// Whether the request's principal may perform `op` on the resource.
pub fn allowed(ctx: &RequestContext, resource_type: i8, name: &str, op: i8) -> bool {
    ctx.cluster
        .acls
        .authorize(&ctx.principal, host(ctx), resource_type, name, op)
}

/// Whether the request's principal may perform `op` on some resource of the type.
pub fn allowed_on_any(ctx: &RequestContext, resource_type: i8, op: i8) -> bool {
    ctx.cluster
        .acls
        .authorize_by_resource_type(&ctx.principal, host(ctx), resource_type, op)
}

/// A group's authorized operations as the group Describe APIs report them: only when asked
/// (`include`), else Kafka's "left out" value.
pub fn group_operations(ctx: &RequestContext, include: bool, group_id: &str) -> i32 {
    if include {
        authorized_operations(ctx, resource::GROUP, group_id)
    } else {
        i32::MIN
    }
}

/// The authorized operations bitfield of a resource, as Metadata and the describe APIs report
/// it.
pub fn authorized_operations(ctx: &RequestContext, resource_type: i8, name: &str) -> i32 {
    ctx.cluster
        .acls
        .authorized_operations(&ctx.principal, host(ctx), resource_type, name)
}

/// CLUSTER_AUTHORIZATION_FAILED unless `op` on the cluster is allowed.
pub fn cluster(ctx: &RequestContext, op: i8) -> Result<(), ResponseError> {
    check(
        allowed(ctx, resource::CLUSTER, CLUSTER_NAME, op),
        ResponseError::ClusterAuthorizationFailed,
    )
}

/// TOPIC_AUTHORIZATION_FAILED unless `op` on the topic is allowed.
pub fn topic(ctx: &RequestContext, name: &str, op: i8) -> Result<(), ResponseError> {
    check(
        allowed(ctx, resource::TOPIC, name, op),
        ResponseError::TopicAuthorizationFailed,
    )
}

/// GROUP_AUTHORIZATION_FAILED unless `op` on the group is allowed.
pub fn group(ctx: &RequestContext, group_id: &str, op: i8) -> Result<(), ResponseError> {
    check(
        allowed(ctx, resource::GROUP, group_id, op),
        ResponseError::GroupAuthorizationFailed,
    )
}

/// TRANSACTIONAL_ID_AUTHORIZATION_FAILED unless `op` on the transactional id is allowed.
pub fn transactional_id(ctx: &RequestContext, id: &str, op: i8) -> Result<(), ResponseError> {
    check(
        allowed(ctx, resource::TRANSACTIONAL_ID, id, op),
        ResponseError::TransactionalIdAuthorizationFailed,
    )
}

fn check(allowed: bool, error: ResponseError) -> Result<(), ResponseError> {
    if allowed {
        Ok(())
    } else {
        Err(error)
    }
}

/// The message Kafka gives with an authorization error.
pub fn message(error: ResponseError) -> &'static str {
    match error {
        ResponseError::TopicAuthorizationFailed => "Topic authorization failed.",
        ResponseError::GroupAuthorizationFailed => "Group authorization failed.",
        ResponseError::ClusterAuthorizationFailed => "Cluster authorization failed.",
        ResponseError::TransactionalIdAuthorizationFailed => {
            "Transactional Id authorization failed."
        }
        _ => "Authorization failed.",
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::BytesMut;
    use kafka_protocol::messages::*;
    use kafka_protocol::protocol::{encode_request_header_into_buffer, StrBytes};
    use tokio::sync::watch;

    use crate::handlers::tests::sample_request;
    use crate::handlers::{handle, supported_versions, SUPPORTED_APIS};
    use crate::protocol::{decode_request, encode_response};
    use crate::state::security::acls::AuthorizerConfig;
    use crate::state::{BrokerConfig, Cluster};

    use super::*;

    fn enforcing_cluster() -> Arc<Cluster> {
        let config = BrokerConfig {
            authorizer: AuthorizerConfig {
                enabled: true,
                super_users: vec![],
                allow_everyone_if_no_acl_found: false,
            },
            ..Default::default()
        };
        crate::handlers::tests::test_cluster_with(config, 1)
    }

    /// Every API at every version, from a principal no ACL allows anything: the refusals
    /// encode at the version asked, and name the resource Kafka would name.
    #[test]
    fn every_api_refuses_a_principal_without_acls() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let cluster = enforcing_cluster();
        let (_stop, shutdown) = watch::channel(false);
        for &(api_key, min, max) in SUPPORTED_APIS {
            if matches!(api_key, ApiKey::SaslHandshake | ApiKey::SaslAuthenticate) {
                // Authentication itself: served before there is a principal to authorize.
                continue;
            }
            for version in min..=max {
                let header = RequestHeader::default()
                    .with_request_api_key(api_key as i16)
                    .with_request_api_version(version)
                    .with_correlation_id(7);
                let mut frame = BytesMut::new();
                encode_request_header_into_buffer(&mut frame, &header).unwrap();
                sample_request(api_key, version)
                    .encode(&mut frame, version)
                    .unwrap();
                let request = decode_request(frame.freeze(), supported_versions).unwrap();
                let ctx = RequestContext {
                    cluster: cluster.clone(),
                    broker_id: 0,
                    header: request.header,
                    client_host: "/127.0.0.1".into(),
                    principal: "User:mallory".into(),
                    token_authenticated: false,
                    listener: "PLAINTEXT".into(),
                    connection_id: 0,
                    shutdown: shutdown.clone(),
                };
                let response = runtime.block_on(handle(&ctx, request.body)).unwrap();
                encode_response(api_key, version, 7, &response)
                    .unwrap_or_else(|e| panic!("{api_key:?} v{version}: {e}"));
                let (mut expected, found) = refusal(&response);
                if (api_key == ApiKey::Fetch || api_key == ApiKey::Produce) && version >= 13 {
                    // The sample names its topic by an unknown id: unknown before anything else,
                    // as Kafka answers (there is no name to authorize).
                    expected = Some(ResponseError::UnknownTopicId);
                }
                assert_eq!(found, expected.map(|e| e.code()), "{api_key:?} v{version}");
            }
        }
        assert!(cluster.topics.get("new").is_none(), "CreateTopics created");
        assert!(cluster.topics.get("t").is_some(), "DeleteTopics deleted");
    }

    /// The error a refused request carries where a client reads it, with the error expected
    /// (`None` where Kafka does not refuse).
    fn refusal(response: &ResponseKind) -> (Option<ResponseError>, Option<i16>) {
        use ResponseError::*;
        let topic = Some(TopicAuthorizationFailed);
        let group = Some(GroupAuthorizationFailed);
        let cluster = Some(ClusterAuthorizationFailed);
        let txn = Some(TransactionalIdAuthorizationFailed);
        match response {
            ResponseKind::Produce(r) => (
                topic,
                Some(r.responses[0].partition_responses[0].error_code),
            ),
            ResponseKind::Fetch(r) => (topic, Some(r.responses[0].partitions[0].error_code)),
            ResponseKind::ListOffsets(r) => (topic, Some(r.topics[0].partitions[0].error_code)),
            ResponseKind::Metadata(r) => (topic, Some(r.topics[0].error_code)),
            ResponseKind::CreateTopics(r) => (topic, Some(r.topics[0].error_code)),
            ResponseKind::DeleteTopics(r) => (topic, Some(r.responses[0].error_code)),
            ResponseKind::FindCoordinator(r) => match r.coordinators.first() {
                Some(c) => (group, Some(c.error_code)),
                None => (group, Some(r.error_code)),
            },
            ResponseKind::JoinGroup(r) => (group, Some(r.error_code)),
            ResponseKind::SyncGroup(r) => (group, Some(r.error_code)),
            ResponseKind::Heartbeat(r) => (group, Some(r.error_code)),
            ResponseKind::LeaveGroup(r) => (group, Some(r.error_code)),
            ResponseKind::OffsetCommit(r) => (group, Some(r.topics[0].partitions[0].error_code)),
            ResponseKind::OffsetFetch(r) => match r.groups.first() {
                Some(g) => (group, Some(g.error_code)),
                None => (group, Some(r.error_code)),
            },
            ResponseKind::DescribeGroups(r) => (group, Some(r.groups[0].error_code)),
            ResponseKind::ListGroups(r) => (None, r.groups.first().map(|_| -1)),
            ResponseKind::DeleteGroups(r) => (group, Some(r.results[0].error_code)),
            ResponseKind::OffsetDelete(r) => (group, Some(r.error_code)),
            ResponseKind::CreatePartitions(r) => (topic, Some(r.results[0].error_code)),
            ResponseKind::DescribeConfigs(r) => {
                assert_eq!(r.results[1].error_code, ClusterAuthorizationFailed.code());
                (topic, Some(r.results[0].error_code))
            }
            ResponseKind::AlterConfigs(r) => (topic, Some(r.responses[0].error_code)),
            ResponseKind::IncrementalAlterConfigs(r) => (topic, Some(r.responses[0].error_code)),
            ResponseKind::DeleteRecords(r) => (topic, Some(r.topics[0].partitions[0].error_code)),
            // DescribeCluster is open to all, as in Kafka.
            ResponseKind::DescribeCluster(r) => (None, (r.error_code != 0).then_some(r.error_code)),
            ResponseKind::DescribeLogDirs(r) => (None, r.results.first().map(|_| -1)),
            ResponseKind::ElectLeaders(r) => {
                assert!(r.replica_election_results.is_empty());
                (None, None)
            }
            ResponseKind::AlterPartitionReassignments(r) => (cluster, Some(r.error_code)),
            ResponseKind::ListPartitionReassignments(r) => (cluster, Some(r.error_code)),
            ResponseKind::OffsetForLeaderEpoch(r) => {
                (topic, Some(r.topics[0].partitions[0].error_code))
            }
            ResponseKind::DescribeClientQuotas(r) => (cluster, Some(r.error_code)),
            ResponseKind::AlterClientQuotas(r) => (None, r.entries.first().map(|_| -1)),
            ResponseKind::InitProducerId(r) => (txn, Some(r.error_code)),
            // v4+ comes from brokers: CLUSTER_ACTION on the cluster, for the whole request.
            ResponseKind::AddPartitionsToTxn(r) if r.results_by_topic_v3_and_below.is_empty() => {
                (cluster, Some(r.error_code))
            }
            ResponseKind::AddPartitionsToTxn(r) => (
                txn,
                Some(
                    r.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code,
                ),
            ),
            ResponseKind::AddOffsetsToTxn(r) => (txn, Some(r.error_code)),
            ResponseKind::EndTxn(r) => (txn, Some(r.error_code)),
            ResponseKind::TxnOffsetCommit(r) => (txn, Some(r.topics[0].partitions[0].error_code)),
            ResponseKind::DescribeTransactions(r) => {
                (txn, Some(r.transaction_states[0].error_code))
            }
            ResponseKind::ListTransactions(r) => (None, r.transaction_states.first().map(|_| -1)),
            ResponseKind::DescribeProducers(r) => {
                (topic, Some(r.topics[0].partitions[0].error_code))
            }
            ResponseKind::CreateAcls(r) => (cluster, Some(r.results[0].error_code)),
            ResponseKind::DescribeAcls(r) => (cluster, Some(r.error_code)),
            ResponseKind::DeleteAcls(r) => (cluster, Some(r.filter_results[0].error_code)),
            ResponseKind::DescribeUserScramCredentials(r) => (cluster, Some(r.error_code)),
            ResponseKind::AlterUserScramCredentials(r) => (None, r.results.first().map(|_| -1)),
            ResponseKind::DescribeTopicPartitions(r) => (topic, Some(r.topics[0].error_code)),
            ResponseKind::ConsumerGroupHeartbeat(r) => (group, Some(r.error_code)),
            ResponseKind::ConsumerGroupDescribe(r) => (group, Some(r.groups[0].error_code)),
            ResponseKind::ShareGroupHeartbeat(r) => (group, Some(r.error_code)),
            ResponseKind::ShareGroupDescribe(r) => (group, Some(r.groups[0].error_code)),
            ResponseKind::ShareFetch(r) => (group, Some(r.error_code)),
            ResponseKind::ShareAcknowledge(r) => (group, Some(r.error_code)),
            ResponseKind::DescribeShareGroupOffsets(r) => (group, Some(r.groups[0].error_code)),
            ResponseKind::AlterShareGroupOffsets(r) => (group, Some(r.error_code)),
            ResponseKind::DeleteShareGroupOffsets(r) => (group, Some(r.error_code)),
            ResponseKind::ApiVersions(r) => (None, (r.error_code != 0).then_some(r.error_code)),
            ResponseKind::UpdateFeatures(r) => (cluster, Some(r.error_code)),
            ResponseKind::AlterReplicaLogDirs(r) => {
                (cluster, Some(r.results[0].partitions[0].error_code))
            }
            ResponseKind::UnregisterBroker(r) => (cluster, Some(r.error_code)),
            // No ACL decides these: token authentication is off.
            ResponseKind::CreateDelegationToken(r) => {
                (Some(DelegationTokenAuthDisabled), Some(r.error_code))
            }
            ResponseKind::RenewDelegationToken(r) => {
                (Some(DelegationTokenAuthDisabled), Some(r.error_code))
            }
            ResponseKind::ExpireDelegationToken(r) => {
                (Some(DelegationTokenAuthDisabled), Some(r.error_code))
            }
            ResponseKind::DescribeDelegationToken(r) => {
                (Some(DelegationTokenAuthDisabled), Some(r.error_code))
            }
            ResponseKind::DescribeQuorum(r) => (cluster, Some(r.error_code)),
            ResponseKind::ListConfigResources(r) => (cluster, Some(r.error_code)),
            ResponseKind::AddRaftVoter(r) => (cluster, Some(r.error_code)),
            ResponseKind::RemoveRaftVoter(r) => (cluster, Some(r.error_code)),
            other => panic!("no expectation for {other:?}"),
        }
    }

    #[test]
    fn acls_name_the_client_by_its_bare_ip() {
        let cluster = enforcing_cluster();
        cluster.acls.add(crate::state::security::acls::AclBinding {
            resource_type: resource::TOPIC,
            resource_name: "t".into(),
            pattern_type: crate::state::security::acls::pattern::LITERAL,
            principal: "User:ANONYMOUS".into(),
            host: "127.0.0.1".into(),
            operation: operation::READ,
            permission: crate::state::security::acls::permission::ALLOW,
        });
        let (_stop, shutdown) = watch::channel(false);
        let ctx = |client_host: &str| RequestContext {
            cluster: cluster.clone(),
            broker_id: 0,
            header: RequestHeader::default(),
            client_host: client_host.into(),
            principal: crate::handlers::ANONYMOUS.into(),
            token_authenticated: false,
            listener: "PLAINTEXT".into(),
            connection_id: 0,
            shutdown: shutdown.clone(),
        };
        assert!(allowed(
            &ctx("/127.0.0.1"),
            resource::TOPIC,
            "t",
            operation::READ
        ));
        assert!(!allowed(
            &ctx("/10.1.2.3"),
            resource::TOPIC,
            "t",
            operation::READ
        ));
        assert_eq!(
            topic(&ctx("/127.0.0.1"), "t", operation::WRITE),
            Err(ResponseError::TopicAuthorizationFailed)
        );
        assert_eq!(
            authorized_operations(&ctx("/127.0.0.1"), resource::TOPIC, "t"),
            1 << operation::READ | 1 << operation::DESCRIBE
        );
    }

    fn call(
        cluster: &Arc<Cluster>,
        principal: &str,
        body: RequestKind,
        version: i16,
    ) -> ResponseKind {
        let (_stop, shutdown) = watch::channel(false);
        let api_key = match &body {
            RequestKind::Metadata(_) => ApiKey::Metadata,
            RequestKind::OffsetCommit(_) => ApiKey::OffsetCommit,
            RequestKind::OffsetFetch(_) => ApiKey::OffsetFetch,
            other => panic!("{other:?}"),
        };
        let ctx = RequestContext {
            cluster: cluster.clone(),
            broker_id: 0,
            header: RequestHeader::default()
                .with_request_api_key(api_key as i16)
                .with_request_api_version(version),
            client_host: "/127.0.0.1".into(),
            principal: principal.into(),
            token_authenticated: false,
            listener: "PLAINTEXT".into(),
            connection_id: 0,
            shutdown,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(handle(&ctx, body)).unwrap()
    }

    fn allow(cluster: &Cluster, resource_type: i8, name: &str, op: i8) {
        cluster.acls.add(crate::state::security::acls::AclBinding {
            resource_type,
            resource_name: name.into(),
            pattern_type: crate::state::security::acls::pattern::LITERAL,
            principal: "User:bob".into(),
            host: "*".into(),
            operation: op,
            permission: crate::state::security::acls::permission::ALLOW,
        });
    }

    #[test]
    fn metadata_lists_only_describable_topics_with_their_authorized_operations() {
        let cluster = enforcing_cluster();
        let spec = cluster.topic_spec("u", 1, 1, Default::default()).unwrap();
        cluster.topics.create(spec).unwrap();
        allow(&cluster, resource::TOPIC, "t", operation::WRITE);
        let request = MetadataRequest::default()
            .with_topics(None)
            .with_include_topic_authorized_operations(true)
            .with_include_cluster_authorized_operations(true);
        let ResponseKind::Metadata(r) =
            call(&cluster, "User:bob", RequestKind::Metadata(request), 10)
        else {
            panic!()
        };
        let names: Vec<_> = r
            .topics
            .iter()
            .map(|t| t.name.as_deref().unwrap().to_string())
            .collect();
        assert_eq!(names, ["t"]);
        assert_eq!(
            r.topics[0].topic_authorized_operations,
            1 << operation::WRITE | 1 << operation::DESCRIBE
        );
        assert_eq!(
            r.cluster_authorized_operations, 0,
            "no DESCRIBE on the cluster"
        );

        let named = MetadataRequest::default()
            .with_topics(Some(vec![metadata_request::MetadataRequestTopic::default(
            )
            .with_name(Some(TopicName(StrBytes::from_static_str("u"))))]));
        let ResponseKind::Metadata(r) =
            call(&cluster, "User:bob", RequestKind::Metadata(named), 12)
        else {
            panic!()
        };
        assert_eq!(
            r.topics[0].error_code,
            ResponseError::TopicAuthorizationFailed.code()
        );
        assert!(r.topics[0].partitions.is_empty());
    }

    #[test]
    fn offset_fetch_leaves_out_or_refuses_topics_the_principal_may_not_describe() {
        let cluster = enforcing_cluster();
        let spec = cluster.topic_spec("u", 1, 1, Default::default()).unwrap();
        cluster.topics.create(spec).unwrap();
        let group = || GroupId(StrBytes::from_static_str("g"));
        let commit = OffsetCommitRequest::default()
            .with_group_id(group())
            .with_generation_id_or_member_epoch(-1)
            .with_topics(
                ["t", "u"]
                    .into_iter()
                    .map(|name| {
                        offset_commit_request::OffsetCommitRequestTopic::default()
                            .with_name(TopicName(StrBytes::from_static_str(name)))
                            .with_partitions(vec![
                                offset_commit_request::OffsetCommitRequestPartition::default()
                                    .with_committed_offset(5),
                            ])
                    })
                    .collect(),
            );
        // Without READ on the group nothing is committed.
        let ResponseKind::OffsetCommit(r) = call(
            &cluster,
            "User:bob",
            RequestKind::OffsetCommit(commit.clone()),
            8,
        ) else {
            panic!()
        };
        assert_eq!(
            r.topics[1].partitions[0].error_code,
            ResponseError::GroupAuthorizationFailed.code()
        );
        allow(&cluster, resource::GROUP, "g", operation::READ);
        allow(&cluster, resource::TOPIC, "t", operation::READ);
        let ResponseKind::OffsetCommit(r) = call(
            &cluster,
            "User:bob",
            RequestKind::OffsetCommit(commit.clone()),
            8,
        ) else {
            panic!()
        };
        let codes: Vec<i16> = r
            .topics
            .iter()
            .map(|t| t.partitions[0].error_code)
            .collect();
        assert_eq!(codes, [0, ResponseError::TopicAuthorizationFailed.code()]);
        // Commit u's offset too while bob may read u, then take that away.
        allow(&cluster, resource::TOPIC, "u", operation::READ);
        call(&cluster, "User:bob", RequestKind::OffsetCommit(commit), 8);
        cluster
            .acls
            .delete(&crate::state::security::acls::AclFilter {
                resource_type: resource::TOPIC,
                resource_name: Some("u".into()),
                pattern_type: crate::state::security::acls::pattern::LITERAL,
                principal: None,
                host: None,
                operation: operation::ANY,
                permission: crate::state::security::acls::permission::ANY,
            });

        let all = OffsetFetchRequest::default()
            .with_group_id(group())
            .with_topics(None);
        let ResponseKind::OffsetFetch(r) =
            call(&cluster, "User:bob", RequestKind::OffsetFetch(all), 7)
        else {
            panic!()
        };
        let topics: Vec<_> = r.topics.iter().map(|t| t.name.to_string()).collect();
        assert_eq!(topics, ["t"], "u is left out");
        let named = OffsetFetchRequest::default().with_groups(vec![
            offset_fetch_request::OffsetFetchRequestGroup::default()
                .with_group_id(group())
                .with_topics(Some(
                    ["t", "u"]
                        .into_iter()
                        .map(|name| {
                            offset_fetch_request::OffsetFetchRequestTopics::default()
                                .with_name(TopicName(StrBytes::from_static_str(name)))
                                .with_partition_indexes(vec![0])
                        })
                        .collect(),
                )),
        ]);
        let ResponseKind::OffsetFetch(r) =
            call(&cluster, "User:bob", RequestKind::OffsetFetch(named), 8)
        else {
            panic!()
        };
        let found: Vec<(String, i64, i16)> = r.groups[0]
            .topics
            .iter()
            .map(|t| {
                (
                    t.name.to_string(),
                    t.partitions[0].committed_offset,
                    t.partitions[0].error_code,
                )
            })
            .collect();
        assert_eq!(
            found,
            [
                ("t".to_string(), 5, 0),
                (
                    "u".to_string(),
                    -1,
                    ResponseError::TopicAuthorizationFailed.code()
                )
            ]
        );
    }
}
