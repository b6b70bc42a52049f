//! The log cleaner: compaction for topics with `cleanup.policy=compact`.
//!
//! Keeps the last record of every key, drops tombstones (null values) once they are older than
//! `delete.retention.ms`, and never changes an offset: compacted batches keep their records'
//! offsets, so the log simply has gaps. As Kafka's cleaner, a batch that loses records is written
//! anew with its own codec, base offset and last offset delta, its kept records byte for byte;
//! control batches (transaction markers) are kept as they are.

use std::collections::HashMap;

use bytes::Bytes;

use super::batch::{self, BatchHeader, RawRecord};
use super::PartitionLog;

/// What the cleaner may remove, from the topic's configs.
#[derive(Debug, Clone, Copy)]
pub struct CleanerConfig {
    pub now_ms: i64,
    /// `delete.retention.ms`: how long a tombstone is kept.
    pub delete_retention_ms: i64,
    /// `min.compaction.lag.ms`: records younger than this are left alone.
    pub min_compaction_lag_ms: i64,
}

/// A cleanable batch with its records decompressed and located.
struct Decoded {
    header: BatchHeader,
    section: Bytes,
    records: Vec<RawRecord>,
}

impl Decoded {
    fn key(&self, record: &RawRecord) -> Option<Bytes> {
        record.key.clone().map(|range| self.section.slice(range))
    }

    fn offset(&self, record: &RawRecord) -> i64 {
        self.header.base_offset + record.offset_delta as i64
    }
}

/// Compacts the log in place; returns how many records were removed.
pub fn compact(log: &mut PartitionLog, config: CleanerConfig) -> usize {
    // Records newer than the lag, and everything after the first of them, stay uncleaned.
    let horizon = config.now_ms.saturating_sub(config.min_compaction_lag_ms);
    // As Kafka's cleaner: nothing from the first open transaction on is cleaned, and records of
    // aborted transactions are discarded rather than allowed to supersede committed values.
    let last_stable_offset = log.last_stable_offset();
    let aborted = log.aborted_transactions(i64::MIN, i64::MAX);
    let batches = log.batches_mut();
    let mut decoded: Vec<Option<Decoded>> = Vec::with_capacity(batches.len());
    let mut discarded: Vec<bool> = Vec::with_capacity(batches.len());
    let mut latest: HashMap<Bytes, i64> = HashMap::new();
    let mut cleanable = true;
    for stored in batches.iter() {
        cleanable &= stored.max_timestamp <= horizon && stored.last_offset < last_stable_offset;
        let header = batch::read_header(&stored.bytes).ok();
        let is_aborted = header.is_some_and(|h| {
            h.is_transactional()
                && !h.is_control()
                && aborted.iter().any(|t| {
                    t.producer_id == h.producer_id
                        && (t.first_offset..=t.last_offset).contains(&stored.base_offset)
                })
        });
        discarded.push(cleanable && is_aborted);
        let header = match header {
            Some(h) if cleanable && !is_aborted && !h.is_control() => h,
            _ => {
                decoded.push(None);
                continue;
            }
        };
        let Some(batch) = decode(&stored.bytes, header) else {
            decoded.push(None);
            continue;
        };
        for record in &batch.records {
            if let Some(key) = batch.key(record) {
                latest.insert(key, batch.offset(record));
            }
        }
        decoded.push(Some(batch));
    }

    let mut removed = 0;
    let mut index = 0;
    batches.retain_mut(|stored| {
        let batch = decoded[index].take();
        let discard = discarded[index];
        index += 1;
        if discard {
            removed += batch::read_header(&stored.bytes).map_or(0, |h| h.records_count as usize);
            return false;
        }
        let Some(batch) = batch else { return true };
        let total = batch.records.len();
        let kept: Vec<&RawRecord> = batch
            .records
            .iter()
            .filter(|r| match batch.key(r) {
                // Records without a key cannot be compacted away.
                None => true,
                Some(key) => {
                    let is_latest = latest.get(&key) == Some(&batch.offset(r));
                    let timestamp = batch
                        .header
                        .first_timestamp
                        .saturating_add(r.timestamp_delta);
                    let expired_tombstone = r.is_tombstone
                        && config.now_ms.saturating_sub(timestamp) > config.delete_retention_ms;
                    is_latest && !expired_tombstone
                }
            })
            .collect();
        if kept.len() == total {
            return true;
        }
        if kept.is_empty() {
            removed += total;
            return false;
        }
        // On failure the original stays rather than lose data we could not write anew.
        if let Ok(bytes) =
            batch::retain_records(&stored.bytes, &batch.header, &batch.section, &kept)
        {
            removed += total - kept.len();
            // Rewritten from the stored batch, so it already carries its base offset.
            stored.max_timestamp =
                batch::read_header(&bytes).map_or(stored.max_timestamp, |h| h.max_timestamp);
            stored.bytes = bytes;
        }
        true
    });
    removed
}

