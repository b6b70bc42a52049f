//! DescribeConfigs, AlterConfigs and IncrementalAlterConfigs for topics and brokers, and
//! ListConfigResources (KIP-1142): which resources have configs.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse as IncrementalResourceResponse;
use kafka_protocol::messages::list_config_resources_response::ConfigResource;
use kafka_protocol::messages::{
    AlterConfigsRequest, AlterConfigsResponse, DescribeConfigsRequest, DescribeConfigsResponse,
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse, ListConfigResourcesRequest,
    ListConfigResourcesResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::authz::{self, operation};
use super::RequestContext;
use crate::state::configs::{
    broker_config_mode, describe_default_broker_configs, topic_config,
    validate_dynamic_broker_configs, validate_topic_config, BrokerConfigMode, ConfigSource,
    ConfigType, DescribedConfig,
};
use crate::state::share;
use crate::state::topics::Topic;

/// Config resource types.
const TOPIC: i8 = 2;
const BROKER: i8 = 4;
const BROKER_LOGGER: i8 = 8;
const CLIENT_METRICS: i8 = 16;
/// A group's configs (KIP-848, KIP-932).
const GROUP: i8 = 32;

/// IncrementalAlterConfigs operations.
const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

type Failure = (ResponseError, String);

fn text(s: impl Into<String>) -> StrBytes {
    StrBytes::from_string(s.into())
}

/// A topic's configs need `op` (DESCRIBE_CONFIGS, ALTER_CONFIGS) on the topic; a broker's, on
/// the cluster.
fn authorize(ctx: &RequestContext, resource_type: i8, name: &str, op: i8) -> Result<(), Failure> {
    let checked = match resource_type {
        TOPIC => authz::topic(ctx, name, op),
        BROKER | BROKER_LOGGER => authz::cluster(ctx, op),
        GROUP => authz::group(ctx, name, op),
        _ => Ok(()),
    };
    checked.map_err(|error| (error, authz::message(error).to_string()))
}

/// ListConfigResources: v0 (ListClientMetricsResources, KIP-714) lists the client metrics
/// subscriptions; v1 the resources of the types asked for, or of every type, in Kafka's order:
/// each broker's loggers, each broker, the topics. A type Kafka cannot list is UNSUPPORTED_VERSION.
/// The emulator keeps no client metrics subscriptions nor group configs: none are listed.
pub fn list_resources(
    ctx: &RequestContext,
    req: ListConfigResourcesRequest,
) -> ListConfigResourcesResponse {
    if let Err(error) = authz::cluster(ctx, operation::DESCRIBE_CONFIGS) {
        return ListConfigResourcesResponse::default().with_error_code(error.code());
    }
    if ctx.version() == 0 {
        return ListConfigResourcesResponse::default();
    }
    let listable = [CLIENT_METRICS, BROKER_LOGGER, BROKER, TOPIC, GROUP];
    if req.resource_types.iter().any(|t| !listable.contains(t)) {
        return ListConfigResourcesResponse::default()
            .with_error_code(ResponseError::UnsupportedVersion.code());
    }
    let wanted = |t: i8| req.resource_types.is_empty() || req.resource_types.contains(&t);
    let resource = |resource_type: i8, name: String| {
        ConfigResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(StrBytes::from_string(name))
    };
    let brokers = ctx.cluster.brokers_on(&ctx.listener);
    let mut resources = Vec::new();
    for broker_type in [BROKER_LOGGER, BROKER] {
        if wanted(broker_type) {
            resources.extend(
                brokers
                    .iter()
                    .map(|b| resource(broker_type, b.node_id.to_string())),
            );
        }
    }
    if wanted(TOPIC) {
        let mut names: Vec<String> = ctx
            .cluster
            .topics
            .all()
            .iter()
            .map(|t| t.name.clone())
            .collect();
        names.sort();
        resources.extend(names.into_iter().map(|name| resource(TOPIC, name)));
    }
    ListConfigResourcesResponse::default().with_config_resources(resources)
}

pub fn describe(ctx: &RequestContext, req: DescribeConfigsRequest) -> DescribeConfigsResponse {
    let version = ctx.version();
    let results = req
        .resources
        .into_iter()
        .map(|resource| {
            let result = DescribeConfigsResult::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone());
            let authorized = authorize(
                ctx,
                resource.resource_type,
                &resource.resource_name,
                operation::DESCRIBE_CONFIGS,
            );
            let configs = authorized.and_then(|()| match resource.resource_type {
                TOPIC => match ctx.cluster.topics.get(&resource.resource_name) {
                    Some(topic) => Ok(ctx.cluster.config.describe_topic_configs(
                        &topic.configs.read(),
                        &ctx.cluster
                            .dynamic_configs
                            .read()
                            .layers(Some(ctx.broker_id)),
                    )),
                    None => Err((
                        ResponseError::UnknownTopicOrPartition,
                        format!("Topic {} does not exist.", &*resource.resource_name),
                    )),
                },
                BROKER => broker_configs(ctx, &resource.resource_name),
                // Log levels are not configurable here: the logger list is empty.
                BROKER_LOGGER => Ok(Vec::new()),
                GROUP => Ok(group_configs(ctx, &resource.resource_name)),
                other => Err((
                    ResponseError::InvalidRequest,
                    format!("Unsupported resource type {other}."),
                )),
            });
            match configs {
                Err((error, message)) => result
                    .with_error_code(error.code())
                    .with_error_message(Some(text(message))),
                Ok(configs) => result.with_configs(
                    configs
                        .into_iter()
                        .filter(|c| {
                            resource
                                .configuration_keys
                                .as_ref()
                                // Null or empty asks for every config, as Kafka reads it.
                                .filter(|keys| !keys.is_empty())
                                .is_none_or(|keys| keys.iter().any(|k| k.as_str() == c.name))
                        })
                        .map(|c| to_result(c, version, req.include_synonyms))
                        .collect(),
                ),
            }
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

/// A group's configs: those set on it, Kafka's defaults for the others.
fn group_configs(ctx: &RequestContext, group_id: &str) -> Vec<DescribedConfig> {
    let set = ctx.cluster.shares.group_configs(group_id);
    share::group_config_defaults(&ctx.cluster.config.groups)
        .into_iter()
        .map(|(name, default, kind)| {
            let (value, source) = match set.get(name) {
                Some(v) => (v.clone(), ConfigSource::DynamicGroupConfig),
                None => (default, ConfigSource::DefaultConfig),
            };
            DescribedConfig {
                name: name.to_string(),
                value,
                source,
                kind,
                read_only: false,
                sensitive: false,
                synonyms: Vec::new(),
            }
        })
        .collect()
}

/// A broker's configs (its id: every config; "": the cluster-wide dynamic ones only), as the
/// broker that receives the request knows them.
fn broker_configs(ctx: &RequestContext, name: &str) -> Result<Vec<DescribedConfig>, Failure> {
    let dynamic = ctx.cluster.dynamic_configs.read();
    if name.is_empty() {
        return Ok(describe_default_broker_configs(&dynamic.default));
    }
    let id = name.parse::<i32>().map_err(|_| {
        (
            ResponseError::InvalidRequest,
            format!("Broker id must be an integer, but it is: {name}"),
        )
    })?;
    if id != ctx.broker_id {
        return Err((
            ResponseError::InvalidRequest,
            format!(
                "Unexpected broker id, expected {} or empty string, but received {name}",
                ctx.broker_id
            ),
        ));
    }
    Ok(ctx
        .cluster
        .config
        .describe_broker_configs(id, &dynamic.layers(Some(id))))
}

fn to_result(
    c: DescribedConfig,
    version: i16,
    include_synonyms: bool,
) -> DescribeConfigsResourceResult {
    let result = DescribeConfigsResourceResult::default()
        .with_name(text(c.name))
        .with_value((!c.sensitive).then(|| text(c.value)))
        .with_read_only(c.read_only)
        .with_is_sensitive(c.sensitive)
        .with_config_source(c.source as i8);
    let result = if include_synonyms {
        result.with_synonyms(
            c.synonyms
                .into_iter()
                .map(|(name, value, source)| {
                    DescribeConfigsSynonym::default()
                        .with_name(text(name))
                        .with_value((!c.sensitive).then(|| text(value)))
                        .with_source(source as i8)
                })
                .collect(),
        )
    } else {
        result
    };
    if version >= 3 {
        result.with_config_type(c.kind as i8)
    } else {
        result
    }
}

/// Validates a full set of topic overrides, normalising each value.
fn validate_all(configs: BTreeMap<String, String>) -> Result<BTreeMap<String, String>, Failure> {
    configs
        .into_iter()
        .map(|(name, value)| {
            validate_topic_config(&name, &value)
                .map(|value| (name, value))
                .map_err(|m| (ResponseError::InvalidConfig, m))
        })
        .collect()
}

fn topic(ctx: &RequestContext, name: &str) -> Result<std::sync::Arc<Topic>, Failure> {
    ctx.cluster.topics.get(name).ok_or_else(|| {
        (
            ResponseError::UnknownTopicOrPartition,
            format!("The topic '{name}' does not exist."),
        )
    })
}

/// The broker resource a change names: `Some(id)` for a broker's own id (only the broker that
/// receives the request), `None` for the cluster-wide default (name "").
fn broker_resource(ctx: &RequestContext, name: &str) -> Result<Option<i32>, Failure> {
    if name.is_empty() {
        return Ok(None);
    }
    let id = name.parse::<i32>().map_err(|_| {
        (
            ResponseError::InvalidRequest,
            format!("Node id must be an integer, but it is: {name}"),
        )
    })?;
    if id != ctx.broker_id {
        return Err((
            ResponseError::InvalidRequest,
            format!(
                "Unexpected broker id, expected {}, but received {name}",
                ctx.broker_id
            ),
        ));
    }
    Ok(Some(id))
}

/// What a change to a resource's configs is: the full new set of a topic's overrides or of a
/// broker resource's dynamic configs, made from the current one.
/// A topic's changes see the topic too (APPEND and SUBTRACT start from its configs in effect).
type Change<'a> = Box<
    dyn FnOnce(
            BTreeMap<String, String>,
            Option<&Topic>,
        ) -> Result<BTreeMap<String, String>, Failure>
        + 'a,
>;

/// One resource of an AlterConfigs or IncrementalAlterConfigs: authorized, checked as Kafka's
/// ConfigAdminManager does (no key twice, no null value but to delete), then its configs
/// replaced by what `change` makes of them (validated, and kept unless validate_only): a
/// topic's overrides, or a broker's (or the cluster's) dynamic broker configs.
fn alter_resource(
    ctx: &RequestContext,
    resource_type: i8,
    name: &str,
    keys: &[(&str, bool)],
    validate_only: bool,
    change: Change,
) -> Result<(), Failure> {
    authorize(ctx, resource_type, name, operation::ALTER_CONFIGS)?;
    if matches!(resource_type, TOPIC | BROKER | GROUP) {
        let mut seen = std::collections::HashSet::new();
        if !keys.iter().all(|(key, _)| seen.insert(*key)) {
            return Err((
                ResponseError::InvalidRequest,
                "Error due to duplicate config keys".into(),
            ));
        }
        let nulls: Vec<&str> = keys
            .iter()
            .filter(|(_, null)| *null)
            .map(|(k, _)| *k)
            .collect();
        if !nulls.is_empty() {
            return Err((
                ResponseError::InvalidRequest,
                format!("Null value not supported for : {}", nulls.join(", ")),
            ));
        }
    }
    match resource_type {
        GROUP => {
            let current = ctx.cluster.shares.group_configs(name);
            let configs = change(current.clone(), None)?;
            for (key, value) in &configs {
                share::validate_group_config(key, value)
                    .map_err(|m| (ResponseError::InvalidConfig, m))?;
            }
            if !validate_only {
                for key in current.keys().filter(|k| !configs.contains_key(*k)) {
                    ctx.cluster.shares.set_group_config(name, key, None);
                }
                for (key, value) in configs {
                    ctx.cluster.shares.set_group_config(name, &key, Some(value));
                }
            }
            Ok(())
        }
        TOPIC => {
            let topic = topic(ctx, name)?;
            let current = topic.configs.read().clone();
            let configs = validate_all(change(current, Some(&topic))?)?;
            if !validate_only {
                *topic.configs.write() = configs;
            }
            Ok(())
        }
        BROKER => {
            let node_id = broker_resource(ctx, name)?;
            let mut dynamic = ctx.cluster.dynamic_configs.write();
            let configs = change(dynamic.resource(node_id), None)?;
            validate_dynamic_broker_configs(&configs, node_id.is_some())
                .map_err(|m| (ResponseError::InvalidRequest, m))?;
            if !validate_only {
                dynamic.set_resource(node_id, configs);
            }
            Ok(())
        }
        // Log levels are not configurable here.
        BROKER_LOGGER => Err((
            ResponseError::InvalidRequest,
            "Broker loggers are not configurable here.".into(),
        )),
        other => Err((
            ResponseError::InvalidRequest,
            format!("Unknown resource type {other}"),
        )),
    }
}

/// AlterConfigs replaces a topic's overrides, or a broker resource's dynamic configs, with
/// exactly the given set.
pub fn alter(ctx: &RequestContext, req: AlterConfigsRequest) -> AlterConfigsResponse {
    let responses = req
        .resources
        .into_iter()
        .map(|resource| {
            let keys: Vec<(&str, bool)> = resource
                .configs
                .iter()
                .map(|c| (c.name.as_str(), c.value.is_none()))
                .collect();
            let configs = &resource.configs;
            let result = alter_resource(
                ctx,
                resource.resource_type,
                &resource.resource_name,
                &keys,
                req.validate_only,
                Box::new(|_, _| {
                    Ok(configs
                        .iter()
                        .filter_map(|c| Some((c.name.to_string(), c.value.as_ref()?.to_string())))
                        .collect())
                }),
            );
            let response = AlterConfigsResourceResponse::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name);
            match result {
                // Kafka's ApiError.NONE has a null message.
                Ok(()) => response.with_error_message(None),
                Err((error, message)) => response
                    .with_error_code(error.code())
                    .with_error_message(Some(text(message))),
            }
        })
        .collect();
    AlterConfigsResponse::default().with_responses(responses)
}

/// IncrementalAlterConfigs applies SET, DELETE, APPEND and SUBTRACT to a topic's overrides or a
/// broker resource's dynamic configs.
pub fn incremental_alter(
    ctx: &RequestContext,
    req: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let responses = req
        .resources
        .into_iter()
        .map(|resource| {
            let keys: Vec<(&str, bool)> = resource
                .configs
                .iter()
                .map(|c| {
                    (
                        c.name.as_str(),
                        c.config_operation != DELETE && c.value.is_none(),
                    )
                })
                .collect();
            let ops = &resource.configs;
            let result = alter_resource(
                ctx,
                resource.resource_type,
                &resource.resource_name,
                &keys,
                req.validate_only,
                Box::new(|mut configs, topic| {
                    for op in ops {
                        let value = op.value.as_deref();
                        match topic {
                            Some(topic) => apply(
                                ctx,
                                topic,
                                &mut configs,
                                &op.name,
                                op.config_operation,
                                value,
                            )?,
                            None => {
                                apply_broker(&mut configs, &op.name, op.config_operation, value)?
                            }
                        }
                    }
                    Ok(configs)
                }),
            );
            let response = IncrementalResourceResponse::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name);
            match result {
                // Kafka's ApiError.NONE has a null message.
                Ok(()) => response.with_error_message(None),
                Err((error, message)) => response
                    .with_error_code(error.code())
                    .with_error_message(Some(text(message))),
            }
        })
        .collect();
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}

fn apply(
    ctx: &RequestContext,
    topic: &Topic,
    configs: &mut BTreeMap<String, String>,
    name: &str,
    operation: i8,
    value: Option<&str>,
) -> Result<(), Failure> {
    let def = topic_config(name).ok_or_else(|| {
        (
            ResponseError::InvalidConfig,
            format!("Unknown topic config name: {name}"),
        )
    })?;
    let is_list = def.kind == ConfigType::List;
    match operation {
        SET => {
            let value = value.ok_or_else(|| {
                (
                    ResponseError::InvalidRequest,
                    format!("Null value not supported for: {name}"),
                )
            })?;
            configs.insert(name.to_string(), value.to_string());
        }
        DELETE => {
            configs.remove(name);
        }
        APPEND | SUBTRACT if is_list => {
            let current = ctx.cluster.topic_config(topic, name).unwrap_or_default();
            let current = configs.get(name).cloned().unwrap_or(current);
            let edited = edited_list(&current, value.unwrap_or_default(), operation == APPEND);
            configs.insert(name.to_string(), edited);
        }
        APPEND | SUBTRACT => {
            return Err((
                ResponseError::InvalidConfig,
                format!(
                "Config value append/subtract is not allowed for config key {name} of type {:?}",
                def.kind
            ),
            ))
        }
        other => {
            return Err((
                ResponseError::InvalidRequest,
                format!("Unknown config operation {other}."),
            ))
        }
    }
    Ok(())
}

/// One IncrementalAlterConfigs operation on a broker resource's dynamic configs.
fn apply_broker(
    configs: &mut BTreeMap<String, String>,
    name: &str,
    operation: i8,
    value: Option<&str>,
) -> Result<(), Failure> {
    match operation {
        SET => {
            configs.insert(name.to_string(), value.unwrap_or_default().to_string());
        }
        DELETE => {
            configs.remove(name);
        }
        APPEND | SUBTRACT => {
            let is_list = matches!(
                broker_config_mode(name),
                BrokerConfigMode::Dynamic {
                    kind: ConfigType::List,
                    ..
                }
            );
            if !is_list {
                let op = if operation == APPEND {
                    "append"
                } else {
                    "subtract"
                };
                return Err((
                    ResponseError::InvalidConfig,
                    format!("Config value {op} is not allowed for config key: {name}"),
                ));
            }
            let current = configs.get(name).cloned().unwrap_or_default();
            let edited = edited_list(&current, value.unwrap_or_default(), operation == APPEND);
            configs.insert(name.to_string(), edited);
        }
        other => {
            return Err((
                ResponseError::InvalidRequest,
                format!("Unknown operations type {other}"),
            ))
        }
    }
    Ok(())
}

/// A list config (comma-separated) after IncrementalAlterConfigs' APPEND (the given items not
/// in it yet, in order) or SUBTRACT (without the given items).
fn edited_list(current: &str, given: &str, append: bool) -> String {
    let mut items: Vec<&str> = current
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let given: Vec<&str> = given.split(',').map(str::trim).collect();
    if append {
        for item in given {
            if !item.is_empty() && !items.contains(&item) {
                items.push(item);
            }
        }
    } else {
        items.retain(|i| !given.contains(i));
    }
    items.join(",")
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};

    use super::*;
    use crate::handlers::tests::{call, test_cluster};

    fn listed(version: i16, types: Vec<i8>) -> (i16, Vec<(i8, String)>) {
        let cluster = test_cluster(2);
        let req = ListConfigResourcesRequest::default().with_resource_types(types);
        match call(
            &cluster,
            ApiKey::ListConfigResources,
            version,
            RequestKind::ListConfigResources(req),
        ) {
            ResponseKind::ListConfigResources(r) => (
                r.error_code,
                r.config_resources
                    .iter()
                    .map(|c| (c.resource_type, c.resource_name.to_string()))
                    .collect(),
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_type_is_listed_in_kafkas_order_or_only_those_asked_for() {
        let all = |t: i8, name: &str| (t, name.to_string());
        assert_eq!(
            listed(1, vec![]),
            (
                0,
                vec![
                    all(BROKER_LOGGER, "0"),
                    all(BROKER_LOGGER, "1"),
                    all(BROKER, "0"),
                    all(BROKER, "1"),
                    all(TOPIC, "t"),
                ]
            )
        );
        assert_eq!(listed(1, vec![TOPIC, GROUP]), (0, vec![all(TOPIC, "t")]));
        // v0 lists client metrics subscriptions only: none here.
        assert_eq!(listed(0, vec![]), (0, vec![]));
    }

    #[test]
    fn a_type_without_configs_is_unsupported() {
        let (error, resources) = listed(1, vec![TOPIC, 99]);
        assert_eq!(error, ResponseError::UnsupportedVersion.code());
        assert!(resources.is_empty());
    }
}
