//! Idempotent producers and transactions: InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn,
//! EndTxn, TxnOffsetCommit, and the admin APIs DescribeTransactions, ListTransactions and
//! DescribeProducers. The state machine is `state::transactions::txn`; sequences and markers live with each
//! partition's log (`state::transactions::producers`).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::describe_producers_response::{
    PartitionResponse, ProducerState, TopicResponse,
};
use kafka_protocol::messages::describe_transactions_response::{TopicData, TransactionState};
use kafka_protocol::messages::list_transactions_response;
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, AddPartitionsToTxnRequest,
    AddPartitionsToTxnResponse, DescribeProducersRequest, DescribeProducersResponse,
    DescribeTransactionsRequest, DescribeTransactionsResponse, EndTxnRequest, EndTxnResponse,
    InitProducerIdRequest, InitProducerIdResponse, ListTransactionsRequest,
    ListTransactionsResponse, ProducerId, TopicName, TransactionalId, TxnOffsetCommitRequest,
    TxnOffsetCommitResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::authz::{self, operation, resource, CLUSTER_NAME};
use super::group::check_coordinator;
use super::offsets::{offsets_to_store, PartitionCommit, TopicCommitCheck};
use super::RequestContext;
use crate::state::groups::coordinator::TopicPartition;
use crate::state::log::batch::BatchHeader;
use crate::state::topics::Topic;
use crate::state::transactions::txn::{Member, TxnGuard};

/// A TxnOffsetCommit's partitions by topic, each with its own error or the offset to store.
type PartitionCommits = Vec<(TopicName, Vec<PartitionCommit>)>;

/// Where Kafka keeps group offsets; a transaction that commits offsets "contains" the group's
/// partition of it, and DescribeTransactions lists it so.
const GROUP_METADATA_TOPIC: &str = "__consumer_offsets";

fn text(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// NOT_COORDINATOR when a transactional id's requests reach a broker that does not coordinate
/// it; INVALID_REQUEST for an empty id.
fn check_txn_coordinator(
    ctx: &RequestContext,
    transactional_id: &str,
) -> Result<(), ResponseError> {
    if transactional_id.is_empty() {
        return Err(ResponseError::InvalidRequest);
    }
    match ctx.cluster.coordinator_for(transactional_id) {
        Some(node) if node.node_id == ctx.broker_id => Ok(()),
        _ => Err(ResponseError::NotCoordinator),
    }
}

/// Clients older than KIP-588 do not know PRODUCER_FENCED; Kafka tells them
/// INVALID_PRODUCER_EPOCH below the version that introduced it.
fn fenced_error(error: ResponseError, version: i16, knows_fenced_from: i16) -> ResponseError {
    if error == ResponseError::ProducerFenced && version < knows_fenced_from {
        ResponseError::InvalidProducerEpoch
    } else {
        error
    }
}

fn code(result: Result<(), ResponseError>) -> i16 {
    result.err().map_or(0, |e| e.code())
}

/// What a produce request's version lets the broker do with a transactional write to a
/// partition (Kafka's `TransactionSupportedOperation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnWrite {
    /// Up to v10: the partition must be in the transaction, else INVALID_TXN_STATE.
    Verify,
    /// v11 (KIP-890 part 1): the same, refused with TRANSACTION_ABORTABLE, which the client
    /// answers by aborting the transaction rather than failing.
    VerifyAbortable,
    /// v12+ (transactions v2): the write adds the partition to the transaction (beginning it if
    /// none is ongoing), as an AddPartitionsToTxn would.
    Add,
}

/// A produce request's transactional batches may only go to a partition added to their
/// transaction (Kafka 3.6+ verification, KIP-890): otherwise INVALID_TXN_STATE ("Partition was
/// not added to the transaction") or TRANSACTION_ABORTABLE from v11, or INVALID_PRODUCER_EPOCH
/// for a fenced producer; from v12 the write adds the partition. The guard keeps the
/// coordinator locked until the batches are appended.
pub fn verify_produce<'a>(
    ctx: &'a RequestContext,
    transactional_id: Option<&str>,
    topic: &Topic,
    partition: i32,
    batches: &[(BatchHeader, bytes::Bytes)],
    write: TxnWrite,
) -> Result<Option<TxnGuard<'a>>, ResponseError> {
    let Some((header, _)) = batches.iter().find(|(h, _)| h.is_transactional()) else {
        return Ok(None);
    };
    let Some(transactional_id) = transactional_id else {
        return Err(ResponseError::TransactionalIdAuthorizationFailed);
    };
    let tp = (topic.name.clone(), partition);
    let txns = &ctx.cluster.txns;
    let locked = if write == TxnWrite::Add {
        txns.lock_added(
            transactional_id,
            header.producer_id,
            header.producer_epoch,
            Member::Partition(&tp),
        )
    } else {
        txns.lock_verified(
            transactional_id,
            header.producer_id,
            header.producer_epoch,
            Member::Partition(&tp),
        )
    };
    locked.map(Some).map_err(|e| match e {
        ResponseError::ProducerFenced => ResponseError::InvalidProducerEpoch,
        // Retriable for every client version.
        ResponseError::ConcurrentTransactions => ResponseError::NotEnoughReplicas,
        ResponseError::InvalidTxnState if write != TxnWrite::Verify => {
            ResponseError::TransactionAbortable
        }
        e => e,
    })
}

