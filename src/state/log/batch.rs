//! v2 record batches: the fixed header read in place, and the records located in place once
//! their codec is undone.
//!
//! Produce and fetch move batches as the client sent them; only the header fields the broker owns
//! (base offset, partition leader epoch, and for LogAppendTime the max timestamp) are rewritten.
//! Records themselves are decoded only where a feature needs them (produce validation, compaction,
//! a topic's own `compression.type`, timestamp lookups, test helpers). Compressed batches stay
//! compressed: the codec is undone to look at the records, never to store them.

use std::ops::Range;

use bytes::{Bytes, BytesMut};
use kafka_protocol::compression::{self as codec, Compressor, Decompressor};
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
const COMPRESSION_MASK: i16 = 0x07;
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
        self.attributes & COMPRESSION_MASK
    }

    pub fn is_log_append_time(&self) -> bool {
        self.attributes & TIMESTAMP_TYPE_LOG_APPEND != 0
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

/// Kafka's codec ids, as in the low three bits of a batch's attributes.
pub const NO_COMPRESSION: i16 = 0;
pub const GZIP: i16 = 1;
pub const SNAPPY: i16 = 2;
pub const LZ4: i16 = 3;
pub const ZSTD: i16 = 4;

/// The codec a topic's `compression.type` stores its batches with; `None` for `producer`, which
/// keeps each batch as its producer compressed it.
pub fn codec_for(compression_type: &str) -> Option<i16> {
    match compression_type {
        "uncompressed" => Some(NO_COMPRESSION),
        "gzip" => Some(GZIP),
        "snappy" => Some(SNAPPY),
        "lz4" => Some(LZ4),
        "zstd" => Some(ZSTD),
        _ => None,
    }
}

/// The most a batch's records may take once decompressed. Kafka streams records and has no such
/// bound; here a batch is decompressed whole, so a small payload that inflates without end (a
/// "decompression bomb") must stop somewhere. Far above any real batch.
pub const MAX_DECOMPRESSED_BYTES: usize = 256 << 20;

/// The records section of a batch (everything after its header), with its codec undone.
/// Undecodable codec data is a corrupt message, as it is to Kafka; records beyond
/// `MAX_DECOMPRESSED_BYTES` are refused as too large.
pub fn decompress_records(batch: &Bytes, header: &BatchHeader) -> Result<Bytes, ResponseError> {
    let section = batch.slice(HEADER_LEN..header.size);
    decompress(section, header.compression(), MAX_DECOMPRESSED_BYTES)
}

/// `section` with codec `codec_id` undone, refused once it passes `limit` bytes.
fn decompress(section: Bytes, codec_id: i16, limit: usize) -> Result<Bytes, ResponseError> {
    match codec_id {
        NO_COMPRESSION => Ok(section),
        GZIP => read_bounded(
            flate2::read::MultiGzDecoder::new(&section[..]),
            section.len(),
            limit,
        ),
        SNAPPY => {
            // Snappy declares each block's size up front: check them before allocating.
            match snappy_declared_len(&section) {
                None => return Err(ResponseError::CorruptMessage),
                Some(len) if len > limit => return Err(ResponseError::MessageTooLarge),
                Some(_) => {}
            }
            let mut section = section;
            codec::Snappy::decompress(&mut section, |buf| Ok(std::mem::take(buf)))
                .map_err(|_| ResponseError::CorruptMessage)
        }
        LZ4 => read_bounded(
            lz4::Decoder::new(&section[..]).map_err(|_| ResponseError::CorruptMessage)?,
            section.len(),
            limit,
        ),
        ZSTD => read_bounded(
            zstd::stream::read::Decoder::new(&section[..])
                .map_err(|_| ResponseError::CorruptMessage)?,
            section.len(),
            limit,
        ),
        _ => Err(ResponseError::CorruptMessage),
    }
}

/// Everything `reader` decompresses, up to `limit` bytes.
fn read_bounded(
    reader: impl std::io::Read,
    compressed_len: usize,
    limit: usize,
) -> Result<Bytes, ResponseError> {
    use std::io::Read;
    // A guess at the ratio saves most regrowing of the buffer.
    let mut out = Vec::with_capacity(compressed_len.saturating_mul(8).min(limit));
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|_| ResponseError::CorruptMessage)?;
    if out.len() > limit {
        return Err(ResponseError::MessageTooLarge);
    }
    Ok(out.into())
}

