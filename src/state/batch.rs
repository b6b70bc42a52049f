//! The fixed header of a v2 record batch, read in place.
//!
//! Produce and fetch move batches as the client sent them; only the header fields the broker owns
//! (base offset, partition leader epoch, and for LogAppendTime the max timestamp) are rewritten.
//! Records themselves are decoded only where a feature needs them (timestamp lookups, test helpers).

use bytes::{Bytes, BytesMut};
use kafka_protocol::error::ResponseError;

/// Size of the v2 batch header up to and including the record count.
pub const HEADER_LEN: usize = 61;
/// `baseOffset` (8) + `batchLength` (4): the part of the header `batchLength` does not count.
pub const LOG_OVERHEAD: usize = 12;

const PARTITION_LEADER_EPOCH: usize = 12;
const MAGIC: usize = 16;
const CRC: usize = 17;
const ATTRIBUTES: usize = 21;
const LAST_OFFSET_DELTA: usize = 23;
const FIRST_TIMESTAMP: usize = 27;
const MAX_TIMESTAMP: usize = 35;
const PRODUCER_ID: usize = 43;
const PRODUCER_EPOCH: usize = 51;
const BASE_SEQUENCE: usize = 53;
const RECORDS_COUNT: usize = 57;

const TIMESTAMP_TYPE_LOG_APPEND: i16 = 0x08;
const TRANSACTIONAL: i16 = 0x10;
const CONTROL: i16 = 0x20;

/// What the broker needs to know about a batch without decoding its records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    /// Total size in bytes, header included.
    pub size: usize,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub first_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub records_count: i32,
}

impl BatchHeader {
    pub fn is_transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL != 0
    }

    pub fn is_control(&self) -> bool {
        self.attributes & CONTROL != 0
    }

    pub fn compression(&self) -> i16 {
        self.attributes & 0x07
    }
}

fn i16_at(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}