pub fn init_producer_id(
    ctx: &RequestContext,
    req: InitProducerIdRequest,
) -> InitProducerIdResponse {
    let version = ctx.version();
    let result = (|| {
        // A transactional producer needs WRITE on its id; an idempotent one IDEMPOTENT_WRITE on
        // the cluster or WRITE on some topic.
        match req.transactional_id.as_deref() {
            Some(id) => authz::transactional_id(ctx, id, operation::WRITE)?,
            None if !authz::allowed(
                ctx,
                resource::CLUSTER,
                CLUSTER_NAME,
                operation::IDEMPOTENT_WRITE,
            ) && !authz::allowed_on_any(ctx, resource::TOPIC, operation::WRITE) =>
            {
                return Err(ResponseError::ClusterAuthorizationFailed)
            }
            None => {}
        }
        // v3+ (KIP-360): a producer re-initialising after an error says who it was.
        let expected = match (req.producer_id.0, req.producer_epoch) {
            _ if version < 3 => None,
            (-1, -1) => None,
            (-1, _) | (_, -1) => return Err(ResponseError::InvalidRequest),
            (producer_id, epoch) => Some((producer_id, epoch)),
        };
        match req.transactional_id.as_deref() {
            // Idempotence alone: any broker hands out a fresh producer id at epoch 0.
            None => Ok((ctx.cluster.txns.new_producer_id(), 0)),
            Some(transactional_id) => {
                check_txn_coordinator(ctx, transactional_id)?;
                ctx.cluster.txns.init_producer_id(
                    &ctx.cluster.topics,
                    &ctx.cluster.groups,
                    transactional_id,
                    req.transaction_timeout_ms,
                    expected,
                )
            }
        }
    })();
    match result {
        Ok((producer_id, producer_epoch)) => InitProducerIdResponse::default()
            .with_producer_id(ProducerId(producer_id))
            .with_producer_epoch(producer_epoch),
        Err(error) => InitProducerIdResponse::default()
            .with_error_code(fenced_error(error, version, 4).code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1),
    }
}

pub fn add_partitions_to_txn(
    ctx: &RequestContext,
    req: AddPartitionsToTxnRequest,
) -> AddPartitionsToTxnResponse {
    if ctx.version() >= 4 {
        return add_partitions_for_brokers(ctx, req);
    }
    let requested: Vec<(TopicName, Vec<i32>)> = req
        .v3_and_below_topics
        .into_iter()
        .map(|t| (t.name, t.partitions))
        .collect();
    let topics = add_partitions(
        ctx,
        &req.v3_and_below_transactional_id,
        req.v3_and_below_producer_id.0,
        req.v3_and_below_producer_epoch,
        requested,
        true,
    );
    AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(topics)
}

/// v4+ (KIP-890) is the batched form partition leaders send the transaction coordinator, under
/// CLUSTER_ACTION: several transactions, each either added to as in v3 or, `verify_only`,
/// checked: a partition not in the transaction is TRANSACTION_ABORTABLE, as Kafka's
/// `handleVerifyPartitionsInTransaction` answers (v5 only says the sender knows that code).
/// Clients never send it (the Java client caps the API at v3).
fn add_partitions_for_brokers(
    ctx: &RequestContext,
    req: AddPartitionsToTxnRequest,
) -> AddPartitionsToTxnResponse {
    if let Err(error) = authz::cluster(ctx, operation::CLUSTER_ACTION) {
        return AddPartitionsToTxnResponse::default().with_error_code(error.code());
    }
    let results = req
        .transactions
        .into_iter()
        .map(|txn| {
            let requested: Vec<(TopicName, Vec<i32>)> = txn
                .topics
                .into_iter()
                .map(|t| (t.name, t.partitions))
                .collect();
            let (id, pid, epoch) = (&txn.transactional_id, txn.producer_id.0, txn.producer_epoch);
            let topic_results = if txn.verify_only {
                verify_partitions(ctx, id, pid, epoch, requested)
            } else {
                add_partitions(ctx, id, pid, epoch, requested, false)
            };
            AddPartitionsToTxnResult::default()
                .with_transactional_id(txn.transactional_id)
                .with_topic_results(topic_results)
        })
        .collect();
    AddPartitionsToTxnResponse::default().with_results_by_transaction(results)
}

/// `verify_only`: whether each partition is in the producer's ongoing transaction.
fn verify_partitions(
    ctx: &RequestContext,
    transactional_id: &str,
    producer_id: i64,
    producer_epoch: i16,
    requested: Vec<(TopicName, Vec<i32>)>,
) -> Vec<AddPartitionsToTxnTopicResult> {
    let routed = check_txn_coordinator(ctx, transactional_id);
    // As when adding: a partition that does not exist fails on its own, and then the others
    // are not attempted.
    let exists = |name: &TopicName, p: i32| {
        ctx.cluster
            .topics
            .get(name)
            .and_then(|t| t.partition(p))
            .is_some()
    };
    let any_unknown = requested
        .iter()
        .any(|(name, partitions)| partitions.iter().any(|&p| !exists(name, p)));
    requested
        .into_iter()
        .map(|(name, partitions)| {
            let results = partitions
                .into_iter()
                .map(|p| {
                    let tp = (name.to_string(), p);
                    let verified = if any_unknown {
                        Err(if exists(&name, p) {
                            ResponseError::OperationNotAttempted
                        } else {
                            ResponseError::UnknownTopicOrPartition
                        })
                    } else {
                        routed
                    };
                    let verified = verified.and_then(|()| {
                        ctx.cluster
                            .txns
                            .lock_verified(
                                transactional_id,
                                producer_id,
                                producer_epoch,
                                Member::Partition(&tp),
                            )
                            .map(drop)
                            .map_err(|e| match e {
                                ResponseError::InvalidTxnState => {
                                    ResponseError::TransactionAbortable
                                }
                                e => e,
                            })
                    });
                    AddPartitionsToTxnPartitionResult::default()
                        .with_partition_index(p)
                        .with_partition_error_code(code(verified))
                })
                .collect();
            AddPartitionsToTxnTopicResult::default()
                .with_name(name)
                .with_results_by_partition(results)
        })
        .collect()
}