/// The decompressed size a snappy payload declares: raw snappy, or Kafka's (xerial) framing of
/// length-prefixed raw blocks. `None` if it does not parse.
fn snappy_declared_len(section: &[u8]) -> Option<usize> {
    const XERIAL_HEADER: &[u8] = b"\x82SNAPPY\x00";
    const XERIAL_PREAMBLE: usize = 16; // header, then version and compatible version
    if !section.starts_with(XERIAL_HEADER) {
        return snap::raw::decompress_len(section).ok();
    }
    let mut blocks = section.get(XERIAL_PREAMBLE..)?;
    let mut total: usize = 0;
    while !blocks.is_empty() {
        let len = u32::from_be_bytes(blocks.get(..4)?.try_into().ok()?) as usize;
        let block = blocks.get(4..4 + len)?;
        total = total.checked_add(snap::raw::decompress_len(block).ok()?)?;
        blocks = &blocks[4 + len..];
    }
    Some(total)
}

/// `records` compressed with `codec`.
fn compress(codec_id: i16, records: &[u8]) -> Result<BytesMut, ResponseError> {
    let mut out = BytesMut::with_capacity(records.len() / 2 + 64);
    let fill = |buf: &mut BytesMut| {
        buf.extend_from_slice(records);
        Ok(())
    };
    let compressed = match codec_id {
        NO_COMPRESSION => codec::None::compress(&mut out, fill),
        GZIP => codec::Gzip::compress(&mut out, fill),
        SNAPPY => codec::Snappy::compress(&mut out, fill),
        LZ4 => codec::Lz4::compress(&mut out, fill),
        ZSTD => codec::Zstd::compress(&mut out, fill),
        _ => return Err(ResponseError::UnsupportedCompressionType),
    };
    compressed.map_err(|_| ResponseError::UnsupportedCompressionType)?;
    Ok(out)
}

/// One record of a (decompressed) records section, located in place: Kafka's record layout is
/// length, attributes, timestamp delta, offset delta, key, value, headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord {
    pub offset_delta: i32,
    pub timestamp_delta: i64,
    /// Where the key is in the section; `None` for a null key.
    pub key: Option<Range<usize>>,
    /// A null value: a tombstone on a compacted topic.
    pub is_tombstone: bool,
    /// Where the headers are in the section, their count included (see [`record_headers`]).
    pub headers: Range<usize>,
    /// The whole record, length prefix included.
    pub span: Range<usize>,
}

/// Reads through a records section, failing (`None`) on anything that is not a record.
struct Cursor<'a> {
    data: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    /// A zigzag varint of at most `max_bytes` bytes (5 for an int, 10 for a long).
    fn varint(&mut self, max_bytes: usize) -> Option<i64> {
        let mut raw: u64 = 0;
        for i in 0..max_bytes {
            let byte = *self.data.get(self.at)?;
            self.at += 1;
            raw |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Some((raw >> 1) as i64 ^ -((raw & 1) as i64));
            }
        }
        None
    }

    fn int(&mut self) -> Option<i32> {
        i32::try_from(self.varint(5)?).ok()
    }

    /// Skips `len` bytes, returning where they were.
    fn skip(&mut self, len: usize) -> Option<Range<usize>> {
        let end = self
            .at
            .checked_add(len)
            .filter(|&end| end <= self.data.len())?;
        let range = self.at..end;
        self.at = end;
        Some(range)
    }

    /// A length-prefixed byte string; length -1 is null.
    fn nullable_bytes(&mut self) -> Option<Option<Range<usize>>> {
        match self.int()? {
            -1 => Some(None),
            len => Some(Some(self.skip(usize::try_from(len).ok()?)?)),
        }
    }

    fn record(&mut self) -> Option<RawRecord> {
        let start = self.at;
        let length = usize::try_from(self.int()?).ok()?;
        let body = self.skip(length)?;
        let mut inner = Cursor {
            data: &self.data[..body.end],
            at: body.start,
        };
        inner.skip(1)?; // attributes: unused in v2 records
        let timestamp_delta = inner.varint(10)?;
        let offset_delta = inner.int()?;
        let key = inner.nullable_bytes()?;
        let value = inner.nullable_bytes()?;
        let headers_start = inner.at;
        inner.headers(|_, _| {})?;
        // The length must cover the record exactly.
        (inner.at == body.end).then_some(RawRecord {
            offset_delta,
            timestamp_delta,
            key,
            is_tombstone: value.is_none(),
            headers: headers_start..body.end,
            span: start..body.end,
        })
    }

    /// Walks a record's headers, handing each key (never null) and value, located in place, to
    /// `each` in order.
    fn headers(&mut self, mut each: impl FnMut(Range<usize>, Option<Range<usize>>)) -> Option<()> {
        let count = usize::try_from(self.int()?).ok()?;
        for _ in 0..count {
            let key = self.nullable_bytes()??;
            each(key, self.nullable_bytes()?);
        }
        Some(())
    }
}

