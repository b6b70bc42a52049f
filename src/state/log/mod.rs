//! A partition's log: record batches in offset order, as the producer sent them.
//!
//! With one replica per partition the high watermark is the log end offset: a batch is committed
//! the moment it is appended. The last stable offset is lower while a transaction is open: it is
//! the first offset of the oldest open transaction (see `producers`).

pub mod batch;
pub mod cleaner;

use std::collections::VecDeque;
use std::sync::{Arc, Weak};

use bytes::{Bytes, BytesMut};
use kafka_protocol::error::ResponseError;
use tokio::sync::Notify;

use super::transactions::producers::{
    AbortedTxn, BatchMetadata, ProducerStateTable, TxnMarker, Verdict,
};
use batch::BatchHeader;

#[derive(Debug, Clone)]
pub struct StoredBatch {
    pub base_offset: i64,
    pub last_offset: i64,
    pub max_timestamp: i64,
    /// The leader epoch the batch was written in (OffsetForLeaderEpoch).
    pub leader_epoch: i32,
    pub bytes: Bytes,
}

/// What a read returns: the batches' bytes, ready to go into a fetch response as they are.
#[derive(Debug, Default)]
pub struct ReadResult {
    pub records: Option<Bytes>,
    pub size: usize,
    /// The offset after the last batch returned (the requested offset when none is).
    pub end_offset: i64,
}

/// The result of looking up an offset by timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampOffset {
    pub offset: i64,
    pub timestamp: i64,
}

#[derive(Debug, Default)]
pub struct PartitionLog {
    batches: VecDeque<StoredBatch>,
    log_start_offset: i64,
    log_end_offset: i64,
    /// Fetches parked on this partition, woken by the next append (or by deletion).
    waiters: Vec<Weak<Notify>>,
    /// Idempotent and transactional producers' sequences, open transactions, aborted ones.
    producers: ProducerStateTable,
}

impl PartitionLog {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    pub fn high_watermark(&self) -> i64 {
        self.log_end_offset
    }

    /// Bytes held by the log.
    pub fn size(&self) -> usize {
        self.batches.iter().map(|b| b.bytes.len()).sum()
    }

    /// Appends a validated batch, assigning offsets from the log end; returns its base offset.
    pub fn append(
        &mut self,
        header: &BatchHeader,
        bytes: &[u8],
        leader_epoch: i32,
        log_append_time: Option<i64>,
    ) -> i64 {
        let base_offset = self.log_end_offset;
        let last_offset = base_offset + header.last_offset_delta as i64;
        let stored = batch::stamp(bytes, base_offset, leader_epoch, log_append_time);
        self.batches.push_back(StoredBatch {
            base_offset,
            last_offset,
            max_timestamp: log_append_time.unwrap_or(header.max_timestamp),
            leader_epoch,
            bytes: stored,
        });
        self.log_end_offset = last_offset + 1;
        self.producers
            .record_batch(header, base_offset, last_offset);
        self.wake_waiters();
        base_offset
    }