/// Adds the partitions to the transaction, beginning it if none is ongoing. A client (v0-v3)
/// needs WRITE on the transactional id and the topics; a broker (v4+) was authorized already.
fn add_partitions(
    ctx: &RequestContext,
    transactional_id: &str,
    producer_id: i64,
    producer_epoch: i16,
    requested: Vec<(TopicName, Vec<i32>)>,
    client: bool,
) -> Vec<AddPartitionsToTxnTopicResult> {
    let txn_denied = if client {
        authz::transactional_id(ctx, transactional_id, operation::WRITE).err()
    } else {
        None
    };
    // A partition fails on its own when its topic may not be written, or it does not exist.
    let failed = |name: &TopicName, index: i32| {
        if client {
            if let Err(error) = authz::topic(ctx, name, operation::WRITE) {
                return Some(error);
            }
        }
        ctx.cluster
            .topics
            .get(name)
            .and_then(|t| t.partition(index))
            .is_none()
            .then_some(ResponseError::UnknownTopicOrPartition)
    };
    let any_failed = txn_denied.is_none()
        && requested
            .iter()
            .any(|(name, partitions)| partitions.iter().any(|&p| failed(name, p).is_some()));
    // Failed partitions fail on their own and the rest are not attempted, as Kafka does.
    let outcome = if let Some(error) = txn_denied {
        Err(error)
    } else if any_failed {
        Err(ResponseError::OperationNotAttempted)
    } else {
        let partitions: Vec<TopicPartition> = requested
            .iter()
            .flat_map(|(name, partitions)| partitions.iter().map(|&p| (name.to_string(), p)))
            .collect();
        check_txn_coordinator(ctx, transactional_id)
            .and_then(|()| {
                ctx.cluster.txns.add_to_transaction(
                    transactional_id,
                    producer_id,
                    producer_epoch,
                    &partitions,
                    &[],
                )
            })
            .map_err(|e| fenced_error(e, ctx.version(), 2))
    };
    requested
        .into_iter()
        .map(|(name, partitions)| {
            let results = partitions
                .into_iter()
                .map(|p| {
                    let error = match failed(&name, p) {
                        Some(error) if txn_denied.is_none() => Err(error),
                        _ => outcome,
                    };
                    AddPartitionsToTxnPartitionResult::default()
                        .with_partition_index(p)
                        .with_partition_error_code(code(error))
                })
                .collect();
            AddPartitionsToTxnTopicResult::default()
                .with_name(name)
                .with_results_by_partition(results)
        })
        .collect()
}

pub fn add_offsets_to_txn(
    ctx: &RequestContext,
    req: AddOffsetsToTxnRequest,
) -> AddOffsetsToTxnResponse {
    let group_id = req.group_id.to_string();
    let routed = authz::transactional_id(ctx, &req.transactional_id, operation::WRITE)
        .and_then(|()| authz::group(ctx, &group_id, operation::READ))
        .and_then(|()| check_txn_coordinator(ctx, &req.transactional_id));
    let result = routed.and_then(|()| {
        if group_id.is_empty() {
            return Err(ResponseError::InvalidGroupId);
        }
        ctx.cluster.txns.add_to_transaction(
            &req.transactional_id,
            req.producer_id.0,
            req.producer_epoch,
            &[],
            &[group_id],
        )
    });
    AddOffsetsToTxnResponse::default()
        .with_error_code(code(result.map_err(|e| fenced_error(e, ctx.version(), 2))))
}

pub fn end_txn(ctx: &RequestContext, req: EndTxnRequest) -> EndTxnResponse {
    let routed = authz::transactional_id(ctx, &req.transactional_id, operation::WRITE)
        .and_then(|()| check_txn_coordinator(ctx, &req.transactional_id));
    // v5 is transactions v2 (KIP-890): the end bumps the producer epoch (or, spent, the
    // producer id) and the answer gives the producer what to go on with.
    let bump_epoch = ctx.version() >= 5;
    let result = routed.and_then(|()| {
        ctx.cluster.txns.end_txn(
            &ctx.cluster.topics,
            &ctx.cluster.groups,
            &req.transactional_id,
            (req.producer_id.0, req.producer_epoch),
            req.committed,
            bump_epoch,
        )
    });
    let response = EndTxnResponse::default().with_error_code(code(
        result
            .map(drop)
            .map_err(|e| fenced_error(e, ctx.version(), 2)),
    ));
    match result {
        Ok((producer_id, producer_epoch)) if bump_epoch => response
            .with_producer_id(ProducerId(producer_id))
            .with_producer_epoch(producer_epoch),
        _ => response,
    }
}

/// TxnOffsetCommit goes to the group coordinator: the offsets wait beside the group's committed
/// ones until the transaction ends. The group must have been added to the transaction.
pub fn txn_offset_commit(
    ctx: &RequestContext,
    req: TxnOffsetCommitRequest,
) -> TxnOffsetCommitResponse {
    let mut results: PartitionCommits = req
        .topics
        .into_iter()
        .map(|topic| {
            let check = TopicCommitCheck::new(ctx, &topic.name);
            let partitions = topic
                .partitions
                .into_iter()
                .map(|p| {
                    let result = check.offset_to_store(
                        p.partition_index,
                        p.committed_offset,
                        p.committed_leader_epoch,
                        p.committed_metadata,
                    );
                    (p.partition_index, result)
                })
                .collect();
            (topic.name, partitions)
        })
        .collect();
    let valid = offsets_to_store(&results);
    let group_id = req.group_id.to_string();
    // Refused as a whole without WRITE on the transactional id or READ on the group.
    let authorized = authz::transactional_id(ctx, &req.transactional_id, operation::WRITE)
        .and_then(|()| authz::group(ctx, &group_id, operation::READ));
    if let Err(error) = authorized {
        for (_, partitions) in &mut results {
            for (_, result) in partitions.iter_mut() {
                *result = Err(error);
            }
        }
    }
    let routed = authorized.and_then(|()| check_coordinator(ctx, &group_id));
    let stored = routed.and_then(|()| {
        // The coordinator stays locked while the offsets are stored, so the transaction cannot
        // end in between. A stale epoch is INVALID_PRODUCER_EPOCH, as Kafka's verification says.
        // As Kafka's `txnOffsetCommitRequestVersionToTransactionSupportedOperation`: a group not
        // in the transaction is INVALID_TXN_STATE up to v3, TRANSACTION_ABORTABLE at v4
        // (KIP-890), and from v5 (transactions v2, no AddOffsetsToTxn) the commit adds it.
        let txns = &ctx.cluster.txns;
        let (pid, epoch) = (req.producer_id.0, req.producer_epoch);
        let member = Member::Group(&group_id);
        let locked = if ctx.version() >= 5 {
            txns.lock_added(&req.transactional_id, pid, epoch, member)
        } else {
            txns.lock_verified(&req.transactional_id, pid, epoch, member)
        };
        let _verified = locked.map_err(|e| match e {
            ResponseError::ProducerFenced => ResponseError::InvalidProducerEpoch,
            ResponseError::InvalidTxnState if ctx.version() >= 4 => {
                ResponseError::TransactionAbortable
            }
            e => e,
        })?;
        ctx.cluster.groups.commit_txn_offsets(
            &group_id,
            req.producer_id.0,
            &req.member_id,
            req.generation_id,
            valid,
        )
    });
    if let Err(error) = stored {
        for (_, partitions) in &mut results {
            for (_, result) in partitions.iter_mut() {
                if result.is_ok() {
                    *result = Err(error);
                }
            }
        }
    }
    let topics = results
        .into_iter()
        .map(|(name, partitions)| {
            TxnOffsetCommitResponseTopic::default()
                .with_name(name)
                .with_partitions(
                    partitions
                        .into_iter()
                        .map(|(index, result)| {
                            TxnOffsetCommitResponsePartition::default()
                                .with_partition_index(index)
                                .with_error_code(code(result.map(|_| ())))
                        })
                        .collect(),
                )
        })
        .collect();
    TxnOffsetCommitResponse::default().with_topics(topics)
}

