//! ShareFetch and ShareAcknowledge (KIP-932): a share consumer acquires records of its
//! share-partitions under an acquisition lock and acknowledges them, piggy-backed on its next
//! ShareFetch or alone in a ShareAcknowledge. Acknowledgements are applied before the fetch, so a
//! released record can come back in the same response. A ShareFetch with nothing to acquire
//! long-polls like Fetch: it parks on the partitions' next append, on records being released in
//! the group, and on the earliest acquisition lock to expire.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::share_acknowledge_response::{
    self as ack_response, ShareAcknowledgeTopicResponse,
};
use kafka_protocol::messages::share_fetch_response::{
    AcquiredRecords, PartitionData, ShareFetchableTopicResponse,
};
use kafka_protocol::messages::{
    GroupId, ShareAcknowledgeRequest, ShareAcknowledgeResponse, ShareFetchRequest,
    ShareFetchResponse,
};
use kafka_protocol::protocol::StrBytes;
use tokio::sync::Notify;
use tokio::time::Instant;
use uuid::Uuid;

use super::authz::{self, operation};
use super::share_group::check_enabled;
use super::RequestContext;
use crate::state::log::batch;
use crate::state::share::share_partition::Acquired;
use crate::state::share::{OffsetReset, SessionUse, SharePartitionKey, FINAL_EPOCH};

/// What the Java client sends as `max.poll.records` by default, for a request without a limit.
const DEFAULT_MAX_RECORDS: usize = 500;

/// (first offset, last offset, acknowledge types) of one acknowledgement batch.
type AckBatch = (i64, i64, Vec<i8>);

/// The group and member a share request names; both are required.
fn ids(
    ctx: &RequestContext,
    group_id: &Option<GroupId>,
    member_id: &Option<StrBytes>,
) -> Result<(String, String), ResponseError> {
    check_enabled(ctx)?;
    let (Some(group_id), Some(member_id)) = (group_id.as_deref(), member_id.as_deref()) else {
        return Err(ResponseError::InvalidRequest);
    };
    if group_id.is_empty() || member_id.is_empty() {
        return Err(ResponseError::InvalidRequest);
    }
    authz::group(ctx, group_id, operation::READ)?;
    Ok((group_id.to_string(), member_id.to_string()))
}

/// Applies acknowledgements partition by partition; the error of each partition that failed.
fn acknowledge(
    ctx: &RequestContext,
    group_id: &str,
    member_id: &str,
    acks: BTreeMap<SharePartitionKey, Vec<AckBatch>>,
) -> BTreeMap<SharePartitionKey, Option<ResponseError>> {
    let settings = &ctx.cluster.config.groups.share;
    let now = std::time::Instant::now();
    let mut errors = BTreeMap::new();
    for (key, batches) in acks {
        let result = match ctx.cluster.topics.get_by_id(&key.0) {
            None => Err(ResponseError::UnknownTopicId),
            Some(topic) => authz::topic(ctx, &topic.name, operation::READ).and_then(|()| {
                ctx.cluster
                    .shares
                    .acknowledge(group_id, member_id, key, &batches, settings, now)
            }),
        };
        errors.insert(key, result.err());
    }
    errors
}

fn code(error: &Option<ResponseError>) -> i16 {
    error.map_or(0, |e| e.code())
}

