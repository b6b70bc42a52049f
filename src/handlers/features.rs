//! UpdateFeatures (KIP-584): changes the cluster's finalized feature levels, as
//! `kafka-features upgrade|downgrade` and `Admin.updateFeatures` do. Kafka's controller applies
//! all the updates of a request or none: any bad one fails the whole request with
//! INVALID_UPDATE_VERSION and a message naming it.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::update_features_response::UpdatableFeatureResult;
use kafka_protocol::messages::{UpdateFeaturesRequest, UpdateFeaturesResponse};
use kafka_protocol::protocol::StrBytes;

use super::authz::{self, operation};
use super::RequestContext;
use crate::state::features::UpgradeType;

pub fn update(ctx: &RequestContext, req: UpdateFeaturesRequest) -> UpdateFeaturesResponse {
    if let Err(error) = authz::cluster(ctx, operation::ALTER) {
        return UpdateFeaturesResponse::default()
            .with_error_code(error.code())
            .with_error_message(Some(StrBytes::from_static_str(authz::message(error))));
    }
    let features = &ctx.cluster.features;
    let controller = ctx.cluster.controller_id();
    let mut updates = Vec::with_capacity(req.feature_updates.len());
    for update in &req.feature_updates {
        // Kafka 4.1 reads the upgrade type alone, also at v0 (allow_downgrade is not consulted).
        let how = match update.upgrade_type {
            2 => UpgradeType::SafeDowngrade,
            3 => UpgradeType::UnsafeDowngrade,
            _ => UpgradeType::Upgrade,
        };
        let name = update.feature.as_str();
        if let Err(message) = features.check_update(name, update.max_version_level, how, controller)
        {
            return UpdateFeaturesResponse::default()
                .with_error_code(ResponseError::InvalidUpdateVersion.code())
                .with_error_message(Some(StrBytes::from_string(format!(
                    "The update failed for all features since the following feature had an error: {message}"
                ))));
        }
        updates.push((name, update.max_version_level));
    }
    if !req.validate_only {
        features.apply(&updates);
    }
    // v2 answers with the top-level error alone.
    let results = if ctx.version() >= 2 {
        Vec::new()
    } else {
        updates
            .iter()
            .map(|(name, _)| {
                UpdatableFeatureResult::default()
                    .with_feature(StrBytes::from_string(name.to_string()))
                    .with_error_message(Some(StrBytes::from_static_str("NONE")))
            })
            .collect()
    };
    UpdateFeaturesResponse::default()
        .with_error_message(None)
        .with_results(results)
}