pub fn describe_transactions(
    ctx: &RequestContext,
    req: DescribeTransactionsRequest,
) -> DescribeTransactionsResponse {
    let states = req
        .transactional_ids
        .into_iter()
        .map(|id| {
            let state = TransactionState::default().with_transactional_id(id.clone());
            let checked = authz::transactional_id(ctx, &id, operation::DESCRIBE)
                .and_then(|()| check_txn_coordinator(ctx, &id));
            if let Err(error) = checked {
                return state.with_error_code(error.code());
            }
            let Some(txn) = ctx.cluster.txns.describe(&id) else {
                return state.with_error_code(ResponseError::TransactionalIdNotFound.code());
            };
            let mut topics: Vec<TopicData> = Vec::new();
            let offsets_partitions = txn.groups.iter().map(|g| {
                (
                    GROUP_METADATA_TOPIC.to_string(),
                    crate::state::coordinator_partition(g),
                )
            });
            // Only the topics the principal may describe are listed.
            let describable = |(topic, _): &(String, i32)| {
                authz::allowed(ctx, resource::TOPIC, topic, operation::DESCRIBE)
            };
            let partitions = txn.partitions.iter().cloned().chain(offsets_partitions);
            for (topic, partition) in partitions.filter(describable) {
                match topics.iter_mut().find(|t| t.topic.as_str() == topic) {
                    Some(t) if !t.partitions.contains(&partition) => t.partitions.push(partition),
                    Some(_) => {}
                    None => topics.push(
                        TopicData::default()
                            .with_topic(TopicName(text(&topic)))
                            .with_partitions(vec![partition]),
                    ),
                }
            }
            state
                .with_transaction_state(text(txn.state.name()))
                .with_transaction_timeout_ms(txn.timeout_ms)
                .with_transaction_start_time_ms(txn.start_time_ms)
                .with_producer_id(ProducerId(txn.producer_id))
                .with_producer_epoch(txn.producer_epoch)
                .with_topics(topics)
        })
        .collect();
    DescribeTransactionsResponse::default().with_transaction_states(states)
}

pub fn list_transactions(
    ctx: &RequestContext,
    req: ListTransactionsRequest,
) -> ListTransactionsResponse {
    let states: Vec<String> = req.state_filters.iter().map(|s| s.to_string()).collect();
    let producer_ids: Vec<i64> = req.producer_id_filters.iter().map(|p| p.0).collect();
    let min_duration = if ctx.version() >= 1 {
        req.duration_filter
    } else {
        -1
    };
    // v2 (KIP-1152): a regular expression the whole transactional id must match, as Kafka's
    // re2j `matches()`; null or empty lists every id.
    let pattern = match req.transactional_id_pattern.as_deref() {
        Some(p) if ctx.version() >= 2 && !p.is_empty() => {
            match regex::Regex::new(&format!("^(?:{p})$")) {
                Ok(pattern) => Some(pattern),
                Err(_) => {
                    return ListTransactionsResponse::default()
                        .with_error_code(ResponseError::InvalidRegularExpression.code())
                }
            }
        }
        _ => None,
    };
    let (listed, unknown) = ctx.cluster.txns.list(&states, &producer_ids, min_duration);
    // Each broker lists the transactional ids it coordinates.
    let listed = listed
        .into_iter()
        .filter(|t| {
            pattern
                .as_ref()
                .is_none_or(|p| p.is_match(&t.transactional_id))
        })
        .filter(|t| check_txn_coordinator(ctx, &t.transactional_id).is_ok())
        .filter(|t| {
            authz::allowed(
                ctx,
                resource::TRANSACTIONAL_ID,
                &t.transactional_id,
                operation::DESCRIBE,
            )
        })
        .map(|t| {
            list_transactions_response::TransactionState::default()
                .with_transactional_id(TransactionalId(text(&t.transactional_id)))
                .with_producer_id(ProducerId(t.producer_id))
                .with_transaction_state(text(t.state.name()))
        })
        .collect();
    ListTransactionsResponse::default()
        .with_unknown_state_filters(unknown.iter().map(|s| text(s)).collect())
        .with_transaction_states(listed)
}