/// A header located in a records section: its key, and its value (`None` when null).
pub type HeaderSpan = (Range<usize>, Option<Range<usize>>);

/// The headers of `record` in its records `section`, in order, repeated keys kept: each key and
/// value located in the section (`None` for a null value).
pub fn record_headers(
    section: &[u8],
    record: &RawRecord,
) -> Result<Vec<HeaderSpan>, ResponseError> {
    let mut cursor = Cursor {
        data: &section[..record.headers.end],
        at: record.headers.start,
    };
    let mut headers = Vec::new();
    cursor
        .headers(|key, value| headers.push((key, value)))
        .ok_or(ResponseError::CorruptMessage)?;
    Ok(headers)
}

/// The records of a decompressed records section: exactly the batch's record count, filling the
/// section, each well formed. Anything else is a corrupt message.
pub fn read_records(section: &[u8], header: &BatchHeader) -> Result<Vec<RawRecord>, ResponseError> {
    let mut cursor = Cursor {
        data: section,
        at: 0,
    };
    let count = header.records_count as usize;
    // Each record takes at least 7 bytes: a count beyond that cannot be real.
    let mut records = Vec::with_capacity(count.min(section.len() / 7));
    for _ in 0..count {
        records.push(cursor.record().ok_or(ResponseError::CorruptMessage)?);
    }
    if cursor.at != section.len() {
        return Err(ResponseError::CorruptMessage);
    }
    Ok(records)
}

/// What produce validation learned from a batch's records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordsCheck {
    /// Whether every record has a key, as a compacted topic requires.
    pub all_keyed: bool,
}

/// Validates a produced batch's records as Kafka does before appending: the codec data must
/// decompress, and the records must be exactly the header's count with offset deltas 0, 1, 2…
/// (what every v2 producer writes). Compressed batches are decompressed for this and stored
/// as sent.
pub fn check_records(batch: &Bytes, header: &BatchHeader) -> Result<RecordsCheck, ResponseError> {
    let section = decompress_records(batch, header)?;
    let records = read_records(&section, header)?;
    if records
        .iter()
        .enumerate()
        .any(|(i, r)| r.offset_delta as usize != i)
    {
        return Err(ResponseError::CorruptMessage);
    }
    Ok(RecordsCheck {
        all_keyed: records.iter().all(|r| r.key.is_some()),
    })
}