fn i32_at(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

fn i64_at(b: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(b[at..at + 8].try_into().unwrap())
}

/// Reads the header of the batch at the start of `bytes`, checking magic, length and CRC.
pub fn read_header(bytes: &[u8]) -> Result<BatchHeader, ResponseError> {
    if bytes.len() < HEADER_LEN {
        return Err(ResponseError::CorruptMessage);
    }
    let batch_length = i32_at(bytes, 8);
    if batch_length < (HEADER_LEN - LOG_OVERHEAD) as i32 {
        return Err(ResponseError::CorruptMessage);
    }
    let size = LOG_OVERHEAD + batch_length as usize;
    if size > bytes.len() {
        return Err(ResponseError::CorruptMessage);
    }
    if bytes[MAGIC] != 2 {
        // Produce v3+ only carries magic v2; older message formats are refused as Kafka does.
        return Err(ResponseError::UnsupportedForMessageFormat);
    }
    let crc = i32_at(bytes, CRC) as u32;
    if crc32c::crc32c(&bytes[ATTRIBUTES..size]) != crc {
        return Err(ResponseError::CorruptMessage);
    }
    let header = BatchHeader {
        base_offset: i64_at(bytes, 0),
        size,
        attributes: i16_at(bytes, ATTRIBUTES),
        last_offset_delta: i32_at(bytes, LAST_OFFSET_DELTA),
        first_timestamp: i64_at(bytes, FIRST_TIMESTAMP),
        max_timestamp: i64_at(bytes, MAX_TIMESTAMP),
        producer_id: i64_at(bytes, PRODUCER_ID),
        producer_epoch: i16_at(bytes, PRODUCER_EPOCH),
        base_sequence: i32_at(bytes, BASE_SEQUENCE),
        records_count: i32_at(bytes, RECORDS_COUNT),
    };
    if header.last_offset_delta < 0 || header.records_count < 0 {
        return Err(ResponseError::CorruptMessage);
    }
    Ok(header)
}

/// The records a consumer sees in a stored batch (none in a control batch), read from its
/// header without checking it again: stored batches were checked when appended.
pub fn visible_records(stored: &[u8]) -> usize {
    if stored.len() < HEADER_LEN || i16_at(stored, ATTRIBUTES) & CONTROL != 0 {
        return 0;
    }
    i32_at(stored, RECORDS_COUNT).max(0) as usize
}

/// Splits a produce request's record set into its batches, validating each header.
/// A trailing partial batch is corrupt input, not something to drop silently.
pub fn split_batches(records: &Bytes) -> Result<Vec<(BatchHeader, Bytes)>, ResponseError> {
    let mut batches = Vec::with_capacity(1);
    let mut at = 0;
    while at < records.len() {
        let header = read_header(&records[at..])?;
        batches.push((header, records.slice(at..at + header.size)));
        at += header.size;
    }
    if batches.is_empty() {
        return Err(ResponseError::CorruptMessage);
    }
    Ok(batches)
}

/// Copies a batch into the log's own buffer with the broker-owned header fields set: the base
/// offset, the partition leader epoch, and (LogAppendTime topics) the timestamp type and max
/// timestamp, which changes the CRC. The copy is the one copy of record bytes on the produce path.
pub fn stamp(
    batch: &[u8],
    base_offset: i64,
    leader_epoch: i32,
    log_append_time: Option<i64>,
) -> Bytes {
    let mut out = BytesMut::from(batch);
    out[0..8].copy_from_slice(&base_offset.to_be_bytes());
    out[PARTITION_LEADER_EPOCH..PARTITION_LEADER_EPOCH + 4]
        .copy_from_slice(&leader_epoch.to_be_bytes());
    if let Some(now) = log_append_time {
        let attributes = i16_at(&out, ATTRIBUTES) | TIMESTAMP_TYPE_LOG_APPEND;
        out[ATTRIBUTES..ATTRIBUTES + 2].copy_from_slice(&attributes.to_be_bytes());
        out[MAX_TIMESTAMP..MAX_TIMESTAMP + 8].copy_from_slice(&now.to_be_bytes());
        let crc = crc32c::crc32c(&out[ATTRIBUTES..]);
        out[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
    }
    out.freeze()
}

/// Whether every record of the batch has a key, as a compacted topic requires. Decodes (and
/// decompresses) the batch: only called for compacted topics.
pub fn all_records_have_keys(bytes: &Bytes) -> bool {
    let mut buf = bytes.clone();
    kafka_protocol::records::RecordBatchDecoder::decode(&mut buf)
        .is_ok_and(|set| set.records.iter().all(|r| r.key.is_some()))
}

/// Sets a re-encoded batch's base sequence back to what the producer wrote (the encoder derives
/// it from the records, which for a non-idempotent batch is not -1), fixing the CRC.
pub fn restore_base_sequence(bytes: Bytes, base_sequence: i32) -> Bytes {
    if i32_at(&bytes, BASE_SEQUENCE) == base_sequence {
        return bytes;
    }
    let mut out = BytesMut::from(&bytes[..]);
    out[BASE_SEQUENCE..BASE_SEQUENCE + 4].copy_from_slice(&base_sequence.to_be_bytes());
    let crc = crc32c::crc32c(&out[ATTRIBUTES..]);
    out[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
    out.freeze()
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };

    /// Encodes a batch of (key, value, timestamp) records the way a client would.
    pub fn encode_batch(records: &[(&str, &str, i64)]) -> Bytes {
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
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                sequence: i as i32,
                timestamp: *ts,
                key: Some(Bytes::copy_from_slice(k.as_bytes())),
                value: Some(Bytes::copy_from_slice(v.as_bytes())),
                headers: Default::default(),
            })
            .collect();
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(
            &mut buf,
            &records,
            &RecordEncodeOptions {
                version: 2,
                compression: Compression::None,
            },
        )
        .unwrap();
        buf.freeze()
    }

    #[test]
    fn reads_a_client_batch_header() {
        let batch = encode_batch(&[("a", "1", 100), ("b", "2", 300), ("c", "3", 200)]);
        let header = read_header(&batch).unwrap();
        assert_eq!(header.size, batch.len());
        assert_eq!(header.last_offset_delta, 2);
        assert_eq!(header.records_count, 3);
        assert_eq!(header.first_timestamp, 100);
        assert_eq!(header.max_timestamp, 300);
    }

    #[test]
    fn a_flipped_bit_is_a_corrupt_message() {
        let mut batch = BytesMut::from(&encode_batch(&[("a", "1", 1)])[..]);
        let last = batch.len() - 1;
        batch[last] ^= 1;
        assert_eq!(read_header(&batch), Err(ResponseError::CorruptMessage));
    }

    #[test]
    fn a_truncated_record_set_is_a_corrupt_message() {
        let batch = encode_batch(&[("a", "1", 1)]);
        let truncated = batch.slice(0..batch.len() - 3);
        assert_eq!(
            split_batches(&truncated).unwrap_err(),
            ResponseError::CorruptMessage
        );
        assert_eq!(
            split_batches(&Bytes::new()).unwrap_err(),
            ResponseError::CorruptMessage
        );
    }

    #[test]
    fn stamping_sets_offset_and_keeps_the_crc_valid() {
        let batch = encode_batch(&[("a", "1", 5), ("b", "2", 6)]);
        let stamped = stamp(&batch, 42, 3, Some(999));
        let header = read_header(&stamped).unwrap();
        assert_eq!(header.base_offset, 42);
        assert_eq!(header.max_timestamp, 999);
        assert_eq!(
            header.attributes & TIMESTAMP_TYPE_LOG_APPEND,
            TIMESTAMP_TYPE_LOG_APPEND
        );
        assert_eq!(i32_at(&stamped, PARTITION_LEADER_EPOCH), 3);
        // Only the header changed.
        assert_eq!(&stamped[HEADER_LEN..], &batch[HEADER_LEN..]);
    }
}