pub fn describe_producers(
    ctx: &RequestContext,
    req: DescribeProducersRequest,
) -> DescribeProducersResponse {
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let topic = ctx.cluster.topics.get(&t.name);
            let denied = authz::topic(ctx, &t.name, operation::READ).err();
            let partitions = t
                .partition_indexes
                .into_iter()
                .map(|index| {
                    let response = PartitionResponse::default().with_partition_index(index);
                    if let Some(error) = denied {
                        return response.with_error_code(error.code());
                    }
                    let Some(partition) = topic.as_ref().and_then(|t| t.partition(index)) else {
                        return response
                            .with_error_code(ResponseError::UnknownTopicOrPartition.code());
                    };
                    if partition.leadership().leader != ctx.broker_id {
                        return response.with_error_code(ResponseError::NotLeaderOrFollower.code());
                    }
                    let log = partition.log.lock();
                    let producers = log
                        .producers()
                        .active_producers()
                        .into_iter()
                        .map(|(producer_id, entry)| {
                            ProducerState::default()
                                .with_producer_id(ProducerId(producer_id))
                                .with_producer_epoch(entry.producer_epoch as i32)
                                .with_last_sequence(entry.last_seq())
                                .with_last_timestamp(entry.last_timestamp)
                                .with_coordinator_epoch(entry.coordinator_epoch)
                                .with_current_txn_start_offset(
                                    entry.current_txn_first_offset.unwrap_or(-1),
                                )
                        })
                        .collect();
                    response.with_active_producers(producers)
                })
                .collect();
            TopicResponse::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    DescribeProducersResponse::default().with_topics(topics)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::{Bytes, BytesMut};
    use kafka_protocol::messages::*;
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };
    use tokio::sync::watch;

    use super::*;
    use crate::handlers::handle;
    use crate::state::{BrokerConfig, BrokerNode, Cluster};

    struct Broker {
        cluster: Arc<Cluster>,
        shutdown: watch::Receiver<bool>,
        _stop: watch::Sender<bool>,
        runtime: tokio::runtime::Runtime,
    }

    impl Broker {
        fn new() -> Broker {
            let cluster = Arc::new(Cluster::new("test".into(), BrokerConfig::default()));
            cluster.add_broker(BrokerNode {
                node_id: 0,
                host: "127.0.0.1".into(),
                port: 9092,
            });
            let spec = cluster.topic_spec("t", 2, 1, Default::default()).unwrap();
            cluster.topics.create(spec).unwrap();
            let (stop, shutdown) = watch::channel(false);
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            Broker {
                cluster,
                shutdown,
                _stop: stop,
                runtime,
            }
        }

        fn call(&self, api_key: ApiKey, version: i16, body: RequestKind) -> ResponseKind {
            let ctx = RequestContext {
                cluster: self.cluster.clone(),
                broker_id: 0,
                header: RequestHeader::default()
                    .with_request_api_key(api_key as i16)
                    .with_request_api_version(version),
                client_host: "/127.0.0.1".into(),
                principal: crate::handlers::ANONYMOUS.into(),
                token_authenticated: false,
                listener: "PLAINTEXT".into(),
                connection_id: 0,
                shutdown: self.shutdown.clone(),
            };
            self.runtime.block_on(handle(&ctx, body)).unwrap()
        }

        /// InitProducerId for transactional id `tx`.
        fn init(&self, version: i16) -> InitProducerIdResponse {
            let req = InitProducerIdRequest::default()
                .with_transactional_id(Some(TransactionalId(text("tx"))))
                .with_transaction_timeout_ms(60_000)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1);
            match self.call(
                ApiKey::InitProducerId,
                version,
                RequestKind::InitProducerId(req),
            ) {
                ResponseKind::InitProducerId(r) => r,
                other => panic!("{other:?}"),
            }
        }

        fn add_partitions(&self, pid: i64, epoch: i16, partitions: Vec<i32>) -> Vec<i16> {
            let req = AddPartitionsToTxnRequest::default()
                .with_v3_and_below_transactional_id(TransactionalId(text("tx")))
                .with_v3_and_below_producer_id(ProducerId(pid))
                .with_v3_and_below_producer_epoch(epoch)
                .with_v3_and_below_topics(vec![
                    add_partitions_to_txn_request::AddPartitionsToTxnTopic::default()
                        .with_name(TopicName(text("t")))
                        .with_partitions(partitions),
                ]);
            match self.call(
                ApiKey::AddPartitionsToTxn,
                3,
                RequestKind::AddPartitionsToTxn(req),
            ) {
                ResponseKind::AddPartitionsToTxn(r) => r.results_by_topic_v3_and_below[0]
                    .results_by_partition
                    .iter()
                    .map(|p| p.partition_error_code)
                    .collect(),
                other => panic!("{other:?}"),
            }
        }

        fn produce(&self, partition: i32, batch: Bytes) -> (i16, i64) {
            self.produce_at(9, partition, batch)
        }

        fn produce_at(&self, version: i16, partition: i32, batch: Bytes) -> (i16, i64) {
            let req = ProduceRequest::default()
                .with_transactional_id(Some(TransactionalId(text("tx"))))
                .with_acks(-1)
                .with_topic_data(vec![produce_request::TopicProduceData::default()
                    .with_name(TopicName(text("t")))
                    .with_partition_data(vec![
                        produce_request::PartitionProduceData::default()
                            .with_index(partition)
                            .with_records(Some(batch)),
                    ])]);
            match self.call(ApiKey::Produce, version, RequestKind::Produce(req)) {
                ResponseKind::Produce(r) => {
                    let p = &r.responses[0].partition_responses[0];
                    (p.error_code, p.base_offset)
                }
                other => panic!("{other:?}"),
            }
        }

        fn end(&self, version: i16, pid: i64, epoch: i16, commit: bool) -> i16 {
            let req = EndTxnRequest::default()
                .with_transactional_id(TransactionalId(text("tx")))
                .with_producer_id(ProducerId(pid))
                .with_producer_epoch(epoch)
                .with_committed(commit);
            match self.call(ApiKey::EndTxn, version, RequestKind::EndTxn(req)) {
                ResponseKind::EndTxn(r) => r.error_code,
                other => panic!("{other:?}"),
            }
        }

        /// AddOffsetsToTxn for group `g`, then TxnOffsetCommit of `offset` for its t-0.
        fn commit_offset_in_txn(&self, pid: i64, epoch: i16, offset: i64) -> (i16, i16) {
            let add = AddOffsetsToTxnRequest::default()
                .with_transactional_id(TransactionalId(text("tx")))
                .with_producer_id(ProducerId(pid))
                .with_producer_epoch(epoch)
                .with_group_id(GroupId(text("g")));
            let added = match self.call(
                ApiKey::AddOffsetsToTxn,
                3,
                RequestKind::AddOffsetsToTxn(add),
            ) {
                ResponseKind::AddOffsetsToTxn(r) => r.error_code,
                other => panic!("{other:?}"),
            };
            let commit = TxnOffsetCommitRequest::default()
                .with_transactional_id(TransactionalId(text("tx")))
                .with_group_id(GroupId(text("g")))
                .with_producer_id(ProducerId(pid))
                .with_producer_epoch(epoch)
                .with_topics(vec![
                    txn_offset_commit_request::TxnOffsetCommitRequestTopic::default()
                        .with_name(TopicName(text("t")))
                        .with_partitions(vec![
                            txn_offset_commit_request::TxnOffsetCommitRequestPartition::default()
                                .with_partition_index(0)
                                .with_committed_offset(offset),
                        ]),
                ]);
            match self.call(
                ApiKey::TxnOffsetCommit,
                3,
                RequestKind::TxnOffsetCommit(commit),
            ) {
                ResponseKind::TxnOffsetCommit(r) => (added, r.topics[0].partitions[0].error_code),
                other => panic!("{other:?}"),
            }
        }

        /// (error code, committed offset) of group `g`'s t-0, with or without require_stable.
        fn fetch_offset(&self, require_stable: bool) -> (i16, i64) {
            let req = OffsetFetchRequest::default()
                .with_group_id(GroupId(text("g")))
                .with_require_stable(require_stable)
                .with_topics(Some(vec![
                    offset_fetch_request::OffsetFetchRequestTopic::default()
                        .with_name(TopicName(text("t")))
                        .with_partition_indexes(vec![0]),
                ]));
            match self.call(ApiKey::OffsetFetch, 7, RequestKind::OffsetFetch(req)) {
                ResponseKind::OffsetFetch(r) => {
                    let p = &r.topics[0].partitions[0];
                    (p.error_code, p.committed_offset)
                }
                other => panic!("{other:?}"),
            }
        }

        fn high_watermark(&self, partition: i32) -> i64 {
            let topic = self.cluster.topics.get("t").unwrap();
            let log = topic.partition(partition).unwrap();
            let hw = log.log.lock().high_watermark();
            hw
        }
    }

    fn transactional_batch(pid: i64, epoch: i16, sequence: i32) -> Bytes {
        let record = Record {
            transactional: true,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: pid,
            producer_epoch: epoch,
            timestamp_type: TimestampType::Creation,
            offset: 0,
            sequence,
            timestamp: 1,
            key: None,
            value: Some(Bytes::from_static(b"v")),
            headers: Default::default(),
        };
        let mut buf = BytesMut::new();
        let options = RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        };
        RecordBatchEncoder::encode(&mut buf, [&record], &options).unwrap();
        buf.freeze()
    }

    const NONE: i16 = 0;

    #[test]
    fn produce_v11_refuses_a_partition_not_added_as_abortable_and_v12_adds_it() {
        let broker = Broker::new();
        let init = broker.init(1);
        let (pid, epoch) = (init.producer_id.0, init.producer_epoch);
        assert_eq!(broker.add_partitions(pid, epoch, vec![0]), vec![NONE]);
        assert_eq!(
            broker
                .produce_at(10, 1, transactional_batch(pid, epoch, 0))
                .0,
            ResponseError::InvalidTxnState.code()
        );
        assert_eq!(
            broker
                .produce_at(11, 1, transactional_batch(pid, epoch, 0))
                .0,
            ResponseError::TransactionAbortable.code()
        );
        // Transactions v2: the write itself adds the partition.
        assert_eq!(
            broker.produce_at(12, 1, transactional_batch(pid, epoch, 0)),
            (NONE, 0)
        );
        let txn = broker.cluster.txns.describe("tx").unwrap();
        assert!(txn.partitions.contains(&("t".to_string(), 1)));
        assert_eq!(broker.end(3, pid, epoch, true), NONE);
        assert_eq!(
            broker.high_watermark(1),
            2,
            "the record and its COMMIT marker"
        );
    }

    #[test]
    fn a_transactional_produce_to_a_partition_not_added_is_refused() {
        let broker = Broker::new();
        let init = broker.init(1);
        assert_eq!(init.error_code, NONE);
        let (pid, epoch) = (init.producer_id.0, init.producer_epoch);
        assert_eq!(broker.add_partitions(pid, epoch, vec![0]), vec![NONE]);
        assert_eq!(
            broker.produce(1, transactional_batch(pid, epoch, 0)),
            (ResponseError::InvalidTxnState.code(), -1)
        );
        assert_eq!(
            broker.produce(0, transactional_batch(pid, epoch, 0)),
            (NONE, 0)
        );
        assert_eq!(
            broker.produce(0, transactional_batch(pid, epoch, 0)),
            (NONE, 0),
            "a retry is a duplicate"
        );
        let committed = {
            // TxnOffsetCommit for a group the transaction has not added: refused too.
            let commit = TxnOffsetCommitRequest::default()
                .with_transactional_id(TransactionalId(text("tx")))
                .with_group_id(GroupId(text("other")))
                .with_producer_id(ProducerId(pid))
                .with_producer_epoch(epoch)
                .with_topics(vec![
                    txn_offset_commit_request::TxnOffsetCommitRequestTopic::default()
                        .with_name(TopicName(text("t")))
                        .with_partitions(vec![
                            txn_offset_commit_request::TxnOffsetCommitRequestPartition::default(),
                        ]),
                ]);
            match broker.call(
                ApiKey::TxnOffsetCommit,
                1,
                RequestKind::TxnOffsetCommit(commit),
            ) {
                ResponseKind::TxnOffsetCommit(r) => r.topics[0].partitions[0].error_code,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(committed, ResponseError::InvalidTxnState.code());
        assert_eq!(
            broker.add_partitions(pid, epoch, vec![0, 5]),
            vec![
                ResponseError::OperationNotAttempted.code(),
                ResponseError::UnknownTopicOrPartition.code()
            ]
        );
    }

    #[test]
    fn transactions_v2_end_txn_v5_bumps_the_epoch_at_every_end() {
        let broker = Broker::new();
        let init = broker.init(5);
        let (pid, epoch) = (init.producer_id.0, init.producer_epoch);
        let end_v5 = |pid: i64, epoch: i16, commit: bool| {
            let req = EndTxnRequest::default()
                .with_transactional_id(TransactionalId(text("tx")))
                .with_producer_id(ProducerId(pid))
                .with_producer_epoch(epoch)
                .with_committed(commit);
            match broker.call(ApiKey::EndTxn, 5, RequestKind::EndTxn(req)) {
                ResponseKind::EndTxn(r) => (r.error_code, r.producer_id.0, r.producer_epoch),
                other => panic!("{other:?}"),
            }
        };
        // Produce v12 begins the transaction; the commit's marker carries the next epoch.
        assert_eq!(
            broker.produce_at(12, 0, transactional_batch(pid, epoch, 0)),
            (NONE, 0)
        );
        assert_eq!(end_v5(pid, epoch, true), (NONE, pid, epoch + 1));
        assert_eq!(
            broker.high_watermark(0),
            2,
            "the record and its COMMIT marker"
        );
        // A retry of that EndTxn, with the epoch before: the same answer, nothing written.
        assert_eq!(end_v5(pid, epoch, true), (NONE, pid, epoch + 1));
        assert_eq!(broker.high_watermark(0), 2);
        // The next transaction is at the new epoch, from sequence 0; the old epoch is fenced.
        assert_eq!(
            broker
                .produce_at(12, 0, transactional_batch(pid, epoch, 1))
                .0,
            ResponseError::InvalidProducerEpoch.code()
        );
        assert_eq!(
            broker.produce_at(12, 0, transactional_batch(pid, epoch + 1, 0)),
            (NONE, 2)
        );
        assert_eq!(end_v5(pid, epoch + 1, false), (NONE, pid, epoch + 2));
        // An abort with nothing in progress still bumps the epoch.
        assert_eq!(end_v5(pid, epoch + 2, false), (NONE, pid, epoch + 3));
        let txn = broker.cluster.txns.describe("tx").unwrap();
        assert_eq!(
            txn.state,
            crate::state::transactions::txn::TxnState::CompleteAbort
        );
    }

    #[test]
    fn add_partitions_v4_from_brokers_verifies_or_adds_per_transaction() {
        let broker = Broker::new();
        let init = broker.init(1);
        let (pid, epoch) = (init.producer_id.0, init.producer_epoch);
        assert_eq!(broker.add_partitions(pid, epoch, vec![0]), vec![NONE]);
        let batched = |verify_only: bool, partitions: Vec<i32>| {
            let req = AddPartitionsToTxnRequest::default().with_transactions(vec![
                add_partitions_to_txn_request::AddPartitionsToTxnTransaction::default()
                    .with_transactional_id(TransactionalId(text("tx")))
                    .with_producer_id(ProducerId(pid))
                    .with_producer_epoch(epoch)
                    .with_verify_only(verify_only)
                    .with_topics(vec![
                        add_partitions_to_txn_request::AddPartitionsToTxnTopic::default()
                            .with_name(TopicName(text("t")))
                            .with_partitions(partitions),
                    ]),
            ]);
            match broker.call(
                ApiKey::AddPartitionsToTxn,
                5,
                RequestKind::AddPartitionsToTxn(req),
            ) {
                ResponseKind::AddPartitionsToTxn(r) => r.results_by_transaction[0].topic_results[0]
                    .results_by_partition
                    .iter()
                    .map(|p| p.partition_error_code)
                    .collect::<Vec<_>>(),
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(
            batched(true, vec![0, 1]),
            vec![NONE, ResponseError::TransactionAbortable.code()]
        );
        assert_eq!(batched(false, vec![1]), vec![NONE]);
        assert_eq!(batched(true, vec![0, 1]), vec![NONE, NONE]);
    }

    #[test]
    fn txn_offset_commit_v4_refuses_a_group_not_added_as_abortable_and_v5_adds_it() {
        let broker = Broker::new();
        let init = broker.init(1);
        let (pid, epoch) = (init.producer_id.0, init.producer_epoch);
        assert_eq!(broker.add_partitions(pid, epoch, vec![0]), vec![NONE]);
        let commit = |version: i16| {
            let req = TxnOffsetCommitRequest::default()
                .with_transactional_id(TransactionalId(text("tx")))
                .with_group_id(GroupId(text("g")))
                .with_producer_id(ProducerId(pid))
                .with_producer_epoch(epoch)
                .with_generation_id(-1)
                .with_topics(vec![
                    txn_offset_commit_request::TxnOffsetCommitRequestTopic::default()
                        .with_name(TopicName(text("t")))
                        .with_partitions(vec![
                            txn_offset_commit_request::TxnOffsetCommitRequestPartition::default()
                                .with_committed_offset(0),
                        ]),
                ]);
            match broker.call(
                ApiKey::TxnOffsetCommit,
                version,
                RequestKind::TxnOffsetCommit(req),
            ) {
                ResponseKind::TxnOffsetCommit(r) => r.topics[0].partitions[0].error_code,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(commit(3), ResponseError::InvalidTxnState.code());
        assert_eq!(commit(4), ResponseError::TransactionAbortable.code());
        // Transactions v2: no AddOffsetsToTxn, the commit adds the group.
        assert_eq!(commit(5), NONE);
        let txn = broker.cluster.txns.describe("tx").unwrap();
        assert!(txn.groups.contains("g"));
    }

    #[test]
    fn end_txn_writes_markers_and_settles_the_transactions_offsets() {
        let broker = Broker::new();
        let init = broker.init(4);
        let (pid, epoch) = (init.producer_id.0, init.producer_epoch);
        broker.add_partitions(pid, epoch, vec![0, 1]);
        assert_eq!(
            broker.produce(0, transactional_batch(pid, epoch, 0)).0,
            NONE
        );
        assert_eq!(broker.commit_offset_in_txn(pid, epoch, 5), (NONE, NONE));
        assert_eq!(
            broker.fetch_offset(true),
            (ResponseError::UnstableOffsetCommit.code(), -1)
        );
        assert_eq!(broker.fetch_offset(false), (NONE, -1), "not committed yet");

        let describe = DescribeTransactionsRequest::default().with_transactional_ids(vec![
            TransactionalId(text("tx")),
            TransactionalId(text("x")),
        ]);
        let ResponseKind::DescribeTransactions(r) = broker.call(
            ApiKey::DescribeTransactions,
            0,
            RequestKind::DescribeTransactions(describe),
        ) else {
            panic!()
        };
        let state = &r.transaction_states[0];
        assert_eq!(state.transaction_state.as_str(), "Ongoing");
        assert_eq!(state.transaction_timeout_ms, 60_000);
        assert!(state.transaction_start_time_ms > 0);
        let topics: Vec<(String, Vec<i32>)> = state
            .topics
            .iter()
            .map(|t| (t.topic.to_string(), t.partitions.clone()))
            .collect();
        assert_eq!(
            topics,
            vec![
                ("t".into(), vec![0, 1]),
                (
                    "__consumer_offsets".into(),
                    vec![crate::state::coordinator_partition("g")]
                )
            ]
        );
        assert_eq!(
            r.transaction_states[1].error_code,
            ResponseError::TransactionalIdNotFound.code()
        );

        let list = ListTransactionsRequest::default()
            .with_state_filters(vec![text("Ongoing"), text("Nonsense")])
            .with_producer_id_filters(vec![ProducerId(pid)]);
        let ResponseKind::ListTransactions(r) = broker.call(
            ApiKey::ListTransactions,
            0,
            RequestKind::ListTransactions(list),
        ) else {
            panic!()
        };
        assert_eq!(r.transaction_states.len(), 1);
        assert_eq!(r.transaction_states[0].transactional_id.as_str(), "tx");
        assert_eq!(r.unknown_state_filters, vec![text("Nonsense")]);

        // v2: the pattern must match the whole id; a bad one fails the request.
        let listed = |version: i16, pattern: &str| {
            let list = ListTransactionsRequest::default()
                .with_transactional_id_pattern(Some(text(pattern)));
            let ResponseKind::ListTransactions(r) = broker.call(
                ApiKey::ListTransactions,
                version,
                RequestKind::ListTransactions(list),
            ) else {
                panic!()
            };
            let ids: Vec<String> = r
                .transaction_states
                .iter()
                .map(|t| t.transactional_id.to_string())
                .collect();
            (r.error_code, ids)
        };
        assert_eq!(listed(2, "t"), (NONE, vec![]));
        assert_eq!(
            listed(1, "t"),
            (NONE, vec!["tx".to_string()]),
            "v1 has no pattern"
        );
        assert_eq!(listed(2, "t.*"), (NONE, vec!["tx".to_string()]));
        assert_eq!(listed(2, ""), (NONE, vec!["tx".to_string()]));
        assert_eq!(
            listed(2, "("),
            (ResponseError::InvalidRegularExpression.code(), vec![])
        );

        let describe = DescribeProducersRequest::default().with_topics(vec![
            describe_producers_request::TopicRequest::default()
                .with_name(TopicName(text("t")))
                .with_partition_indexes(vec![0]),
        ]);
        let ResponseKind::DescribeProducers(r) = broker.call(
            ApiKey::DescribeProducers,
            0,
            RequestKind::DescribeProducers(describe),
        ) else {
            panic!()
        };
        let producer = &r.topics[0].partitions[0].active_producers[0];
        assert_eq!(producer.producer_id.0, pid);
        assert_eq!(producer.last_sequence, 0);
        assert_eq!(producer.current_txn_start_offset, 0);

        assert_eq!(broker.end(3, pid, epoch, true), NONE);
        assert_eq!(broker.high_watermark(0), 2, "data and a COMMIT marker");
        assert_eq!(
            broker.high_watermark(1),
            1,
            "a marker even where nothing was written"
        );
        assert_eq!(broker.fetch_offset(true), (NONE, 5));
        assert_eq!(broker.end(3, pid, epoch, true), NONE, "a retried commit");
        assert_eq!(
            broker.end(3, pid, epoch, false),
            ResponseError::InvalidTxnState.code()
        );
    }

    #[test]
    fn an_aborted_transactions_offsets_are_dropped_and_its_records_skipped() {
        let broker = Broker::new();
        let init = broker.init(0);
        let (pid, epoch) = (init.producer_id.0, init.producer_epoch);
        broker.add_partitions(pid, epoch, vec![0]);
        broker.produce(0, transactional_batch(pid, epoch, 0));
        assert_eq!(broker.commit_offset_in_txn(pid, epoch, 1), (NONE, NONE));
        assert_eq!(broker.end(0, pid, epoch, false), NONE);
        assert_eq!(broker.fetch_offset(true), (NONE, -1), "dropped, and stable");
        let fetch = |isolation_level: i8| {
            let req = FetchRequest::default()
                .with_max_bytes(1 << 20)
                .with_isolation_level(isolation_level)
                .with_topics(vec![fetch_request::FetchTopic::default()
                    .with_topic(TopicName(text("t")))
                    .with_partitions(vec![
                        fetch_request::FetchPartition::default().with_partition_max_bytes(1 << 20)
                    ])]);
            match broker.call(ApiKey::Fetch, 11, RequestKind::Fetch(req)) {
                ResponseKind::Fetch(r) => r.responses[0].partitions[0].clone(),
                other => panic!("{other:?}"),
            }
        };
        let committed = fetch(1);
        assert_eq!(committed.last_stable_offset, 2);
        let aborted = committed.aborted_transactions.unwrap();
        assert_eq!(aborted.len(), 1);
        assert_eq!(
            (aborted[0].producer_id.0, aborted[0].first_offset),
            (pid, 0)
        );
        assert!(fetch(0).aborted_transactions.is_none());
    }

    #[test]
    fn a_fenced_producer_is_told_in_the_words_its_version_knows() {
        let broker = Broker::new();
        let first = broker.init(1);
        let (pid, epoch) = (first.producer_id.0, first.producer_epoch);
        broker.add_partitions(pid, epoch, vec![0]);
        // The successor's first attempt aborts the open transaction and asks it to retry.
        assert_eq!(
            broker.init(1).error_code,
            ResponseError::ConcurrentTransactions.code()
        );
        let second = broker.init(1);
        assert_eq!(second.error_code, NONE);
        assert_eq!(second.producer_epoch, epoch + 2);
        assert_eq!(broker.high_watermark(0), 1, "the ABORT marker");
        assert_eq!(
            broker.end(1, pid, epoch, true),
            ResponseError::InvalidProducerEpoch.code()
        );
        assert_eq!(
            broker.end(2, pid, epoch, true),
            ResponseError::ProducerFenced.code()
        );
        assert_eq!(
            broker.produce(0, transactional_batch(pid, epoch, 0)).0,
            ResponseError::InvalidProducerEpoch.code()
        );
    }
}