pub async fn fetch(ctx: &RequestContext, req: ShareFetchRequest) -> ShareFetchResponse {
    let ids = ids(ctx, &req.group_id, &req.member_id);
    let (group_id, member_id) = match ids {
        Ok(ids) => ids,
        Err(e) => return ShareFetchResponse::default().with_error_code(e.code()),
    };
    let mut added = Vec::new();
    let mut acks: BTreeMap<SharePartitionKey, Vec<AckBatch>> = BTreeMap::new();
    for t in &req.topics {
        for p in &t.partitions {
            let key = (t.topic_id, p.partition_index);
            added.push(key);
            let batches = p
                .acknowledgement_batches
                .iter()
                .map(|b| (b.first_offset, b.last_offset, b.acknowledge_types.clone()));
            if p.acknowledgement_batches.is_empty() {
                continue;
            }
            acks.entry(key).or_default().extend(batches);
        }
    }
    let forgotten: Vec<SharePartitionKey> = req
        .forgotten_topics_data
        .iter()
        .flat_map(|t| t.partitions.iter().map(move |&p| (t.topic_id, p)))
        .collect();
    let epoch = req.share_session_epoch;
    if epoch == FINAL_EPOCH && !added.iter().all(|k| acks.contains_key(k)) {
        return ShareFetchResponse::default().with_error_code(ResponseError::InvalidRequest.code());
    }
    let shares = &ctx.cluster.shares;
    let session = match shares.use_session(
        &group_id,
        &member_id,
        epoch,
        SessionUse::Fetch,
        &added,
        &forgotten,
    ) {
        Ok(session) => session,
        Err(error) => return ShareFetchResponse::default().with_error_code(error.code()),
    };
    let ack_errors = acknowledge(ctx, &group_id, &member_id, acks);
    let settings = &ctx.cluster.config.groups.share;
    let limits = shares.limits(&group_id, settings);
    let mut partitions: BTreeMap<SharePartitionKey, PartitionData> = BTreeMap::new();
    for (key, error) in &ack_errors {
        let data = partition_data(&mut partitions, *key);
        data.acknowledge_error_code = code(error);
    }
    if epoch == FINAL_EPOCH {
        shares.close_session(&group_id, &member_id);
    } else {
        let want = Want {
            group_id: &group_id,
            member_id: &member_id,
            partitions: session.into_iter().collect(),
            max_records: match req.max_records {
                n if n > 0 => n as usize,
                _ => DEFAULT_MAX_RECORDS,
            },
            max_bytes: req.max_bytes.max(0) as usize,
        };
        let deadline = Instant::now() + Duration::from_millis(req.max_wait_ms.max(0) as u64);
        long_poll(ctx, &want, deadline, &mut partitions).await;
    }
    let mut by_topic: BTreeMap<Uuid, Vec<PartitionData>> = BTreeMap::new();
    for ((topic_id, _), data) in partitions {
        by_topic.entry(topic_id).or_default().push(data);
    }
    ShareFetchResponse::default()
        .with_acquisition_lock_timeout_ms(limits.lock_duration.as_millis() as i32)
        .with_responses(
            by_topic
                .into_iter()
                .map(|(topic_id, partitions)| {
                    ShareFetchableTopicResponse::default()
                        .with_topic_id(topic_id)
                        .with_partitions(partitions)
                })
                .collect(),
        )
}

fn partition_data(
    partitions: &mut BTreeMap<SharePartitionKey, PartitionData>,
    key: SharePartitionKey,
) -> &mut PartitionData {
    partitions
        .entry(key)
        .or_insert_with(|| PartitionData::default().with_partition_index(key.1))
}

/// What a ShareFetch asks to acquire: for whom, from which share-partitions, how much.
struct Want<'a> {
    group_id: &'a str,
    member_id: &'a str,
    partitions: Vec<SharePartitionKey>,
    max_records: usize,
    max_bytes: usize,
}

