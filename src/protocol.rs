//! The wire protocol: request frames in, response frames out. Decoding and encoding only; every
//! codec is the `kafka-protocol` crate's, generated from Kafka's own message schemas.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::{decode_request_header_from_buffer, Encodable};

/// A decoded request: its header (api key, version, correlation id, client id) and body.
#[derive(Debug)]
pub struct Request {
    pub api_key: ApiKey,
    pub header: RequestHeader,
    pub body: RequestKind,
}

/// Why a frame could not be turned into a request.
#[derive(Debug)]
pub enum DecodeError {
    /// The header names an API key Kafka does not define, or cannot be read at all.
    BadHeader(String),
    /// A known API at a version this broker does not implement. ApiVersions answers it; for any
    /// other API the connection is closed, as Kafka does.
    UnsupportedVersion {
        api_key: ApiKey,
        header: RequestHeader,
    },
    /// The body does not decode at the version the header gives.
    BadBody { api_key: ApiKey, reason: String },
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::BadHeader(reason) => write!(f, "unreadable request header: {reason}"),
            DecodeError::UnsupportedVersion { api_key, header } => write!(
                f,
                "unsupported version {} of {:?}",
                header.request_api_version, api_key
            ),
            DecodeError::BadBody { api_key, reason } => {
                write!(f, "malformed {api_key:?} request: {reason}")
            }
        }
    }
}

/// Decodes one request frame (without its length prefix). `supported` gives the version range
/// this broker implements for an API key; the body is decoded only within it.
pub fn decode_request(
    mut frame: Bytes,
    supported: impl Fn(ApiKey) -> Option<(i16, i16)>,
) -> Result<Request, DecodeError> {
    if frame.len() < 8 {
        return Err(DecodeError::BadHeader(format!(
            "frame of {} bytes is shorter than a header",
            frame.len()
        )));
    }
    let raw_key = i16::from_be_bytes([frame[0], frame[1]]);
    let api_key = ApiKey::try_from(raw_key)
        .map_err(|_| DecodeError::BadHeader(format!("unknown api key {raw_key}")))?;
    let header = decode_request_header_from_buffer(&mut frame)
        .map_err(|e| DecodeError::BadHeader(e.to_string()))?;
    let version = header.request_api_version;
    match supported(api_key) {
        Some((min, max)) if (min..=max).contains(&version) => {}
        _ => return Err(DecodeError::UnsupportedVersion { api_key, header }),
    }
    let body =
        RequestKind::decode(api_key, &mut frame, version).map_err(|e| DecodeError::BadBody {
            api_key,
            reason: e.to_string(),
        })?;
    Ok(Request {
        api_key,
        header,
        body,
    })
}

/// Encodes a response frame, length prefix included.
pub fn encode_response(
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &ResponseKind,
) -> anyhow::Result<BytesMut> {
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let mut buf = BytesMut::with_capacity(256);
    buf.put_i32(0);
    header.encode(&mut buf, api_key.response_header_version(version))?;
    body.encode(&mut buf, version)?;
    let len = (buf.len() - 4) as i32;
    buf[0..4].copy_from_slice(&len.to_be_bytes());
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::{ApiVersionsRequest, MetadataRequest};
    use kafka_protocol::protocol::{encode_request_header_into_buffer, StrBytes};

    fn frame(api_key: ApiKey, version: i16, body: &RequestKind) -> Bytes {
        let header = RequestHeader::default()
            .with_request_api_key(api_key as i16)
            .with_request_api_version(version)
            .with_correlation_id(7)
            .with_client_id(Some(StrBytes::from_static_str("test")));
        let mut buf = BytesMut::new();
        encode_request_header_into_buffer(&mut buf, &header).unwrap();
        body.encode(&mut buf, version).unwrap();
        buf.freeze()
    }

    fn all(_: ApiKey) -> Option<(i16, i16)> {
        Some((0, 3))
    }

    #[test]
    fn decodes_a_request_at_a_supported_version() {
        let body = RequestKind::ApiVersions(ApiVersionsRequest::default());
        let request = decode_request(frame(ApiKey::ApiVersions, 3, &body), all).unwrap();
        assert_eq!(request.api_key, ApiKey::ApiVersions);
        assert_eq!(request.header.correlation_id, 7);
        assert_eq!(request.header.client_id.as_deref(), Some("test"));
    }

    #[test]
    fn a_version_out_of_range_is_reported_with_its_header() {
        let body = RequestKind::Metadata(MetadataRequest::default());
        match decode_request(frame(ApiKey::Metadata, 5, &body), all) {
            Err(DecodeError::UnsupportedVersion { api_key, header }) => {
                assert_eq!(api_key, ApiKey::Metadata);
                assert_eq!(header.correlation_id, 7);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(matches!(
            decode_request(Bytes::from_static(&[0x7f, 0x7f, 0, 0, 0, 0, 0, 1]), all),
            Err(DecodeError::BadHeader(_))
        ));
        assert!(decode_request(Bytes::from_static(&[0, 3]), all).is_err());
        // A Metadata v1 frame whose topics array claims two billion entries.
        let garbage =
            Bytes::from_static(&[0, 3, 0, 1, 0, 0, 0, 1, 0, 0, 0x7f, 0xff, 0xff, 0xff, 0]);
        assert!(matches!(
            decode_request(garbage, all),
            Err(DecodeError::BadBody { .. })
        ));
    }

    fn flexible(_: ApiKey) -> Option<(i16, i16)> {
        Some((0, 12))
    }

    /// Counts no frame could hold are refused before anything is reserved for them (the bound in
    /// vendor/kafka-protocol): without it each of these asks the allocator for tens of gigabytes
    /// and a refusal aborts the process.
    #[test]
    fn hostile_counts_are_refused_before_allocation() {
        let header_v2 = |api_key: u8, version: u8| {
            // api key, version, correlation id, client id "" (nullable string), no tagged fields
            vec![0, api_key, 0, version, 0, 0, 0, 1, 0, 0, 0]
        };
        // Metadata v12: the topics compact array claims u32::MAX - 1 entries.
        let mut metadata = header_v2(3, 12);
        metadata.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f, 0]);
        // SaslAuthenticate v2: auth bytes (compact bytes) claiming 4 GiB.
        let mut sasl = header_v2(36, 2);
        sasl.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f, 0]);
        // CreateTopics v5: one topic whose name (compact string) claims 4 GiB.
        let mut create = header_v2(19, 5);
        create.extend_from_slice(&[2, 0xff, 0xff, 0xff, 0xff, 0x0f, 0]);
        // DescribeConfigs v1: a resource whose configuration keys array claims 2^31 - 1 entries.
        let mut configs = header_v2(32, 1);
        configs.truncate(10); // v1 is not flexible: no tagged fields in the header
        configs.extend_from_slice(&[0, 0, 0, 1, 2, 0, 1, b't', 0x7f, 0xff, 0xff, 0xff]);
        for frame in [metadata, sasl, create, configs] {
            match decode_request(Bytes::from(frame.clone()), flexible) {
                Err(DecodeError::BadBody { .. }) => {}
                other => panic!("{frame:?} decoded as {other:?}"),
            }
        }
    }
}