    /// Checks a produce request's batches against their producers' state (see
    /// `ProducerStateTable::check`). `Some` is a retried batch already in the log: nothing is to
    /// be appended and the producer is answered with where it went. As Kafka, a request carries
    /// one batch per partition when it has a producer id.
    pub fn check_producer<'a>(
        &self,
        headers: impl IntoIterator<Item = &'a BatchHeader>,
    ) -> Result<Option<BatchMetadata>, ResponseError> {
        let mut headers = headers.into_iter().peekable();
        let mut checked = 0;
        while let Some(header) = headers.next() {
            checked += 1;
            let has_producer = header.producer_id >= 0 || header.is_transactional();
            if has_producer && (checked > 1 || headers.peek().is_some()) {
                return Err(ResponseError::InvalidRecord);
            }
            if let Verdict::Duplicate(original) = self.producers.check(header)? {
                return Ok(Some(original));
            }
        }
        Ok(None)
    }

    /// Writes a transaction marker (COMMIT or ABORT control batch) for a producer and closes
    /// its transaction in this partition. Returns the marker's offset.
    pub fn append_txn_marker(
        &mut self,
        marker: &TxnMarker,
        leader_epoch: i32,
        timestamp: i64,
    ) -> Result<i64, ResponseError> {
        self.producers
            .check_marker(marker.producer_id, marker.producer_epoch)?;
        let offset = self.log_end_offset;
        let bytes = super::transactions::producers::txn_marker_batch(
            marker,
            offset,
            leader_epoch,
            timestamp,
        );
        self.batches.push_back(StoredBatch {
            base_offset: offset,
            last_offset: offset,
            max_timestamp: timestamp,
            leader_epoch,
            bytes,
        });
        self.log_end_offset = offset + 1;
        self.producers.record_marker(
            marker.producer_id,
            marker.producer_epoch,
            marker.coordinator_epoch,
            marker.commit,
            offset,
            timestamp,
        );
        self.wake_waiters();
        Ok(offset)
    }

    /// The last stable offset: below it every transaction is decided, so read_committed
    /// consumers read up to it and no further.
    pub fn last_stable_offset(&self) -> i64 {
        self.producers
            .first_unstable_offset()
            .map_or(self.log_end_offset, |o| o.min(self.log_end_offset))
            .max(self.log_start_offset)
    }

    /// Aborted transactions overlapping `[from, to)`, for a read_committed fetch of that range.
    pub fn aborted_transactions(&self, from: i64, to: i64) -> Vec<AbortedTxn> {
        self.producers.aborted_transactions(from, to)
    }

    pub fn producers(&self) -> &ProducerStateTable {
        &self.producers
    }

    /// Registers a parked fetch to be woken by the next append. The log holds it weakly: the
    /// registrations of fetches that have since returned are dropped here, so the list stays as
    /// long as the live fetches.
    pub fn park(&mut self, waiter: &Arc<Notify>) {
        self.waiters.retain(|w| w.strong_count() > 0);
        let waiter = Arc::downgrade(waiter);
        if !self.waiters.iter().any(|w| w.ptr_eq(&waiter)) {
            self.waiters.push(waiter);
        }
    }

    pub fn wake_waiters(&mut self) {
        for waiter in self.waiters.drain(..) {
            if let Some(waiter) = waiter.upgrade() {
                waiter.notify_one();
            }
        }
    }

    /// Index of the batch holding `offset` (the first batch whose last offset is at or past it).
    fn batch_index(&self, offset: i64) -> usize {
        self.batches.partition_point(|b| b.last_offset < offset)
    }

    /// Reads whole batches from the one holding `offset`, up to `max_bytes`; the first batch is
    /// returned even when larger than `max_bytes` if `at_least_one` (KIP-74), so a consumer can
    /// always make progress. The caller has checked that `offset` is within the log.
    pub fn read(&self, offset: i64, max_bytes: usize, at_least_one: bool) -> ReadResult {
        self.read_up_to(offset, max_bytes, at_least_one, self.log_end_offset)
    }

    /// As `read`, but only batches that start below `limit` (the last stable offset for a
    /// read_committed fetch, which always falls on a batch boundary).
    pub fn read_up_to(
        &self,
        offset: i64,
        max_bytes: usize,
        at_least_one: bool,
        limit: i64,
    ) -> ReadResult {
        let first = self.batch_index(offset);
        let mut end = first;
        let mut size = 0;
        for batch in self.batches.range(first..) {
            if batch.base_offset >= limit {
                break;
            }
            let len = batch.bytes.len();
            if size + len > max_bytes && !(at_least_one && end == first) {
                break;
            }
            size += len;
            end += 1;
        }
        let records = match end - first {
            0 => None,
            // A single batch goes out without a copy.
            1 => Some(self.batches[first].bytes.clone()),
            _ => {
                let mut buf = BytesMut::with_capacity(size);
                for batch in self.batches.range(first..end) {
                    buf.extend_from_slice(&batch.bytes);
                }
                Some(buf.freeze())
            }
        };
        let end_offset = if end > first {
            self.batches[end - 1].last_offset + 1
        } else {
            offset
        };
        ReadResult {
            records,
            size,
            end_offset,
        }
    }

    /// The first record whose timestamp is at or after `timestamp` (ListOffsets by time).
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Option<TimestampOffset> {
        let first = self
            .batches
            .iter()
            .position(|b| b.max_timestamp >= timestamp)?;
        let batch = &self.batches[first];
        records_of(&batch.bytes)
            .into_iter()
            .find(|r| r.timestamp >= timestamp && r.offset >= self.log_start_offset)
            .or(Some(TimestampOffset {
                offset: batch.base_offset.max(self.log_start_offset),
                timestamp: batch.max_timestamp,
            }))
    }

    /// The record with the largest timestamp, the earliest one on a tie (ListOffsets -3).
    pub fn max_timestamp_offset(&self) -> Option<TimestampOffset> {
        let mut best: Option<&StoredBatch> = None;
        for batch in &self.batches {
            if best.is_none_or(|b| batch.max_timestamp > b.max_timestamp) {
                best = Some(batch);
            }
        }
        let batch = best?;
        records_of(&batch.bytes)
            .into_iter()
            .find(|r| r.timestamp == batch.max_timestamp)
            .or(Some(TimestampOffset {
                offset: batch.last_offset,
                timestamp: batch.max_timestamp,
            }))
    }

    /// Moves the log start offset up to `offset` (DeleteRecords; -1 means the high watermark)
    /// and drops the batches wholly below it. Returns the new log start offset.
    pub fn delete_records_before(&mut self, offset: i64) -> Option<i64> {
        let offset = if offset == -1 {
            self.high_watermark()
        } else {
            offset
        };
        if offset < 0 || offset > self.high_watermark() {
            return None;
        }
        if offset > self.log_start_offset {
            self.log_start_offset = offset;
            while self.batches.front().is_some_and(|b| b.last_offset < offset) {
                self.batches.pop_front();
            }
            self.producers.truncate_before(offset);
        }
        Some(self.log_start_offset)
    }

    /// The end offset of leader epoch `epoch` (OffsetForLeaderEpoch): the start offset of the
    /// first later epoch, or the log end offset if `epoch` is the latest. Returns the largest
    /// epoch at or below the requested one, with its end offset; (-1, -1) if the log has no
    /// epoch that old.
    pub fn end_offset_for_epoch(&self, epoch: i32, current_epoch: i32) -> (i32, i64) {
        if epoch >= current_epoch {
            return (current_epoch, self.log_end_offset);
        }
        match self.batches.iter().position(|b| b.leader_epoch > epoch) {
            Some(0) => (-1, -1),
            Some(i) => (
                self.batches[i - 1].leader_epoch,
                self.batches[i].base_offset,
            ),
            None => (
                self.batches.back().map_or(epoch, |b| b.leader_epoch),
                self.log_end_offset,
            ),
        }
    }

    /// Time- and size-based retention (`retention.ms`, `retention.bytes`; -1 disables each):
    /// drops the oldest batches whose newest record is older than `retention_ms`, then the
    /// oldest batches while the log is larger than `retention_bytes`. Returns how many batches
    /// were dropped.
    pub fn apply_retention(
        &mut self,
        now_ms: i64,
        retention_ms: i64,
        retention_bytes: i64,
    ) -> usize {
        let before = self.batches.len();
        if retention_ms >= 0 {
            while self
                .batches
                .front()
                .is_some_and(|b| now_ms.saturating_sub(b.max_timestamp) > retention_ms)
            {
                self.batches.pop_front();
            }
        }
        if retention_bytes >= 0 {
            let mut size = self.size();
            while let Some(oldest) = self.batches.front() {
                if (size as i64) <= retention_bytes {
                    break;
                }
                size -= oldest.bytes.len();
                self.batches.pop_front();
            }
        }
        let removed = before - self.batches.len();
        if removed > 0 {
            let start = self
                .batches
                .front()
                .map_or(self.log_end_offset, |b| b.base_offset);
            self.log_start_offset = self.log_start_offset.max(start);
            self.producers.truncate_before(self.log_start_offset);
        }
        removed
    }

    /// The batches, for the log cleaner to rewrite in place (offsets never change).
    pub(super) fn batches_mut(&mut self) -> &mut VecDeque<StoredBatch> {
        &mut self.batches
    }

    /// Every stored batch, oldest first.
    pub fn batches(&self) -> impl Iterator<Item = &StoredBatch> {
        self.batches.iter()
    }
}

