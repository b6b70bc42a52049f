//! Idempotent and transactional producers as a partition sees them (Kafka's producer state
//! manager): per producer id, the producer epoch and the sequence ranges of its last five
//! batches, so a retried batch is recognised and acknowledged with its first offset instead of
//! being written twice; the transactions in progress, which hold the last stable offset back;
//! and the index of aborted transactions that read_committed fetches return.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicI64, Ordering};

use bytes::{Bytes, BytesMut};
use kafka_protocol::error::ResponseError;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use crate::state::log::batch::BatchHeader;

/// How many batches per producer Kafka remembers for duplicate detection
/// (the client's `max.in.flight.requests.per.connection` limit for idempotence).
pub const CACHED_BATCHES: usize = 5;

pub const NO_PRODUCER_ID: i64 = -1;
pub const NO_PRODUCER_EPOCH: i16 = -1;
pub const NO_SEQUENCE: i32 = -1;

/// Hands out producer ids, cluster-wide (Kafka allocates them in blocks through the controller).
#[derive(Debug, Default)]
pub struct ProducerIds {
    next: AtomicI64,
}

impl ProducerIds {
    pub fn next(&self) -> i64 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }
}

/// The sequence of the last record of a batch; sequences wrap from `i32::MAX` to 0.
pub fn last_sequence(base_sequence: i32, last_offset_delta: i32) -> i32 {
    if base_sequence > i32::MAX - last_offset_delta {
        last_offset_delta - (i32::MAX - base_sequence) - 1
    } else {
        base_sequence + last_offset_delta
    }
}

fn in_sequence(last_seq: i32, next_seq: i32) -> bool {
    next_seq as i64 == last_seq as i64 + 1 || (next_seq == 0 && last_seq == i32::MAX)
}

/// Where one of a producer's recent batches went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchMetadata {
    pub first_seq: i32,
    pub last_seq: i32,
    pub first_offset: i64,
    pub last_offset: i64,
    pub timestamp: i64,
}

/// What a partition knows of one producer id.
#[derive(Debug, Clone)]
pub struct ProducerEntry {
    pub producer_epoch: i16,
    /// The last `CACHED_BATCHES` batches of the current epoch, oldest first.
    batches: VecDeque<BatchMetadata>,
    /// Of the last transaction marker written for this producer; -1 before any.
    pub coordinator_epoch: i32,
    /// First offset of the producer's transaction in progress in this partition.
    pub current_txn_first_offset: Option<i64>,
    pub last_timestamp: i64,
}

impl ProducerEntry {
    fn new() -> Self {
        ProducerEntry {
            producer_epoch: NO_PRODUCER_EPOCH,
            batches: VecDeque::with_capacity(CACHED_BATCHES),
            coordinator_epoch: -1,
            current_txn_first_offset: None,
            last_timestamp: -1,
        }
    }

    /// Sequence of the last record appended in this epoch, or -1.
    pub fn last_seq(&self) -> i32 {
        self.batches.back().map_or(NO_SEQUENCE, |b| b.last_seq)
    }

    /// A new epoch starts with a clean sequence history.
    fn set_epoch(&mut self, epoch: i16) {
        if self.producer_epoch != epoch {
            self.producer_epoch = epoch;
            self.batches.clear();
        }
    }

    fn find_duplicate(&self, header: &BatchHeader) -> Option<BatchMetadata> {
        if header.producer_epoch != self.producer_epoch {
            return None;
        }
        let last_seq = last_sequence(header.base_sequence, header.last_offset_delta);
        self.batches
            .iter()
            .find(|b| b.first_seq == header.base_sequence && b.last_seq == last_seq)
            .copied()
    }
}

/// A completed, aborted transaction: what read_committed consumers must skip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    /// Offset of the ABORT marker.
    pub last_offset: i64,
}

/// A transaction marker the coordinator writes into each partition of a transaction it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnMarker {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub coordinator_epoch: i32,
    pub commit: bool,
}

