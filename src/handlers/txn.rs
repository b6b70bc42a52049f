//! Idempotent producers and transactions: InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn,
//! EndTxn, TxnOffsetCommit, and the admin APIs DescribeTransactions, ListTransactions and
//! DescribeProducers. The state machine is `state::txn`; sequences and markers live with each
//! partition's log (`state::producers`).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
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

use super::group::check_coordinator;
use super::RequestContext;
use crate::state::batch::BatchHeader;
use crate::state::coordinator::TopicPartition;
use crate::state::group::CommittedOffset;
use crate::state::topics::Topic;
use crate::state::txn::{Member, TxnGuard};

/// A TxnOffsetCommit's partitions by topic, each with its own error or the offset to store.
type PartitionCommits = Vec<(
    TopicName,
    Vec<(i32, Result<CommittedOffset, ResponseError>)>,
)>;

/// Kafka's `offset.metadata.max.bytes`.
const OFFSET_METADATA_MAX_BYTES: usize = 4096;

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

/// A produce request's transactional batches may only go to a partition added to their
/// transaction (Kafka 3.6+ verification, KIP-890): otherwise INVALID_TXN_STATE ("Partition was
/// not added to the transaction"), or INVALID_PRODUCER_EPOCH for a fenced producer. The guard
/// keeps the coordinator locked until the batches are appended.
pub fn verify_produce<'a>(
    ctx: &'a RequestContext,
    transactional_id: Option<&str>,
    topic: &Topic,
    partition: i32,
    batches: &[(BatchHeader, bytes::Bytes)],
) -> Result<Option<TxnGuard<'a>>, ResponseError> {
    let Some((header, _)) = batches.iter().find(|(h, _)| h.is_transactional()) else {
        return Ok(None);
    };
    let Some(transactional_id) = transactional_id else {
        return Err(ResponseError::TransactionalIdAuthorizationFailed);
    };
    let tp = (topic.name.clone(), partition);
    ctx.cluster
        .txns
        .lock_verified(
            transactional_id,
            header.producer_id,
            header.producer_epoch,
            Member::Partition(&tp),
        )
        .map(Some)
        .map_err(|e| match e {
            ResponseError::ProducerFenced => ResponseError::InvalidProducerEpoch,
            // Retriable for every client version.
            ResponseError::ConcurrentTransactions => ResponseError::NotEnoughReplicas,
            e => e,
        })
}

pub fn init_producer_id(
    ctx: &RequestContext,
    req: InitProducerIdRequest,
) -> InitProducerIdResponse {
    let version = ctx.version();
    let result = (|| {
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
    let transactional_id = req.v3_and_below_transactional_id.to_string();
    let requested: Vec<(TopicName, Vec<i32>)> = req
        .v3_and_below_topics
        .into_iter()
        .map(|t| (t.name, t.partitions))
        .collect();
    let unknown = |name: &TopicName, index: i32| {
        ctx.cluster
            .topics
            .get(name)
            .and_then(|t| t.partition(index))
            .is_none()
    };
    let any_unknown = requested
        .iter()
        .any(|(name, partitions)| partitions.iter().any(|&p| unknown(name, p)));
    // Unknown partitions fail on their own and the rest are not attempted, as Kafka does.
    let outcome = if any_unknown {
        Err(ResponseError::OperationNotAttempted)
    } else {
        let partitions: Vec<TopicPartition> = requested
            .iter()
            .flat_map(|(name, partitions)| partitions.iter().map(|&p| (name.to_string(), p)))
            .collect();
        check_txn_coordinator(ctx, &transactional_id)
            .and_then(|()| {
                ctx.cluster.txns.add_to_transaction(
                    &transactional_id,
                    req.v3_and_below_producer_id.0,
                    req.v3_and_below_producer_epoch,
                    &partitions,
                    &[],
                )
            })
            .map_err(|e| fenced_error(e, ctx.version(), 2))
    };
    let topics = requested
        .into_iter()
        .map(|(name, partitions)| {
            let results = partitions
                .into_iter()
                .map(|p| {
                    let error = if unknown(&name, p) {
                        Err(ResponseError::UnknownTopicOrPartition)
                    } else {
                        outcome
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
        .collect();
    AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(topics)
}

pub fn add_offsets_to_txn(
    ctx: &RequestContext,
    req: AddOffsetsToTxnRequest,
) -> AddOffsetsToTxnResponse {
    let group_id = req.group_id.to_string();
    let result = check_txn_coordinator(ctx, &req.transactional_id).and_then(|()| {
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
    let result = check_txn_coordinator(ctx, &req.transactional_id).and_then(|()| {
        ctx.cluster.txns.end_txn(
            &ctx.cluster.topics,
            &ctx.cluster.groups,
            &req.transactional_id,
            req.producer_id.0,
            req.producer_epoch,
            req.committed,
        )
    });
    EndTxnResponse::default()
        .with_error_code(code(result.map_err(|e| fenced_error(e, ctx.version(), 2))))
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
            let known = ctx.cluster.topics.get(&topic.name);
            let partitions = topic
                .partitions
                .into_iter()
                .map(|p| {
                    let result = if known
                        .as_ref()
                        .is_none_or(|t| t.partition(p.partition_index).is_none())
                    {
                        Err(ResponseError::UnknownTopicOrPartition)
                    } else if p
                        .committed_metadata
                        .as_ref()
                        .is_some_and(|m| m.len() > OFFSET_METADATA_MAX_BYTES)
                    {
                        Err(ResponseError::OffsetMetadataTooLarge)
                    } else {
                        Ok(CommittedOffset {
                            offset: p.committed_offset,
                            leader_epoch: p.committed_leader_epoch,
                            metadata: p.committed_metadata.map(|m| m.to_string()),
                        })
                    };
                    (p.partition_index, result)
                })
                .collect();
            (topic.name, partitions)
        })
        .collect();
    let valid: Vec<(TopicPartition, CommittedOffset)> = results
        .iter()
        .flat_map(|(name, partitions)| {
            partitions.iter().filter_map(move |(index, result)| {
                result
                    .as_ref()
                    .ok()
                    .map(|o| ((name.to_string(), *index), o.clone()))
            })
        })
        .collect();
    let group_id = req.group_id.to_string();
    let stored = check_coordinator(ctx, &group_id).and_then(|()| {
        // The coordinator stays locked while the offsets are stored, so the transaction cannot
        // end in between. A stale epoch is INVALID_PRODUCER_EPOCH, as Kafka's verification says.
        let _verified = ctx
            .cluster
            .txns
            .lock_verified(
                &req.transactional_id,
                req.producer_id.0,
                req.producer_epoch,
                Member::Group(&group_id),
            )
            .map_err(|e| match e {
                ResponseError::ProducerFenced => ResponseError::InvalidProducerEpoch,
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
            if let Err(error) = check_txn_coordinator(ctx, &id) {
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
            for (topic, partition) in txn.partitions.iter().cloned().chain(offsets_partitions) {
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
    let (listed, unknown) = ctx.cluster.txns.list(&states, &producer_ids, min_duration);
    // Each broker lists the transactional ids it coordinates.
    let listed = listed
        .into_iter()
        .filter(|t| check_txn_coordinator(ctx, &t.transactional_id).is_ok())
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
            let partitions = t
                .partition_indexes
                .into_iter()
                .map(|index| {
                    let response = PartitionResponse::default().with_partition_index(index);
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