/// Offsets and timestamps of a stored batch's records, decompressing it. In a LogAppendTime
/// batch every record carries the batch's timestamp, as Kafka reports it.
fn records_of(bytes: &Bytes) -> Vec<TimestampOffset> {
    let Ok(header) = batch::read_header(bytes) else {
        return Vec::new();
    };
    let Ok(section) = batch::decompress_records(bytes, &header) else {
        return Vec::new();
    };
    let Ok(records) = batch::read_records(&section, &header) else {
        return Vec::new();
    };
    records
        .iter()
        .map(|r| TimestampOffset {
            offset: header.base_offset + r.offset_delta as i64,
            timestamp: if header.is_log_append_time() {
                header.max_timestamp
            } else {
                header.first_timestamp.saturating_add(r.timestamp_delta)
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::log::batch::{read_header, tests::encode_batch};
    use kafka_protocol::records::RecordBatchDecoder;

    fn append(log: &mut PartitionLog, records: &[(&str, &str, i64)]) -> i64 {
        let bytes = encode_batch(records);
        let header = read_header(&bytes).unwrap();
        log.append(&header, &bytes, 0, None)
    }

    #[test]
    fn appends_assign_consecutive_offsets() {
        let mut log = PartitionLog::new();
        assert_eq!(append(&mut log, &[("a", "1", 1), ("b", "2", 2)]), 0);
        assert_eq!(append(&mut log, &[("c", "3", 3)]), 2);
        assert_eq!(log.high_watermark(), 3);
        assert_eq!(log.log_start_offset(), 0);
        let offsets: Vec<_> = log
            .batches()
            .map(|b| (b.base_offset, b.last_offset))
            .collect();
        assert_eq!(offsets, vec![(0, 1), (2, 2)]);
    }

    #[test]
    fn a_read_starts_at_the_batch_holding_the_offset() {
        let mut log = PartitionLog::new();
        append(&mut log, &[("a", "1", 1), ("b", "2", 2)]);
        append(&mut log, &[("c", "3", 3)]);
        let read = log.read(1, usize::MAX, true);
        let header = read_header(read.records.as_ref().unwrap()).unwrap();
        assert_eq!(
            header.base_offset, 0,
            "whole batches: the client skips offset 0"
        );
        let read = log.read(2, usize::MAX, true);
        assert_eq!(read_header(&read.records.unwrap()).unwrap().base_offset, 2);
        assert!(log.read(3, usize::MAX, true).records.is_none());
    }

    #[test]
    fn max_bytes_limits_a_read_but_never_below_one_batch() {
        let mut log = PartitionLog::new();
        append(&mut log, &[("a", "1", 1)]);
        append(&mut log, &[("b", "2", 2)]);
        let one = log.batches().next().unwrap().bytes.len();
        assert_eq!(log.read(0, one, true).size, one);
        assert_eq!(log.read(0, 2 * one, true).size, 2 * one);
        assert_eq!(
            log.read(0, 1, true).size,
            one,
            "first batch even if too big"
        );
        assert!(log.read(0, 1, false).records.is_none());
        // Two batches come back as one contiguous record set.
        let both = log.read(0, usize::MAX, true).records.unwrap();
        assert_eq!(both.len(), 2 * one);
        assert_eq!(read_header(&both[one..]).unwrap().base_offset, 1);
    }

    #[test]
    fn timestamp_lookup_finds_the_first_record_at_or_after() {
        let mut log = PartitionLog::new();
        append(&mut log, &[("a", "1", 100), ("b", "2", 200)]);
        append(&mut log, &[("c", "3", 300), ("d", "4", 250)]);
        let at = |ts| log.offset_for_timestamp(ts).map(|t| t.offset);
        assert_eq!(at(0), Some(0));
        assert_eq!(at(150), Some(1));
        assert_eq!(at(260), Some(2));
        assert_eq!(at(301), None);
        assert_eq!(
            log.max_timestamp_offset(),
            Some(TimestampOffset {
                offset: 2,
                timestamp: 300
            })
        );
    }

    #[test]
    fn deleting_records_moves_the_log_start_offset() {
        let mut log = PartitionLog::new();
        append(&mut log, &[("a", "1", 1), ("b", "2", 2)]);
        append(&mut log, &[("c", "3", 3)]);
        assert_eq!(log.delete_records_before(1), Some(1));
        assert_eq!(log.batches().count(), 2, "the batch holding offset 1 stays");
        assert_eq!(log.delete_records_before(2), Some(2));
        assert_eq!(log.batches().count(), 1);
        assert_eq!(log.delete_records_before(0), Some(2), "never moves back");
        assert_eq!(
            log.delete_records_before(4),
            None,
            "beyond the high watermark"
        );
        assert_eq!(log.delete_records_before(-1), Some(3));
        assert_eq!(log.batches().count(), 0);
        assert_eq!(log.high_watermark(), 3);
    }

    #[test]
    fn epoch_end_offsets_come_from_the_batches_epochs() {
        let mut log = PartitionLog::new();
        for epoch in [0, 0, 2, 5] {
            let bytes = encode_batch(&[("k", "v", 1)]);
            log.append(&read_header(&bytes).unwrap(), &bytes, epoch, None);
        }
        assert_eq!(log.end_offset_for_epoch(5, 5), (5, 4));
        assert_eq!(log.end_offset_for_epoch(0, 5), (0, 2));
        assert_eq!(log.end_offset_for_epoch(1, 5), (0, 2));
        assert_eq!(log.end_offset_for_epoch(3, 5), (2, 3));
    }

    #[test]
    fn retention_drops_old_and_excess_batches() {
        let mut log = PartitionLog::new();
        append(&mut log, &[("a", "1", 1_000)]);
        append(&mut log, &[("b", "2", 5_000)]);
        append(&mut log, &[("c", "3", 9_000)]);
        assert_eq!(log.apply_retention(10_000, -1, -1), 0);
        assert_eq!(
            log.apply_retention(10_000, 6_000, -1),
            1,
            "only the batch older than 6 s"
        );
        assert_eq!(log.log_start_offset(), 1);
        let one = log.batches().next().unwrap().bytes.len() as i64;
        assert_eq!(
            log.apply_retention(10_000, -1, one),
            1,
            "keep at most one batch's bytes"
        );
        assert_eq!(log.log_start_offset(), 2);
        assert_eq!(log.apply_retention(100_000, 1, -1), 1);
        assert_eq!(log.log_start_offset(), 3, "an empty log starts at its end");
        assert_eq!(log.high_watermark(), 3);
    }

    /// A batch as an idempotent (and maybe transactional) producer writes it.
    fn producer_batch(
        producer_id: i64,
        epoch: i16,
        base_sequence: i32,
        transactional: bool,
        values: &[&str],
    ) -> Bytes {
        use kafka_protocol::records::{
            Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
        };
        let records: Vec<Record> = values
            .iter()
            .enumerate()
            .map(|(i, v)| Record {
                transactional,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: 0,
                producer_id,
                producer_epoch: epoch,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                sequence: base_sequence + i as i32,
                timestamp: 1,
                key: None,
                value: Some(Bytes::copy_from_slice(v.as_bytes())),
                headers: Default::default(),
            })
            .collect();
        let mut buf = BytesMut::new();
        let options = RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        };
        RecordBatchEncoder::encode(&mut buf, &records, &options).unwrap();
        buf.freeze()
    }

    /// Checks and appends like the produce handler; `Err`/duplicates append nothing.
    fn produce(log: &mut PartitionLog, bytes: &Bytes) -> Result<i64, Option<i64>> {
        let header = read_header(bytes).unwrap();
        match log.check_producer([&header]) {
            Ok(None) => Ok(log.append(&header, bytes, 0, None)),
            Ok(Some(original)) => Err(Some(original.first_offset)),
            Err(_) => Err(None),
        }
    }

    fn marker(producer_id: i64, commit: bool) -> TxnMarker {
        TxnMarker {
            producer_id,
            producer_epoch: 0,
            coordinator_epoch: 0,
            commit,
        }
    }

    #[test]
    fn a_retried_batch_is_answered_with_its_offset_and_not_appended() {
        let mut log = PartitionLog::new();
        let batch = producer_batch(7, 0, 0, false, &["a", "b"]);
        assert_eq!(produce(&mut log, &batch), Ok(0));
        assert_eq!(produce(&mut log, &batch), Err(Some(0)));
        assert_eq!(log.high_watermark(), 2);
        let gap = producer_batch(7, 0, 5, false, &["c"]);
        assert_eq!(produce(&mut log, &gap), Err(None));
        let header = read_header(&batch).unwrap();
        assert_eq!(
            log.check_producer([&header, &header]),
            Err(ResponseError::InvalidRecord),
            "one batch per partition with a producer id"
        );
    }

    #[test]
    fn an_open_transaction_holds_the_last_stable_offset_until_its_marker() {
        let mut log = PartitionLog::new();
        append(&mut log, &[("k", "plain", 1)]); // 0
        produce(&mut log, &producer_batch(1, 0, 0, true, &["t1", "t2"])).unwrap(); // 1..=2
        append(&mut log, &[("k", "later", 1)]); // 3
        assert_eq!(log.high_watermark(), 4);
        assert_eq!(log.last_stable_offset(), 1);
        let read = log.read_up_to(0, usize::MAX, true, log.last_stable_offset());
        assert_eq!(read.end_offset, 1, "stops before the open transaction");
        assert_eq!(log.read_up_to(1, usize::MAX, true, 1).records, None);
        assert_eq!(log.read(0, usize::MAX, true).end_offset, 4);

        let offset = log.append_txn_marker(&marker(1, true), 0, 99).unwrap();
        assert_eq!(offset, 4);
        assert_eq!(log.last_stable_offset(), 5);
        assert_eq!(log.high_watermark(), 5);
        assert!(log.aborted_transactions(0, 5).is_empty());

        // The marker is Kafka's COMMIT control batch.
        let stored = log.batches().last().unwrap().bytes.clone();
        let header = read_header(&stored).unwrap();
        assert!(header.is_control() && header.is_transactional());
        assert_eq!((header.producer_id, header.base_offset), (1, 4));
        assert_eq!(header.base_sequence, -1);
        let set = RecordBatchDecoder::decode(&mut stored.clone()).unwrap();
        let record = &set.records[0];
        assert_eq!(record.key.as_deref(), Some(&[0u8, 0, 0, 1][..]));
        assert_eq!(record.value.as_deref(), Some(&[0u8, 0, 0, 0, 0, 0][..]));
    }

    #[test]
    fn aborted_transactions_are_listed_for_the_range_read() {
        let mut log = PartitionLog::new();
        produce(&mut log, &producer_batch(1, 0, 0, true, &["a"])).unwrap(); // 0
        produce(&mut log, &producer_batch(2, 0, 0, true, &["b"])).unwrap(); // 1
        log.append_txn_marker(&marker(1, false), 0, 1).unwrap(); // 2
        assert_eq!(log.last_stable_offset(), 1, "producer 2 is still open");
        log.append_txn_marker(&marker(2, true), 0, 1).unwrap(); // 3
        assert_eq!(log.last_stable_offset(), 4);
        let aborted = log.aborted_transactions(0, 4);
        assert_eq!(
            aborted,
            vec![AbortedTxn {
                producer_id: 1,
                first_offset: 0,
                last_offset: 2
            }]
        );
        assert!(log.aborted_transactions(3, 4).is_empty());
        // A producer that writes outside its open transaction is refused.
        produce(&mut log, &producer_batch(2, 0, 1, true, &["c"])).unwrap();
        assert_eq!(
            produce(&mut log, &producer_batch(2, 0, 2, false, &["d"])),
            Err(None)
        );
    }

    #[test]
    fn log_append_time_replaces_the_max_timestamp() {
        let mut log = PartitionLog::new();
        let bytes = encode_batch(&[("a", "1", 5)]);
        let header = read_header(&bytes).unwrap();
        log.append(&header, &bytes, 0, Some(777));
        let stored = log.batches().next().unwrap();
        assert_eq!(stored.max_timestamp, 777);
        assert_eq!(read_header(&stored.bytes).unwrap().max_timestamp, 777);
    }

    #[test]
    fn an_append_wakes_parked_fetches() {
        let mut log = PartitionLog::new();
        let waiter = Arc::new(Notify::new());
        log.park(&waiter);
        log.park(&waiter);
        assert_eq!(log.waiters.len(), 1);
        append(&mut log, &[("a", "1", 1)]);
        assert!(log.waiters.is_empty());
        // The permit is stored: a fetch that parks and then awaits does not miss it.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            tokio::time::timeout(std::time::Duration::from_secs(1), waiter.notified())
                .await
                .expect("woken");
        });
    }
}