/// The marker as Kafka writes it: a v2 batch with the control and transactional attributes and
/// one control record, key = version (int16 0) + type (int16: 0 ABORT, 1 COMMIT), value =
/// version (int16 0) + coordinator epoch (int32).
pub fn txn_marker_batch(
    marker: &TxnMarker,
    offset: i64,
    leader_epoch: i32,
    timestamp: i64,
) -> Bytes {
    let mut key = Vec::with_capacity(4);
    key.extend_from_slice(&0i16.to_be_bytes());
    key.extend_from_slice(&(marker.commit as i16).to_be_bytes());
    let mut value = Vec::with_capacity(6);
    value.extend_from_slice(&0i16.to_be_bytes());
    value.extend_from_slice(&marker.coordinator_epoch.to_be_bytes());
    let record = Record {
        transactional: true,
        control: true,
        delete_horizon: false,
        partition_leader_epoch: leader_epoch,
        producer_id: marker.producer_id,
        producer_epoch: marker.producer_epoch,
        timestamp_type: TimestampType::Creation,
        offset,
        sequence: NO_SEQUENCE,
        timestamp,
        key: Some(Bytes::from(key)),
        value: Some(Bytes::from(value)),
        headers: Default::default(),
    };
    let mut buf = BytesMut::with_capacity(80);
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    // Encoding one uncompressed record into memory cannot fail.
    RecordBatchEncoder::encode(&mut buf, [&record], &options).expect("a marker batch encodes");
    buf.freeze()
}

/// What the producer checks decided about a batch about to be appended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Append it.
    Append,
    /// A retry of a batch already in the log: answer with where it went, append nothing.
    Duplicate(BatchMetadata),
}

/// One partition's producer state.
#[derive(Debug, Default)]
pub struct ProducerStateTable {
    producers: HashMap<i64, ProducerEntry>,
    /// Transactions in progress in this partition: first offset -> producer id.
    ongoing: BTreeMap<i64, i64>,
    /// Aborted transactions in the order their markers were written (so by last offset).
    aborted: Vec<AbortedTxn>,
}

impl ProducerStateTable {
    pub fn entry(&self, producer_id: i64) -> Option<&ProducerEntry> {
        self.producers.get(&producer_id)
    }

    /// Every producer id the partition has seen, by id.
    pub fn active_producers(&self) -> Vec<(i64, &ProducerEntry)> {
        let mut producers: Vec<_> = self.producers.iter().map(|(id, e)| (*id, e)).collect();
        producers.sort_by_key(|(id, _)| *id);
        producers
    }

    /// Checks a client batch against its producer's state as Kafka does: a retry of one of the
    /// last five batches is a duplicate; an older epoch is INVALID_PRODUCER_EPOCH; a sequence
    /// that does not follow the last one is OUT_OF_ORDER_SEQUENCE_NUMBER (a new epoch must start
    /// at 0; a producer the partition has never seen may start anywhere, as since KIP-360); a
    /// non-transactional batch while the producer's transaction is open is INVALID_TXN_STATE.
    pub fn check(&self, header: &BatchHeader) -> Result<Verdict, ResponseError> {
        if header.is_control() {
            // Only the coordinator writes markers.
            return Err(ResponseError::InvalidRecord);
        }
        if header.producer_id < 0 {
            return if header.is_transactional() {
                Err(ResponseError::InvalidRecord)
            } else {
                Ok(Verdict::Append)
            };
        }
        if header.base_sequence < 0 || header.producer_epoch < 0 {
            return Err(ResponseError::InvalidRecord);
        }
        let Some(entry) = self.producers.get(&header.producer_id) else {
            return Ok(Verdict::Append);
        };
        if let Some(duplicate) = entry.find_duplicate(header) {
            return Ok(Verdict::Duplicate(duplicate));
        }
        if header.producer_epoch < entry.producer_epoch {
            return Err(ResponseError::InvalidProducerEpoch);
        }
        if header.producer_epoch != entry.producer_epoch {
            if header.base_sequence != 0 && entry.producer_epoch != NO_PRODUCER_EPOCH {
                return Err(ResponseError::OutOfOrderSequenceNumber);
            }
        } else if !in_sequence(entry.last_seq(), header.base_sequence) {
            return Err(ResponseError::OutOfOrderSequenceNumber);
        }
        if entry.current_txn_first_offset.is_some() && !header.is_transactional() {
            return Err(ResponseError::InvalidTxnState);
        }
        Ok(Verdict::Append)
    }