/// Writes a batch with `original`'s header (producer fields, base offset and timestamp, last
/// offset delta) around a new records section, compressed with `codec_id`.
fn rebuild(
    original: &[u8],
    codec_id: i16,
    section: &[u8],
    records_count: i32,
    max_timestamp: i64,
) -> Result<Bytes, ResponseError> {
    let compressed = compress(codec_id, section)?;
    let mut out = BytesMut::with_capacity(HEADER_LEN + compressed.len());
    out.extend_from_slice(&original[..HEADER_LEN]);
    out.extend_from_slice(&compressed);
    let batch_length =
        i32::try_from(out.len() - LOG_OVERHEAD).map_err(|_| ResponseError::MessageTooLarge)?;
    out[8..12].copy_from_slice(&batch_length.to_be_bytes());
    let attributes = (i16_at(original, ATTRIBUTES) & !COMPRESSION_MASK) | codec_id;
    out[ATTRIBUTES..ATTRIBUTES + 2].copy_from_slice(&attributes.to_be_bytes());
    out[MAX_TIMESTAMP..MAX_TIMESTAMP + 8].copy_from_slice(&max_timestamp.to_be_bytes());
    out[RECORDS_COUNT..RECORDS_COUNT + 4].copy_from_slice(&records_count.to_be_bytes());
    let crc = crc32c::crc32c(&out[ATTRIBUTES..]);
    out[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
    Ok(out.freeze())
}

/// The batch with its records recompressed with `codec_id` (a topic whose `compression.type`
/// names a codec). The records move byte for byte: offsets, timestamps and headers stay.
pub fn recompress(
    batch: &Bytes,
    header: &BatchHeader,
    codec_id: i16,
) -> Result<Bytes, ResponseError> {
    let section = decompress_records(batch, header)?;
    rebuild(
        batch,
        codec_id,
        &section,
        header.records_count,
        header.max_timestamp,
    )
}

/// The batch holding only `kept` of its records (compaction), with the batch's own codec as
/// Kafka's cleaner does. Base offset and last offset delta stay, so the batch still spans its
/// offsets and its producer's last sequence; the max timestamp becomes the kept records'.
pub fn retain_records(
    batch: &Bytes,
    header: &BatchHeader,
    section: &[u8],
    kept: &[&RawRecord],
) -> Result<Bytes, ResponseError> {
    let mut records = Vec::with_capacity(kept.iter().map(|r| r.span.len()).sum());
    for record in kept {
        records.extend_from_slice(&section[record.span.clone()]);
    }
    let max_timestamp = if header.is_log_append_time() {
        header.max_timestamp
    } else {
        kept.iter()
            .map(|r| header.first_timestamp.saturating_add(r.timestamp_delta))
            .max()
            .unwrap_or(header.max_timestamp)
    };
    rebuild(
        batch,
        header.compression(),
        &records,
        kept.len() as i32,
        max_timestamp,
    )
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };

    /// Encodes a batch of (key, value, timestamp) records the way a client would.
    pub fn encode_batch(records: &[(&str, &str, i64)]) -> Bytes {
        encode_batch_with(records, Compression::None)
    }

    /// As `encode_batch`, compressed with `compression`.
    pub fn encode_batch_with(records: &[(&str, &str, i64)], compression: Compression) -> Bytes {
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
                compression,
            },
        )
        .unwrap();
        buf.freeze()
    }

    const CODECS: [(Compression, i16); 5] = [
        (Compression::None, NO_COMPRESSION),
        (Compression::Gzip, GZIP),
        (Compression::Snappy, SNAPPY),
        (Compression::Lz4, LZ4),
        (Compression::Zstd, ZSTD),
    ];

    /// (offset, key, value, timestamp) of every record, decoded by the protocol crate.
    fn decoded(batch: &Bytes) -> Vec<(i64, String, String, i64)> {
        let set = kafka_protocol::records::RecordBatchDecoder::decode(&mut batch.clone()).unwrap();
        set.records
            .into_iter()
            .map(|r| {
                let text = |b: Option<Bytes>| String::from_utf8(b.unwrap().to_vec()).unwrap();
                (r.offset, text(r.key), text(r.value), r.timestamp)
            })
            .collect()
    }

    /// Replaces the records section of `batch` with `section` (uncompressed bytes put through
    /// nothing: the caller passes what the codec should hold) and sets a valid CRC, so only the
    /// content is wrong.
    fn with_section(batch: &Bytes, section: &[u8], records_count: i32) -> Bytes {
        let mut out = BytesMut::from(&batch[..HEADER_LEN]);
        out.extend_from_slice(section);
        let length = (out.len() - LOG_OVERHEAD) as i32;
        out[8..12].copy_from_slice(&length.to_be_bytes());
        out[RECORDS_COUNT..RECORDS_COUNT + 4].copy_from_slice(&records_count.to_be_bytes());
        let crc = crc32c::crc32c(&out[ATTRIBUTES..]);
        out[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
        out.freeze()
    }

    /// A batch of one record, key "k" and value "v", with headers a=1, a=2 and b=null: what a
    /// client sending a key twice writes (kafka-protocol's encoder cannot repeat a key).
    pub fn batch_with_repeated_header() -> Bytes {
        // Varints are zigzag: n is written as 2n, -1 as 1.
        let body: &[u8] = &[
            0, 0, 0, // attributes, timestamp delta, offset delta
            2, b'k', 2, b'v', // key, value
            6,    // three headers
            2, b'a', 2, b'1', //
            2, b'a', 2, b'2', //
            2, b'b', 1, // null value
        ];
        let mut section = vec![(body.len() * 2) as u8];
        section.extend_from_slice(body);
        with_section(&encode_batch(&[("k", "v", 5)]), &section, 1)
    }

    #[test]
    fn repeated_header_keys_are_all_read_in_order() {
        let batch = batch_with_repeated_header();
        let header = read_header(&batch).unwrap();
        assert_eq!(
            check_records(&batch, &header),
            Ok(RecordsCheck { all_keyed: true })
        );
        let section = decompress_records(&batch, &header).unwrap();
        let records = read_records(&section, &header).unwrap();
        let headers: Vec<(&[u8], Option<&[u8]>)> = record_headers(&section, &records[0])
            .unwrap()
            .into_iter()
            .map(|(k, v)| (&section[k], v.map(|v| &section[v])))
            .collect();
        assert_eq!(
            headers,
            vec![
                (&b"a"[..], Some(&b"1"[..])),
                (&b"a"[..], Some(&b"2"[..])),
                (&b"b"[..], None),
            ]
        );
    }

    const THREE: [(&str, &str, i64); 3] = [("a", "1", 100), ("b", "2", 300), ("c", "3", 200)];

    #[test]
    fn every_codec_validates_and_recompresses_to_every_other() {
        let expected = decoded(&encode_batch(&THREE));
        for (compression, id) in CODECS {
            let batch = encode_batch_with(&THREE, compression);
            let header = read_header(&batch).unwrap();
            assert_eq!(header.compression(), id);
            assert_eq!(
                check_records(&batch, &header),
                Ok(RecordsCheck { all_keyed: true })
            );
            for (_, target) in CODECS {
                let recompressed = recompress(&batch, &header, target).unwrap();
                let written = read_header(&recompressed).unwrap();
                assert_eq!(written.compression(), target);
                assert_eq!(written.size, recompressed.len());
                assert_eq!((written.records_count, written.last_offset_delta), (3, 2));
                assert_eq!(written.max_timestamp, 300);
                assert_eq!(written.base_sequence, header.base_sequence);
                assert_eq!(decoded(&recompressed), expected, "{id} -> {target}");
                assert!(check_records(&recompressed, &written).is_ok());
            }
        }
    }

    #[test]
    fn garbage_codec_data_under_a_valid_crc_is_a_corrupt_message() {
        for (compression, id) in CODECS.into_iter().skip(1) {
            let batch = encode_batch_with(&THREE, compression);
            let garbage = with_section(&batch, b"\x28\xb5\x2f\xfd not really compressed data", 3);
            let header = read_header(&garbage).expect("the CRC checks out");
            assert_eq!(
                check_records(&garbage, &header),
                Err(ResponseError::CorruptMessage),
                "codec {id}"
            );
        }
    }

    #[test]
    fn records_that_disagree_with_the_header_are_a_corrupt_message() {
        let batch = encode_batch(&THREE);
        let section = &batch[HEADER_LEN..];
        let header = read_header(&batch).unwrap();
        let records = read_records(section, &header).unwrap();
        let first_two = &section[..records[1].span.end];
        // The header claims three records; the section holds two.
        let short = with_section(&batch, first_two, 3);
        assert_eq!(
            check_records(&short, &read_header(&short).unwrap()),
            Err(ResponseError::CorruptMessage)
        );
        // Trailing bytes after the declared records.
        let long = with_section(&batch, &[section, &[0u8][..]].concat(), 3);
        assert_eq!(
            check_records(&long, &read_header(&long).unwrap()),
            Err(ResponseError::CorruptMessage)
        );
        // Offset deltas 0, 2, 1: the second and third records swapped.
        let swapped = [
            &section[records[0].span.clone()],
            &section[records[2].span.clone()],
            &section[records[1].span.clone()],
        ]
        .concat();
        let swapped = with_section(&batch, &swapped, 3);
        assert_eq!(
            check_records(&swapped, &read_header(&swapped).unwrap()),
            Err(ResponseError::CorruptMessage)
        );
        // The same inconsistency inside a compressed batch.
        let zstd = with_section(
            &encode_batch_with(&THREE, Compression::Zstd),
            &compress(ZSTD, first_two).unwrap(),
            3,
        );
        let header = read_header(&zstd).unwrap();
        assert_eq!(header.compression(), ZSTD);
        assert_eq!(
            check_records(&zstd, &header),
            Err(ResponseError::CorruptMessage)
        );
        // A record whose length prefix runs past the section.
        let mut cut = section[..records[0].span.end].to_vec();
        cut[0] = 0x7e;
        let cut = with_section(&batch, &cut, 1);
        let mut header = read_header(&cut).unwrap();
        header.last_offset_delta = 0;
        assert_eq!(
            check_records(&cut, &header),
            Err(ResponseError::CorruptMessage)
        );
    }

    #[test]
    fn records_are_located_in_place() {
        let batch = encode_batch(&[("key", "value", 7), ("k2", "v2", 9)]);
        let header = read_header(&batch).unwrap();
        let section = decompress_records(&batch, &header).unwrap();
        let records = read_records(&section, &header).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(&section[records[0].key.clone().unwrap()], b"key");
        assert_eq!(
            (records[1].offset_delta, records[1].timestamp_delta),
            (1, 2)
        );
        assert!(!records[0].is_tombstone);
        assert_eq!(records[1].span.end, section.len());
    }

    #[test]
    fn retained_records_keep_their_offsets_codec_and_the_batch_span() {
        for (compression, id) in CODECS {
            let batch = stamp(&encode_batch_with(&THREE, compression), 10, 0, None);
            let header = read_header(&batch).unwrap();
            let section = decompress_records(&batch, &header).unwrap();
            let records = read_records(&section, &header).unwrap();
            let kept =
                retain_records(&batch, &header, &section, &[&records[0], &records[2]]).unwrap();
            let written = read_header(&kept).unwrap();
            assert_eq!(written.compression(), id);
            assert_eq!(
                (
                    written.base_offset,
                    written.last_offset_delta,
                    written.records_count
                ),
                (10, 2, 2)
            );
            assert_eq!(written.max_timestamp, 200, "the kept records' newest");
            assert_eq!(
                decoded(&kept),
                vec![
                    (10, "a".into(), "1".into(), 100),
                    (12, "c".into(), "3".into(), 200)
                ]
            );
        }
    }

    #[test]
    fn timestamp_lookups_read_inside_compressed_batches() {
        use crate::state::log::{PartitionLog, TimestampOffset};
        for (compression, id) in CODECS {
            let mut log = PartitionLog::new();
            for records in [&THREE[..], &[("d", "4", 250), ("e", "5", 150)][..]] {
                let batch = encode_batch_with(records, compression);
                log.append(&read_header(&batch).unwrap(), &batch, 0, None);
            }
            let at = |ts| log.offset_for_timestamp(ts).map(|t| t.offset);
            assert_eq!(at(150), Some(1), "codec {id}: inside the first batch");
            assert_eq!(at(201), Some(1));
            assert_eq!(at(260), Some(1), "the first batch's 300 comes first");
            assert_eq!(at(301), None);
            assert_eq!(
                log.max_timestamp_offset(),
                Some(TimestampOffset {
                    offset: 1,
                    timestamp: 300
                })
            );
        }
    }

    #[test]
    fn a_log_append_time_batch_answers_with_its_append_time() {
        use crate::state::log::{PartitionLog, TimestampOffset};
        let mut log = PartitionLog::new();
        let batch = encode_batch_with(&THREE, Compression::Lz4);
        log.append(&read_header(&batch).unwrap(), &batch, 0, Some(5_000));
        assert_eq!(
            log.offset_for_timestamp(4_000),
            Some(TimestampOffset {
                offset: 0,
                timestamp: 5_000
            })
        );
    }

    #[test]
    fn decompression_stops_at_the_limit() {
        let zeros = vec![0u8; 100_000];
        for (_, id) in CODECS.into_iter().skip(1) {
            let compressed = compress(id, &zeros).unwrap().freeze();
            assert!(
                compressed.len() < 10_000,
                "codec {id} compresses zeros well"
            );
            assert_eq!(
                decompress(compressed.clone(), id, 100_000).unwrap().len(),
                100_000,
                "codec {id}: at the limit"
            );
            assert_eq!(
                decompress(compressed, id, 99_999),
                Err(ResponseError::MessageTooLarge),
                "codec {id}: past it"
            );
        }
        // A raw snappy payload that claims 4 GiB is refused before anything is allocated.
        let claim = Bytes::from_static(b"\xff\xff\xff\xff\x0f\x00");
        assert_eq!(
            decompress(claim, SNAPPY, MAX_DECOMPRESSED_BYTES),
            Err(ResponseError::MessageTooLarge)
        );
    }

    #[test]
    fn compression_type_names_map_to_codecs() {
        assert_eq!(codec_for("producer"), None);
        assert_eq!(codec_for("uncompressed"), Some(NO_COMPRESSION));
        assert_eq!(codec_for("zstd"), Some(ZSTD));
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