/// Acquires until some record is, an error needs reporting, the deadline passes or the broker
/// stops.
async fn long_poll(
    ctx: &RequestContext,
    want: &Want<'_>,
    deadline: Instant,
    partitions: &mut BTreeMap<SharePartitionKey, PartitionData>,
) {
    let waiter = Arc::new(Notify::new());
    let mut shutdown = ctx.shutdown.clone();
    let shares = &ctx.cluster.shares;
    loop {
        let released = shares.changed.notified();
        tokio::pin!(released);
        released.as_mut().enable();
        let found = acquire(ctx, want, &waiter, partitions);
        if found || Instant::now() >= deadline || *shutdown.borrow() {
            return;
        }
        let lock_deadline = shares
            .next_lock_deadline(want.group_id)
            .map(Instant::from_std)
            .unwrap_or(deadline)
            .min(deadline);
        tokio::select! {
            _ = waiter.notified() => {}
            _ = &mut released => {}
            _ = tokio::time::sleep_until(lock_deadline) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// One pass over the session's partitions; whether anything was acquired or failed. Each
/// partition with nothing to acquire is parked on, under its log lock.
fn acquire(
    ctx: &RequestContext,
    want: &Want<'_>,
    waiter: &Arc<Notify>,
    partitions: &mut BTreeMap<SharePartitionKey, PartitionData>,
) -> bool {
    let (group_id, member_id) = (want.group_id, want.member_id);
    let settings = &ctx.cluster.config.groups.share;
    let now = std::time::Instant::now();
    let mut found = false;
    let mut records_left = want.max_records;
    let mut bytes_left = want.max_bytes;
    for &key in &want.partitions {
        if records_left == 0 {
            break;
        }
        let topic = ctx.cluster.topics.get_by_id(&key.0);
        let checked = match &topic {
            None => Err(ResponseError::UnknownTopicId),
            Some(t) => authz::topic(ctx, &t.name, operation::READ).and_then(|()| {
                let partition = t
                    .partition(key.1)
                    .ok_or(ResponseError::UnknownTopicOrPartition)?;
                partition.leadership().check_leader(ctx.broker_id, -1)?;
                Ok(partition)
            }),
        };
        let partition = match checked {
            Err(error) => {
                partition_data(partitions, key).error_code = error.code();
                found = true;
                continue;
            }
            Ok(p) => p,
        };
        let mut log = partition.log.lock();
        let high_watermark = log.high_watermark();
        let log_start = log.log_start_offset();
        let start = |reset: OffsetReset| match reset {
            OffsetReset::Earliest => log_start,
            OffsetReset::Latest => high_watermark,
            OffsetReset::ByDuration(d) => {
                let since = crate::state::now_ms() - d.as_millis() as i64;
                log.offset_for_timestamp(since)
                    .map_or(high_watermark, |t| t.offset)
            }
        };
        let start = start(ctx.cluster.shares.offset_reset(group_id));
        let acquired = ctx.cluster.shares.with_partition(
            group_id,
            key,
            |_| start,
            settings,
            |sp, limits| {
                sp.move_start(log_start);
                sp.expire(now, limits);
                if !sp.has_available(high_watermark) {
                    return Vec::new();
                }
                // The log's records from the end offset, control batches left out.
                let mut new_records = Vec::new();
                let mut count = 0usize;
                let mut size = 0usize;
                for b in log.batches().filter(|b| b.last_offset >= sp.end_offset()) {
                    if count >= records_left || (size > 0 && size + b.bytes.len() > bytes_left) {
                        break;
                    }
                    size += b.bytes.len();
                    let is_control = batch::read_header(&b.bytes).is_ok_and(|h| h.is_control());
                    if !is_control {
                        let first = b.base_offset.max(sp.end_offset());
                        count += (b.last_offset - first + 1) as usize;
                        new_records.push((first, b.last_offset));
                    }
                }
                sp.acquire(
                    member_id,
                    records_left,
                    &new_records,
                    high_watermark,
                    now,
                    limits,
                )
            },
        );
        if acquired.is_empty() {
            log.park(waiter);
            continue;
        }
        let records = batches_holding(&log, &acquired);
        drop(log);
        found = true;
        records_left = records_left.saturating_sub(
            acquired
                .iter()
                .map(|a| (a.last_offset - a.first_offset + 1) as usize)
                .sum(),
        );
        bytes_left = bytes_left.saturating_sub(records.len());
        let data = partition_data(partitions, key);
        data.records = Some(records);
        data.acquired_records = acquired
            .into_iter()
            .map(|a| {
                AcquiredRecords::default()
                    .with_first_offset(a.first_offset)
                    .with_last_offset(a.last_offset)
                    .with_delivery_count(a.delivery_count)
            })
            .collect();
    }
    found
}

/// The stored batches that hold any of the acquired offsets, as they are: the client hands out
/// only the acquired records of them.
fn batches_holding(log: &crate::state::log::PartitionLog, acquired: &[Acquired]) -> Bytes {
    let mut buf = BytesMut::new();
    for b in log.batches() {
        let holds = acquired
            .iter()
            .any(|a| a.first_offset <= b.last_offset && a.last_offset >= b.base_offset);
        if holds {
            buf.extend_from_slice(&b.bytes);
        }
    }
    buf.freeze()
}

pub fn acknowledge_only(
    ctx: &RequestContext,
    req: ShareAcknowledgeRequest,
) -> ShareAcknowledgeResponse {
    let ids = ids(ctx, &req.group_id, &req.member_id);
    let (group_id, member_id) = match ids {
        Ok(ids) => ids,
        Err(e) => return ShareAcknowledgeResponse::default().with_error_code(e.code()),
    };
    let shares = &ctx.cluster.shares;
    let epoch = req.share_session_epoch;
    if let Err(error) = shares.use_session(
        &group_id,
        &member_id,
        epoch,
        SessionUse::Acknowledge,
        &[],
        &[],
    ) {
        return ShareAcknowledgeResponse::default().with_error_code(error.code());
    }
    let mut acks: BTreeMap<SharePartitionKey, Vec<AckBatch>> = BTreeMap::new();
    for t in &req.topics {
        for p in &t.partitions {
            let batches = p
                .acknowledgement_batches
                .iter()
                .map(|b| (b.first_offset, b.last_offset, b.acknowledge_types.clone()));
            acks.entry((t.topic_id, p.partition_index))
                .or_default()
                .extend(batches);
        }
    }
    let errors = acknowledge(ctx, &group_id, &member_id, acks);
    if epoch == FINAL_EPOCH {
        shares.close_session(&group_id, &member_id);
    }
    let mut by_topic: BTreeMap<Uuid, Vec<ack_response::PartitionData>> = BTreeMap::new();
    for ((topic_id, partition), error) in errors {
        by_topic.entry(topic_id).or_default().push(
            ack_response::PartitionData::default()
                .with_partition_index(partition)
                .with_error_code(code(&error)),
        );
    }
    ShareAcknowledgeResponse::default().with_responses(
        by_topic
            .into_iter()
            .map(|(topic_id, partitions)| {
                ShareAcknowledgeTopicResponse::default()
                    .with_topic_id(topic_id)
                    .with_partitions(partitions)
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use kafka_protocol::messages::share_fetch_request::{
        AcknowledgementBatch, FetchPartition, FetchTopic,
    };
    use kafka_protocol::messages::{ApiKey, GroupId, RequestKind, ResponseKind};
    use kafka_protocol::protocol::StrBytes;

    use super::*;
    use crate::control::{produce, NewRecord};
    use crate::handlers::tests::{call, test_cluster};
    use crate::state::share::share_partition::{ACCEPT, RELEASE};

    fn share_fetch(
        cluster: &Arc<crate::state::Cluster>,
        epoch: i32,
        topic_id: Uuid,
        acks: Vec<AcknowledgementBatch>,
    ) -> ShareFetchResponse {
        let req = ShareFetchRequest::default()
            .with_group_id(Some(GroupId(StrBytes::from_static_str("g"))))
            .with_member_id(Some(StrBytes::from_static_str("m")))
            .with_share_session_epoch(epoch)
            .with_max_records(10)
            .with_max_bytes(1 << 20)
            .with_topics(vec![FetchTopic::default()
                .with_topic_id(topic_id)
                .with_partitions(vec![FetchPartition::default()
                    .with_partition_index(0)
                    .with_acknowledgement_batches(acks)])]);
        match call(cluster, ApiKey::ShareFetch, 1, RequestKind::ShareFetch(req)) {
            ResponseKind::ShareFetch(r) => r,
            other => panic!("{other:?}"),
        }
    }

    fn acquired(r: &ShareFetchResponse) -> Vec<(i64, i64, i16)> {
        r.responses
            .iter()
            .flat_map(|t| t.partitions.iter())
            .flat_map(|p| p.acquired_records.iter())
            .map(|a| (a.first_offset, a.last_offset, a.delivery_count))
            .collect()
    }

    #[test]
    fn a_share_fetch_acquires_and_a_released_record_comes_back_in_the_next() {
        let cluster = test_cluster(1);
        cluster
            .shares
            .set_group_config("g", "share.auto.offset.reset", Some("earliest".into()));
        let record = |v: &'static str| NewRecord {
            value: Some(Bytes::from_static(v.as_bytes())),
            partition: Some(0),
            ..Default::default()
        };
        produce(&cluster, "t", vec![record("a"), record("b")]).unwrap();
        let topic_id = cluster.topics.get("t").unwrap().id;
        let first = share_fetch(&cluster, 0, topic_id, vec![]);
        assert_eq!(first.error_code, 0);
        assert_eq!(acquired(&first), vec![(0, 1, 1)]);
        assert_eq!(first.acquisition_lock_timeout_ms, 30_000);
        let ack = AcknowledgementBatch::default()
            .with_first_offset(0)
            .with_last_offset(1)
            .with_acknowledge_types(vec![ACCEPT, RELEASE]);
        let second = share_fetch(&cluster, 1, topic_id, vec![ack]);
        assert_eq!(acquired(&second), vec![(1, 1, 2)]);
        let stale = share_fetch(&cluster, 1, topic_id, vec![]);
        assert_eq!(
            stale.error_code,
            ResponseError::InvalidShareSessionEpoch.code()
        );
    }

    #[test]
    fn without_share_version_share_requests_are_unsupported() {
        let cluster = test_cluster(1);
        cluster.features.apply(&[("share.version", 0)]);
        let r = share_fetch(&cluster, 0, Uuid::nil(), vec![]);
        assert_eq!(r.error_code, ResponseError::UnsupportedVersion.code());
    }
}