    /// Records a checked batch appended at `first_offset..=last_offset`; a transactional batch
    /// opens the producer's transaction in this partition if none is open.
    pub fn record_batch(&mut self, header: &BatchHeader, first_offset: i64, last_offset: i64) {
        if header.producer_id < 0 {
            return;
        }
        let entry = self
            .producers
            .entry(header.producer_id)
            .or_insert_with(ProducerEntry::new);
        entry.set_epoch(header.producer_epoch);
        if entry.batches.len() == CACHED_BATCHES {
            entry.batches.pop_front();
        }
        entry.batches.push_back(BatchMetadata {
            first_seq: header.base_sequence,
            last_seq: last_sequence(header.base_sequence, header.last_offset_delta),
            first_offset,
            last_offset,
            timestamp: header.max_timestamp,
        });
        entry.last_timestamp = header.max_timestamp;
        if header.is_transactional() && entry.current_txn_first_offset.is_none() {
            entry.current_txn_first_offset = Some(first_offset);
            self.ongoing.insert(first_offset, header.producer_id);
        }
    }

    /// Records a COMMIT or ABORT marker written at `offset`: the producer's transaction in this
    /// partition is over; an aborted one enters the aborted-transaction index.
    pub fn record_marker(
        &mut self,
        producer_id: i64,
        producer_epoch: i16,
        coordinator_epoch: i32,
        commit: bool,
        offset: i64,
        timestamp: i64,
    ) {
        let entry = self
            .producers
            .entry(producer_id)
            .or_insert_with(ProducerEntry::new);
        entry.set_epoch(producer_epoch);
        entry.coordinator_epoch = coordinator_epoch;
        entry.last_timestamp = timestamp;
        if let Some(first_offset) = entry.current_txn_first_offset.take() {
            self.ongoing.remove(&first_offset);
            if !commit {
                self.aborted.push(AbortedTxn {
                    producer_id,
                    first_offset,
                    last_offset: offset,
                });
            }
        }
    }

    /// Whether a marker from the coordinator at this epoch may be written (an older epoch is a
    /// zombie coordinator's or an old producer's).
    pub fn check_marker(&self, producer_id: i64, producer_epoch: i16) -> Result<(), ResponseError> {
        match self.producers.get(&producer_id) {
            Some(entry) if producer_epoch < entry.producer_epoch => {
                Err(ResponseError::InvalidProducerEpoch)
            }
            _ => Ok(()),
        }
    }

    /// First offset of the oldest transaction still open here: the last stable offset, if any.
    pub fn first_unstable_offset(&self) -> Option<i64> {
        self.ongoing.keys().next().copied()
    }

    /// Aborted transactions overlapping `[from, to)`, by first offset: what a read_committed
    /// fetch of that range returns so the client drops their records.
    pub fn aborted_transactions(&self, from: i64, to: i64) -> Vec<AbortedTxn> {
        let start = self.aborted.partition_point(|t| t.last_offset < from);
        let mut overlapping: Vec<AbortedTxn> = self.aborted[start..]
            .iter()
            .filter(|t| t.first_offset < to)
            .copied()
            .collect();
        overlapping.sort_by_key(|t| t.first_offset);
        overlapping
    }