/// The batch's records, decompressed; `None` if it cannot be read (it is then left alone).
fn decode(bytes: &Bytes, header: BatchHeader) -> Option<Decoded> {
    let section = batch::decompress_records(bytes, &header).ok()?;
    let records = batch::read_records(&section, &header).ok()?;
    Some(Decoded {
        header,
        section,
        records,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::log::batch::read_header;
    use bytes::BytesMut;
    use kafka_protocol::records::{
        Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions,
    };

    fn append(log: &mut PartitionLog, records: &[(&str, Option<&str>, i64)]) {
        let mut buf = BytesMut::new();
        let records: Vec<Record> = records
            .iter()
            .enumerate()
            .map(|(i, (k, v, ts))| Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: 0,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: kafka_protocol::records::TimestampType::Creation,
                offset: i as i64,
                sequence: i as i32 - 1,
                timestamp: *ts,
                key: Some(Bytes::copy_from_slice(k.as_bytes())),
                value: v.map(|v| Bytes::copy_from_slice(v.as_bytes())),
                headers: Default::default(),
            })
            .collect();
        RecordBatchEncoder::encode(
            &mut buf,
            &records,
            &RecordEncodeOptions {
                version: 2,
                compression: kafka_protocol::records::Compression::Gzip,
            },
        )
        .unwrap();
        let bytes = buf.freeze();
        log.append(&read_header(&bytes).unwrap(), &bytes, 0, None);
    }

    fn contents(log: &PartitionLog) -> Vec<(i64, String, Option<String>)> {
        log.batches()
            .flat_map(|b| {
                let mut buf = b.bytes.clone();
                RecordBatchDecoder::decode(&mut buf).unwrap().records
            })
            .map(|r| {
                (
                    r.offset,
                    String::from_utf8(r.key.unwrap().to_vec()).unwrap(),
                    r.value.map(|v| String::from_utf8(v.to_vec()).unwrap()),
                )
            })
            .collect()
    }

    /// Appends one transactional record of producer `producer_id`.
    fn append_transactional(log: &mut PartitionLog, producer_id: i64, key: &str, value: &str) {
        let record = Record {
            transactional: true,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id,
            producer_epoch: 0,
            timestamp_type: kafka_protocol::records::TimestampType::Creation,
            offset: 0,
            sequence: 0,
            timestamp: 10,
            key: Some(Bytes::copy_from_slice(key.as_bytes())),
            value: Some(Bytes::copy_from_slice(value.as_bytes())),
            headers: Default::default(),
        };
        let mut buf = BytesMut::new();
        let options = RecordEncodeOptions {
            version: 2,
            compression: kafka_protocol::records::Compression::None,
        };
        RecordBatchEncoder::encode(&mut buf, [&record], &options).unwrap();
        let bytes = buf.freeze();
        log.append(&read_header(&bytes).unwrap(), &bytes, 0, None);
    }

    const NOW: i64 = 1_000_000;

    #[test]
    fn aborted_records_never_supersede_and_open_transactions_are_not_cleaned() {
        use crate::state::transactions::producers::TxnMarker;
        let mut log = PartitionLog::new();
        append(&mut log, &[("a", Some("committed"), 10)]); // 0
        append_transactional(&mut log, 5, "a", "aborted"); // 1
        let abort = TxnMarker {
            producer_id: 5,
            producer_epoch: 0,
            coordinator_epoch: 0,
            commit: false,
        };
        log.append_txn_marker(&abort, 0, 10).unwrap(); // 2
        append_transactional(&mut log, 6, "b", "open"); // 3
        append(&mut log, &[("b", Some("later"), 10)]); // 4
        assert_eq!(compact(&mut log, config()), 1, "only the aborted record");
        let data: Vec<(i64, Option<String>)> = contents(&log)
            .into_iter()
            .filter(|(offset, _, _)| *offset != 2)
            .map(|(offset, _, value)| (offset, value))
            .collect();
        assert_eq!(
            data,
            vec![
                (0, Some("committed".into())),
                (3, Some("open".into())),
                (4, Some("later".into())),
            ]
        );
        assert_eq!(log.aborted_transactions(0, 5).len(), 1, "the index stays");
    }

    fn config() -> CleanerConfig {
        CleanerConfig {
            now_ms: NOW,
            delete_retention_ms: 86_400_000,
            min_compaction_lag_ms: 0,
        }
    }

    #[test]
    fn compaction_keeps_the_last_value_per_key_at_its_offset() {
        let mut log = PartitionLog::new();
        append(
            &mut log,
            &[
                ("a", Some("1"), 10),
                ("b", Some("1"), 10),
                ("a", Some("2"), 10),
            ],
        );
        append(&mut log, &[("c", Some("1"), 20), ("b", Some("2"), 20)]);
        assert_eq!(compact(&mut log, config()), 2);
        assert_eq!(
            contents(&log),
            vec![
                (2, "a".into(), Some("2".into())),
                (3, "c".into(), Some("1".into())),
                (4, "b".into(), Some("2".into())),
            ]
        );
        assert_eq!(log.high_watermark(), 5, "offsets never change");
        // Still gzip, still valid, still spanning its offsets as Kafka's cleaner leaves it.
        let first = log.batches().next().unwrap();
        let header = read_header(&first.bytes).unwrap();
        assert_eq!(header.compression(), 1);
        assert_eq!((first.base_offset, header.base_offset), (0, 0));
        assert_eq!((header.last_offset_delta, header.records_count), (2, 1));
        assert_eq!(header.base_sequence, -1);
        // A fetch at a compacted-away offset gets the batch holding the next record.
        assert_eq!(
            read_header(&log.read(1, usize::MAX, true).records.unwrap())
                .unwrap()
                .base_offset,
            0
        );
    }

    #[test]
    fn tombstones_go_after_delete_retention() {
        let mut log = PartitionLog::new();
        append(&mut log, &[("a", Some("1"), 10), ("a", None, NOW - 10)]);
        compact(&mut log, config());
        assert_eq!(
            contents(&log),
            vec![(1, "a".into(), None)],
            "a recent tombstone stays"
        );
        let later = CleanerConfig {
            delete_retention_ms: 5,
            ..config()
        };
        compact(&mut log, later);
        assert!(contents(&log).is_empty());
        assert_eq!(log.high_watermark(), 2);
    }

    #[test]
    fn records_younger_than_the_compaction_lag_are_left_alone() {
        let mut log = PartitionLog::new();
        append(&mut log, &[("a", Some("1"), NOW - 10)]);
        append(&mut log, &[("a", Some("2"), NOW - 10)]);
        let lagging = CleanerConfig {
            min_compaction_lag_ms: 60_000,
            ..config()
        };
        assert_eq!(compact(&mut log, lagging), 0);
        assert_eq!(compact(&mut log, config()), 1);
    }
}
