//! DescribeClientQuotas and AlterClientQuotas: stored and described (not enforced).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_client_quotas_response::{
    EntityData as AlteredEntity, EntryData as AlteredEntry,
};
use kafka_protocol::messages::describe_client_quotas_response::{EntityData, EntryData, ValueData};
use kafka_protocol::messages::{
    AlterClientQuotasRequest, AlterClientQuotasResponse, DescribeClientQuotasRequest,
    DescribeClientQuotasResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::authz::{self, operation};
use super::RequestContext;
use crate::state::quotas::{ClientQuotas, Entity, Match};

fn text(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

pub fn describe(
    ctx: &RequestContext,
    req: DescribeClientQuotasRequest,
) -> DescribeClientQuotasResponse {
    if let Err(error) = authz::cluster(ctx, operation::DESCRIBE_CONFIGS) {
        return DescribeClientQuotasResponse::default()
            .with_error_code(error.code())
            .with_error_message(Some(text(authz::message(error))))
            .with_entries(None);
    }
    let mut components = Vec::with_capacity(req.components.len());
    for c in &req.components {
        let m = match (c.match_type, &c._match) {
            (0, Some(name)) => Match::Exact(name.to_string()),
            (1, _) => Match::Default,
            (2, _) => Match::Any,
            _ => {
                return DescribeClientQuotasResponse::default()
                    .with_error_code(ResponseError::InvalidRequest.code())
                    .with_error_message(Some(text("Invalid match type or missing entity name.")))
                    .with_entries(None);
            }
        };
        components.push((c.entity_type.to_string(), m));
    }
    let entries = ctx
        .cluster
        .quotas
        .describe(&components, req.strict)
        .into_iter()
        .map(|(entity, values)| {
            EntryData::default()
                .with_entity(
                    entity
                        .into_iter()
                        .map(|(t, name)| {
                            EntityData::default()
                                .with_entity_type(text(&t))
                                .with_entity_name(name.as_deref().map(text))
                        })
                        .collect(),
                )
                .with_values(
                    values
                        .into_iter()
                        .map(|(k, v)| ValueData::default().with_key(text(&k)).with_value(v))
                        .collect(),
                )
        })
        .collect();
    // Kafka answers success with an empty message.
    DescribeClientQuotasResponse::default()
        .with_error_message(Some(text("")))
        .with_entries(Some(entries))
}

pub fn alter(ctx: &RequestContext, req: AlterClientQuotasRequest) -> AlterClientQuotasResponse {
    // Without ALTER_CONFIGS on the cluster, every entry fails and nothing changes.
    let denied = authz::cluster(ctx, operation::ALTER_CONFIGS)
        .err()
        .map(|error| (error, authz::message(error).to_string()));
    let entries = req
        .entries
        .into_iter()
        .map(|entry| {
            let entity: Entity = entry
                .entity
                .iter()
                .map(|e| {
                    (
                        e.entity_type.to_string(),
                        e.entity_name.as_ref().map(|n| n.to_string()),
                    )
                })
                .collect();
            let ops: Vec<(String, Option<f64>)> = entry
                .ops
                .iter()
                .map(|op| (op.key.to_string(), (!op.remove).then_some(op.value)))
                .collect();
            let result = match &denied {
                Some(failure) => Err(failure.clone()),
                None => ClientQuotas::validate(&entity, &ops),
            };
            if result.is_ok() && !req.validate_only {
                ctx.cluster.quotas.alter(entity, ops);
            }
            let response = AlteredEntry::default().with_entity(
                entry
                    .entity
                    .into_iter()
                    .map(|e| {
                        AlteredEntity::default()
                            .with_entity_type(e.entity_type)
                            .with_entity_name(e.entity_name)
                    })
                    .collect(),
            );
            match result {
                Ok(()) => response.with_error_message(None),
                Err((error, message)) => response
                    .with_error_code(error.code())
                    .with_error_message(Some(StrBytes::from_string(message))),
            }
        })
        .collect();
    AlterClientQuotasResponse::default().with_entries(entries)
}