    /// Forgets aborted transactions wholly below the log start offset (retention, DeleteRecords).
    pub fn truncate_before(&mut self, log_start_offset: i64) {
        self.aborted.retain(|t| t.last_offset >= log_start_offset);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRANSACTIONAL: i16 = 0x10;

    fn batch(producer_id: i64, epoch: i16, base_sequence: i32, records: i32) -> BatchHeader {
        BatchHeader {
            base_offset: 0,
            size: 100,
            attributes: 0,
            last_offset_delta: records - 1,
            first_timestamp: 1,
            max_timestamp: 1,
            producer_id,
            producer_epoch: epoch,
            base_sequence,
            records_count: records,
        }
    }

    fn txn_batch(producer_id: i64, epoch: i16, base_sequence: i32, records: i32) -> BatchHeader {
        BatchHeader {
            attributes: TRANSACTIONAL,
            ..batch(producer_id, epoch, base_sequence, records)
        }
    }

    /// Checks and appends like the log does, with offsets from `*end`.
    fn append(table: &mut ProducerStateTable, end: &mut i64, header: BatchHeader) -> Verdict {
        let verdict = table.check(&header).unwrap();
        if verdict == Verdict::Append {
            let first = *end;
            *end += header.records_count as i64;
            table.record_batch(&header, first, *end - 1);
        }
        verdict
    }

    #[test]
    fn sequences_must_follow_on() {
        let mut table = ProducerStateTable::default();
        let mut end = 0;
        assert_eq!(
            append(&mut table, &mut end, batch(7, 0, 0, 3)),
            Verdict::Append
        );
        assert_eq!(
            append(&mut table, &mut end, batch(7, 0, 3, 2)),
            Verdict::Append
        );
        assert_eq!(table.entry(7).unwrap().last_seq(), 4);
        assert_eq!(
            table.check(&batch(7, 0, 6, 1)),
            Err(ResponseError::OutOfOrderSequenceNumber),
            "a gap"
        );
        assert_eq!(table.check(&batch(7, 0, 5, 1)), Ok(Verdict::Append));
    }

    #[test]
    fn a_retry_of_one_of_the_last_five_batches_is_a_duplicate() {
        let mut table = ProducerStateTable::default();
        let mut end = 0;
        for seq in 0..7 {
            append(&mut table, &mut end, batch(1, 0, seq, 1));
        }
        for seq in 2..7 {
            assert_eq!(
                table.check(&batch(1, 0, seq, 1)),
                Ok(Verdict::Duplicate(BatchMetadata {
                    first_seq: seq,
                    last_seq: seq,
                    first_offset: seq as i64,
                    last_offset: seq as i64,
                    timestamp: 1,
                }))
            );
        }
        assert_eq!(
            table.check(&batch(1, 0, 1, 1)),
            Err(ResponseError::OutOfOrderSequenceNumber),
            "older than the cached batches"
        );
        assert_eq!(
            table.check(&batch(1, 0, 5, 2)),
            Err(ResponseError::OutOfOrderSequenceNumber),
            "same first sequence, different range"
        );
    }

    #[test]
    fn epochs_fence_and_restart_sequences() {
        let mut table = ProducerStateTable::default();
        let mut end = 0;
        append(&mut table, &mut end, batch(3, 1, 0, 2));
        assert_eq!(
            table.check(&batch(3, 0, 2, 1)),
            Err(ResponseError::InvalidProducerEpoch)
        );
        assert_eq!(
            table.check(&batch(3, 2, 5, 1)),
            Err(ResponseError::OutOfOrderSequenceNumber),
            "a new epoch starts at sequence 0"
        );
        assert_eq!(
            append(&mut table, &mut end, batch(3, 2, 0, 1)),
            Verdict::Append
        );
        assert_eq!(table.entry(3).unwrap().producer_epoch, 2);
        assert_eq!(
            table.check(&batch(3, 2, 0, 1)),
            Ok(Verdict::Duplicate(BatchMetadata {
                first_seq: 0,
                last_seq: 0,
                first_offset: 2,
                last_offset: 2,
                timestamp: 1,
            }))
        );
    }

    #[test]
    fn an_unknown_producer_may_start_at_any_sequence() {
        // Kafka 2.5+ (KIP-360): the producer's state may have been removed with its data.
        let table = ProducerStateTable::default();
        assert_eq!(table.check(&batch(9, 0, 42, 1)), Ok(Verdict::Append));
    }

    #[test]
    fn sequences_wrap_at_int_max() {
        assert_eq!(last_sequence(i32::MAX, 0), i32::MAX);
        assert_eq!(last_sequence(i32::MAX, 1), 0);
        assert_eq!(last_sequence(i32::MAX - 1, 3), 1);
        let mut table = ProducerStateTable::default();
        let mut end = 0;
        append(&mut table, &mut end, batch(1, 0, i32::MAX - 1, 2));
        assert_eq!(table.check(&batch(1, 0, 0, 1)), Ok(Verdict::Append));
    }

    #[test]
    fn malformed_producer_batches_are_invalid_records() {
        let table = ProducerStateTable::default();
        assert_eq!(
            table.check(&txn_batch(-1, -1, -1, 1)),
            Err(ResponseError::InvalidRecord)
        );
        assert_eq!(
            table.check(&batch(1, 0, -1, 1)),
            Err(ResponseError::InvalidRecord)
        );
        let control = BatchHeader {
            attributes: 0x20,
            ..batch(1, 0, 0, 1)
        };
        assert_eq!(table.check(&control), Err(ResponseError::InvalidRecord));
        assert_eq!(table.check(&batch(-1, -1, -1, 1)), Ok(Verdict::Append));
    }

    #[test]
    fn open_transactions_hold_the_last_stable_offset() {
        let mut table = ProducerStateTable::default();
        let mut end = 0;
        append(&mut table, &mut end, batch(1, 0, 0, 2)); // 0..=1, not transactional
        assert_eq!(table.first_unstable_offset(), None);
        append(&mut table, &mut end, txn_batch(2, 0, 0, 2)); // 2..=3
        append(&mut table, &mut end, txn_batch(3, 0, 0, 1)); // 4
        append(&mut table, &mut end, txn_batch(2, 0, 2, 1)); // 5, same transaction
        assert_eq!(table.first_unstable_offset(), Some(2));
        assert_eq!(
            table.check(&batch(2, 0, 3, 1)),
            Err(ResponseError::InvalidTxnState),
            "non-transactional write inside a transaction"
        );
        table.record_marker(2, 0, 0, true, 6, 1);
        assert_eq!(table.first_unstable_offset(), Some(4));
        table.record_marker(3, 0, 0, false, 7, 1);
        assert_eq!(table.first_unstable_offset(), None);
        assert!(table.entry(2).unwrap().current_txn_first_offset.is_none());
        assert_eq!(table.entry(3).unwrap().coordinator_epoch, 0);
    }

    #[test]
    fn aborted_transactions_are_found_by_range() {
        let mut table = ProducerStateTable::default();
        let mut end = 0;
        append(&mut table, &mut end, txn_batch(1, 0, 0, 2)); // 0..=1
        append(&mut table, &mut end, txn_batch(2, 0, 0, 1)); // 2
        table.record_marker(2, 0, 0, false, 3, 1);
        table.record_marker(1, 0, 0, false, 4, 1);
        end = 5;
        append(&mut table, &mut end, txn_batch(1, 0, 2, 1)); // 5
        table.record_marker(1, 0, 0, true, 6, 1);
        let ids = |table: &ProducerStateTable, from, to| -> Vec<(i64, i64)> {
            table
                .aborted_transactions(from, to)
                .iter()
                .map(|t| (t.producer_id, t.first_offset))
                .collect()
        };
        assert_eq!(
            ids(&table, 0, 7),
            vec![(1, 0), (2, 2)],
            "sorted by first offset"
        );
        assert_eq!(ids(&table, 0, 1), vec![(1, 0)]);
        assert_eq!(ids(&table, 4, 7), vec![(1, 0)], "still open at its marker");
        assert_eq!(
            ids(&table, 5, 7),
            vec![],
            "committed transactions are not listed"
        );
        table.truncate_before(4);
        assert_eq!(ids(&table, 0, 7), vec![(1, 0)]);
    }

    #[test]
    fn a_marker_with_a_bumped_epoch_resets_the_sequences() {
        let mut table = ProducerStateTable::default();
        let mut end = 0;
        append(&mut table, &mut end, txn_batch(1, 0, 0, 3));
        // The coordinator fences the producer and aborts with epoch 1.
        table.record_marker(1, 1, 0, false, 3, 1);
        assert_eq!(
            table.check_marker(1, 0),
            Err(ResponseError::InvalidProducerEpoch)
        );
        assert_eq!(
            table.check(&txn_batch(1, 0, 3, 1)),
            Err(ResponseError::InvalidProducerEpoch)
        );
        assert_eq!(table.entry(1).unwrap().last_seq(), NO_SEQUENCE);
        assert_eq!(table.check(&txn_batch(1, 2, 0, 1)), Ok(Verdict::Append));
    }
}
