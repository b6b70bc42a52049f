//! ApiVersions: what this broker speaks. Clients pick, per API, the highest version both sides know.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::api_versions_response::{
    ApiVersion, FinalizedFeatureKey, SupportedFeatureKey,
};
use kafka_protocol::messages::ApiKey;
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};
use kafka_protocol::protocol::StrBytes;

use super::{RequestContext, SUPPORTED_APIS};

/// Produce is advertised from v0, as Kafka 4 does although it refuses v0-v2 (KIP-896):
/// librdkafka sends batches uncompressed when Produce v0 is missing (KAFKA-18659). A request
/// at v0-v2 still closes the connection, as on Kafka.
const PRODUCE_ADVERTISED_MIN: i16 = 0;

fn api_keys() -> Vec<ApiVersion> {
    SUPPORTED_APIS
        .iter()
        .map(|&(key, min, max)| {
            let min = if key == ApiKey::Produce {
                PRODUCE_ADVERTISED_MIN
            } else {
                min
            };
            ApiVersion::default()
                .with_api_key(key as i16)
                .with_min_version(min)
                .with_max_version(max)
        })
        .collect()
}

/// From v3 the answer also carries the features (KIP-584): the supported ones, and those
/// finalized above level 0 with the epoch of their last change, as Kafka lists them. Below v4
/// a supported range starting at 0 is left out, as Kafka does: older clients refused such
/// ranges (KAFKA-17011, the reason for v4).
pub fn handle(ctx: &RequestContext, _req: ApiVersionsRequest) -> ApiVersionsResponse {
    let min_zero_allowed = ctx.version() >= 4;
    let supported = crate::state::features::SUPPORTED_FEATURES
        .iter()
        .filter(|f| min_zero_allowed || f.min_version > 0)
        .map(|f| {
            SupportedFeatureKey::default()
                .with_name(StrBytes::from_static_str(f.name))
                .with_min_version(f.min_version)
                .with_max_version(f.max_version)
        })
        .collect();
    let (levels, epoch) = ctx.cluster.features.finalized();
    let finalized = levels
        .into_iter()
        .map(|(name, level)| {
            FinalizedFeatureKey::default()
                .with_name(StrBytes::from_static_str(name))
                .with_min_version_level(level)
                .with_max_version_level(level)
        })
        .collect();
    ApiVersionsResponse::default()
        .with_api_keys(api_keys())
        .with_supported_features(supported)
        .with_finalized_features_epoch(epoch)
        .with_finalized_features(finalized)
}

/// The answer to an ApiVersions request at a version newer than ours: UNSUPPORTED_VERSION with
/// the range of ApiVersions alone, as Kafka answers (KIP-511), encoded as v0 so any client can
/// read it and retry at a version we know; the retry gets the full list.
pub fn unsupported_version_response() -> ApiVersionsResponse {
    ApiVersionsResponse::default()
        .with_error_code(ResponseError::UnsupportedVersion.code())
        .with_api_keys(
            api_keys()
                .into_iter()
                .filter(|api| api.api_key == ApiKey::ApiVersions as i16)
                .collect(),
        )
}
