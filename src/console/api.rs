//! The console's JSON API, which the page uses and scripts may too (README, "Console"). Every
//! route reads or changes the cluster through `control` (or `Server` for brokers), as the JS
//! helpers do; errors come back as `{ code, message }` with the helper's code.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use serde_json::{json, Value};

use super::App;
use crate::control::{self, ControlError, ErrorSpec, FaultSpec, NewRecord, ResetTo, StoredRecord};
use crate::faults::{self, FaultAction};
use crate::server::Server;
use crate::state::security::acls::{operation, resource, CLUSTER_NAME};

pub(super) fn routes() -> Router<App> {
    Router::new()
        .route("/api/cluster", get(cluster))
        .route("/api/topics", get(topics).post(create_topic))
        .route("/api/topics/{topic}/messages", get(messages).post(produce))
        .route("/api/groups", get(groups))
        .route("/api/groups/{group}/reset-offsets", post(reset_offsets))
        .route("/api/requests", get(requests).delete(clear_requests))
        .route(
            "/api/faults",
            get(faults).post(add_fault).delete(clear_faults),
        )
        .route("/api/brokers/{broker}/stop", post(stop_broker))
        .route("/api/brokers/{broker}/start", post(start_broker))
}

/// A failed call: an HTTP status and the helper's error.
pub(super) struct ApiError(StatusCode, ControlError);

impl ApiError {
    fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        ApiError(
            status,
            ControlError {
                code: code.into(),
                message: message.into(),
            },
        )
    }

    fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "ERR_INVALID_ARG_VALUE", message)
    }
}

impl From<ControlError> for ApiError {
    fn from(error: ControlError) -> Self {
        let status = match error.code.as_str() {
            "UNKNOWN_TOPIC_OR_PARTITION" | "GROUP_ID_NOT_FOUND" => StatusCode::NOT_FOUND,
            "TOPIC_ALREADY_EXISTS" | "NON_EMPTY_GROUP" => StatusCode::CONFLICT,
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError(status, error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "code": self.1.code, "message": self.1.message });
        (self.0, Json(body)).into_response()
    }
}

type Reply = Result<Json<Value>, ApiError>;

impl App {
    pub(super) fn server(&self) -> Result<Arc<Server>, ApiError> {
        self.server
            .upgrade()
            .filter(|s| !s.is_stopped())
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "ERR_KAFKA_STOPPED",
                    "the cluster is stopped",
                )
            })
    }

    /// Whether the console's principal may do `op` on a resource; always, without an
    /// authorizer or a principal (the console then acts as a super user).
    fn authorize(
        &self,
        server: &Server,
        resource_type: i8,
        name: &str,
        op: i8,
    ) -> Result<(), ApiError> {
        let Some(principal) = &self.principal else {
            return Ok(());
        };
        if server
            .cluster()
            .acls
            .authorize(principal, "127.0.0.1", resource_type, name, op)
        {
            return Ok(());
        }
        let (code, what) = match resource_type {
            resource::TOPIC => ("TOPIC_AUTHORIZATION_FAILED", format!("topic \"{name}\"")),
            resource::GROUP => ("GROUP_AUTHORIZATION_FAILED", format!("group \"{name}\"")),
            _ => ("CLUSTER_AUTHORIZATION_FAILED", "the cluster".to_string()),
        };
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            code,
            format!("the console acts as {principal}, which may not do this on {what}"),
        ))
    }

    fn may_describe(&self, server: &Server, resource_type: i8, name: &str) -> bool {
        self.authorize(server, resource_type, name, operation::DESCRIBE)
            .is_ok()
    }
}

/// The overview: brokers and listeners, counts, and whom the console acts as.
async fn cluster(State(app): State<App>) -> Reply {
    let server = app.server()?;
    let cluster = server.cluster();
    let brokers: Vec<Value> = server
        .brokers()
        .into_iter()
        .map(|b| {
            json!({
                "id": b.node_id,
                "running": b.alive,
                "listeners": b.endpoints.iter().map(|e| json!({
                    "name": e.listener,
                    "security": e.security.name(),
                    "host": e.host,
                    "port": e.port,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let topics = cluster.topics.all();
    let partitions: usize = topics.iter().map(|t| t.partition_count()).sum();
    let authorizer = &cluster.acls.config;
    let acting_as = match (&app.principal, authorizer.enabled) {
        (Some(p), true) => format!("{p}, authorized by the cluster's ACLs"),
        (Some(p), false) => format!("{p}; the cluster enforces no ACLs"),
        (None, true) => "the cluster's super user: its actions are not authorized".to_string(),
        (None, false) => "no principal; the cluster enforces no ACLs".to_string(),
    };
    Ok(Json(json!({
        "clusterId": cluster.cluster_id,
        "controller": cluster.controller_id(),
        "brokers": brokers,
        "topicCount": topics.len(),
        "partitionCount": partitions,
        "groupCount": control::groups(cluster).len() + control::consumer_protocol_groups(cluster).len(),
        "principal": app.principal,
        "authorization": authorizer.enabled,
        "actingAs": acting_as,
    })))
}

/// Every topic with its partitions (leader, offsets, size) and the configs set on it.
async fn topics(State(app): State<App>) -> Reply {
    let server = app.server()?;
    let mut topics = server.cluster().topics.all();
    topics.retain(|t| app.may_describe(&server, resource::TOPIC, &t.name));
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    let list: Vec<Value> = topics
        .iter()
        .map(|t| {
            let partitions: Vec<Value> = t
                .partitions
                .read()
                .iter()
                .map(|p| {
                    let leadership = p.leadership();
                    let log = p.log.lock();
                    json!({
                        "partition": p.index,
                        "leader": leadership.leader,
                        "leaderEpoch": leadership.leader_epoch,
                        "replicas": leadership.replicas,
                        "logStartOffset": log.log_start_offset(),
                        "highWatermark": log.high_watermark(),
                        "sizeBytes": log.size(),
                    })
                })
                .collect();
            json!({
                "name": t.name,
                "id": t.id.to_string(),
                "partitions": partitions,
                "configs": *t.configs.read(),
            })
        })
        .collect();
    Ok(Json(Value::Array(list)))
}

fn text_field<'a>(body: &'a Value, name: &str) -> Result<Option<&'a str>, ApiError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(ApiError::bad_request(format!(
            "{name} must be a string, not {other}"
        ))),
    }
}

fn integer_field(body: &Value, name: &str) -> Result<Option<i64>, ApiError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => {
            s.trim().parse().map(Some).map_err(|_| {
                ApiError::bad_request(format!("{name} must be an integer, not \"{s}\""))
            })
        }
        Some(v) => v
            .as_i64()
            .map(Some)
            .ok_or_else(|| ApiError::bad_request(format!("{name} must be an integer, not {v}"))),
    }
}

fn i32_field(body: &Value, name: &str) -> Result<Option<i32>, ApiError> {
    integer_field(body, name)?
        .map(|n| {
            i32::try_from(n)
                .map_err(|_| ApiError::bad_request(format!("{name} {n} is out of range")))
        })
        .transpose()
}

/// `{ name, partitions?, replicationFactor? }`: CreateTopics with the broker's defaults.
async fn create_topic(State(app): State<App>, Json(body): Json<Value>) -> Reply {
    let server = app.server()?;
    let name = text_field(&body, "name")?
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::bad_request("name the topic"))?;
    app.authorize(&server, resource::TOPIC, name, operation::CREATE)?;
    let partitions = i32_field(&body, "partitions")?;
    let replication_factor =
        i32_field(&body, "replicationFactor")?.map(|rf| i16::try_from(rf).unwrap_or(i16::MAX));
    let topic = control::create_topic(
        server.cluster(),
        name,
        partitions,
        replication_factor,
        BTreeMap::new(),
    )?;
    Ok(Json(
        json!({ "name": topic.name, "partitions": topic.partition_count() }),
    ))
}

/// A key, value or header as the page shows it: JSON (which the page pretty-prints, keeping
/// its key order), other UTF-8 as text, anything else as hex.
fn shown(bytes: &Option<Bytes>) -> Value {
    let Some(bytes) = bytes else {
        return Value::Null;
    };
    let (encoding, text) = match std::str::from_utf8(bytes) {
        Ok(text) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(_) | Value::Array(_)) => ("json", text.to_string()),
            _ => ("text", text.to_string()),
        },
        Err(_) => (
            "binary",
            bytes
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(" "),
        ),
    };
    json!({ "encoding": encoding, "text": text, "size": bytes.len() })
}

fn matches(record: &StoredRecord, needle: &str) -> bool {
    let contains = |b: &Option<Bytes>| {
        b.as_ref()
            .is_some_and(|b| String::from_utf8_lossy(b).to_lowercase().contains(needle))
    };
    contains(&record.key)
        || contains(&record.value)
        || record
            .headers
            .iter()
            .any(|(k, v)| k.to_lowercase().contains(needle) || contains(v))
}

/// The most records one page of the message browser holds.
const MAX_LIMIT: usize = 1000;

/// `?partition=&offset=&timestamp=&q=&limit=`: records from an offset (or a timestamp) on,
/// newest first, those matching the search text in their key, value or headers.
async fn messages(
    State(app): State<App>,
    Path(topic): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Reply {
    let server = app.server()?;
    app.authorize(&server, resource::TOPIC, &topic, operation::READ)?;
    let query: Value = query
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect::<serde_json::Map<_, _>>()
        .into();
    let partition = i32_field(&query, "partition")?;
    let offset = integer_field(&query, "offset")?;
    let timestamp = integer_field(&query, "timestamp")?;
    let limit =
        integer_field(&query, "limit")?.map_or(100, |n| n.clamp(1, MAX_LIMIT as i64) as usize);
    let needle = text_field(&query, "q")?
        .map(|q| q.trim().to_lowercase())
        .filter(|q| !q.is_empty());
    let mut records = control::messages(server.cluster(), &topic, partition, offset)?;
    records.retain(|r| timestamp.is_none_or(|t| r.timestamp >= t));
    if let Some(needle) = &needle {
        records.retain(|r| matches(r, needle));
    }
    let total = records.len();
    records.sort_by_key(|r| std::cmp::Reverse((r.timestamp, r.offset, r.partition)));
    records.truncate(limit);
    let list: Vec<Value> = records
        .iter()
        .map(|r| {
            json!({
                "partition": r.partition,
                "offset": r.offset,
                "timestamp": r.timestamp,
                "key": shown(&r.key),
                "value": shown(&r.value),
                "headers": r.headers.iter().map(|(k, v)| json!({ "key": k, "value": shown(v) })).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(Json(
        json!({ "topic": topic, "matched": total, "records": list }),
    ))
}

/// `{ key?, value?, headers?: { name: value }, partition? }`, strings as UTF-8: appended as
/// `kafka.produce()` does.
async fn produce(
    State(app): State<App>,
    Path(topic): Path<String>,
    Json(body): Json<Value>,
) -> Reply {
    let server = app.server()?;
    app.authorize(&server, resource::TOPIC, &topic, operation::WRITE)?;
    let utf8 = |s: Option<&str>| s.map(|s| Bytes::copy_from_slice(s.as_bytes()));
    let headers = match body.get("headers") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), utf8(Some(s)))),
                Value::Null => Ok((k.clone(), None)),
                other => Err(ApiError::bad_request(format!(
                    "header {k} must be a string, not {other}"
                ))),
            })
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "headers must be an object of strings, not {other}"
            )))
        }
    };
    let record = NewRecord {
        key: utf8(text_field(&body, "key")?),
        value: utf8(text_field(&body, "value")?),
        headers,
        partition: i32_field(&body, "partition")?,
        timestamp: None,
    };
    let appended = control::produce(server.cluster(), &topic, vec![record])?;
    let first = appended.first().copied().ok_or_else(|| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ERR_KAFKA",
            "nothing was appended",
        )
    })?;
    Ok(Json(
        json!({ "topic": topic, "partition": first.partition, "offset": first.offset }),
    ))
}

/// One group as the page shows it, of either protocol.
struct GroupRow<'a> {
    group_id: &'a str,
    /// `classic`, `consumer` (KIP-848) or `share` (KIP-932).
    group_type: &'static str,
    state: &'a str,
    protocol_type: &'a str,
    protocol: &'a str,
    /// The generation of a classic group, the group epoch of a consumer group.
    generation: i32,
    coordinator: i32,
    members: &'a [control::GroupMember],
}

fn group_json(cluster: &crate::state::Cluster, g: GroupRow) -> Value {
    let lag: Vec<Value> = control::group_lag(cluster, g.group_id, g.members)
        .into_iter()
        .map(|l| {
            json!({
                "topic": l.topic,
                "partition": l.partition,
                "committedOffset": l.committed,
                "highWatermark": l.high_watermark,
                "lag": l.lag,
                "memberId": l.member_id,
            })
        })
        .collect();
    json!({
        "groupId": g.group_id,
        "type": g.group_type,
        "state": g.state,
        "generationId": g.generation,
        "protocolType": g.protocol_type,
        "protocol": g.protocol,
        "coordinator": g.coordinator,
        "members": g.members.iter().map(|m| json!({
            "memberId": m.member_id,
            "groupInstanceId": m.group_instance_id,
            "clientId": m.client_id,
            "clientHost": m.client_host,
            "assignment": m.assignment.iter().cloned().collect::<BTreeMap<_, _>>(),
        })).collect::<Vec<_>>(),
        "totalLag": lag.iter().filter_map(|l| l["lag"].as_i64()).sum::<i64>(),
        "partitions": lag,
    })
}

/// Every group, classic (`kafka.groups()`) and consumer protocol, by id, with its state,
/// members, assignments and lag per partition.
async fn groups(State(app): State<App>) -> Reply {
    let server = app.server()?;
    let cluster = server.cluster();
    let classic = control::groups(cluster);
    let consumer = control::consumer_protocol_groups(cluster);
    let mut list: Vec<(&str, Value)> = classic
        .iter()
        .map(|g| {
            let row = GroupRow {
                group_id: &g.group_id,
                // Share groups (KIP-932) name themselves by their protocol type.
                group_type: if g.protocol_type == "share" {
                    "share"
                } else {
                    "classic"
                },
                state: g.state.name(),
                protocol_type: &g.protocol_type,
                protocol: &g.protocol,
                generation: g.generation_id,
                coordinator: g.coordinator,
                members: &g.members,
            };
            (g.group_id.as_str(), group_json(cluster, row))
        })
        .chain(consumer.iter().map(|g| {
            let row = GroupRow {
                group_id: &g.group_id,
                group_type: "consumer",
                state: g.state,
                protocol_type: "consumer",
                protocol: &g.assignor,
                generation: g.group_epoch,
                coordinator: g.coordinator,
                members: &g.members,
            };
            (g.group_id.as_str(), group_json(cluster, row))
        }))
        .filter(|(id, _)| app.may_describe(&server, resource::GROUP, id))
        .collect();
    list.sort_by(|a, b| a.0.cmp(b.0));
    Ok(Json(Value::Array(
        list.into_iter().map(|(_, g)| g).collect(),
    )))
}

/// `{ to: 'earliest' | 'latest' | offset, topic? }`, for a group with no members.
async fn reset_offsets(
    State(app): State<App>,
    Path(group): Path<String>,
    Json(body): Json<Value>,
) -> Reply {
    let server = app.server()?;
    app.authorize(&server, resource::GROUP, &group, operation::READ)?;
    let topic = text_field(&body, "topic")?.filter(|t| !t.is_empty());
    if let Some(topic) = topic {
        app.authorize(&server, resource::TOPIC, topic, operation::DESCRIBE)?;
    }
    let to = match body.get("to") {
        Some(Value::String(s)) if s == "earliest" => ResetTo::Earliest,
        Some(Value::String(s)) if s == "latest" => ResetTo::Latest,
        _ => match integer_field(&body, "to") {
            Ok(Some(offset)) => ResetTo::Offset(offset),
            _ => {
                return Err(ApiError::bad_request(
                    "to must be \"earliest\", \"latest\" or an offset",
                ))
            }
        },
    };
    let offsets = control::reset_offsets(server.cluster(), &group, topic, to)?;
    Ok(Json(Value::Array(
        offsets
            .into_iter()
            .map(|o| json!({ "topic": o.topic, "partition": o.partition, "offset": o.offset }))
            .collect(),
    )))
}

/// The request log, newest first: what `kafka.requests()` lists.
async fn requests(State(app): State<App>) -> Reply {
    let server = app.server()?;
    app.authorize(
        &server,
        resource::CLUSTER,
        CLUSTER_NAME,
        operation::DESCRIBE,
    )?;
    let list: Vec<Value> = server
        .cluster()
        .faults
        .requests()
        .into_iter()
        .rev()
        .map(|r| {
            json!({
                "api": faults::api_name(r.api),
                "apiKey": r.api as i16,
                "version": r.version,
                "correlationId": r.correlation_id,
                "clientId": &*r.client_id,
                "broker": r.broker_id,
                "connection": r.connection_id,
                "errorCode": r.error_code,
                "error": faults::error_by_code(r.error_code).map(faults::error_name),
                "injected": r.injected,
                "timestamp": r.timestamp_ms,
                "durationMs": r.duration.as_secs_f64() * 1000.0,
            })
        })
        .collect();
    Ok(Json(Value::Array(list)))
}

async fn clear_requests(State(app): State<App>) -> Reply {
    let server = app.server()?;
    app.authorize(&server, resource::CLUSTER, CLUSTER_NAME, operation::ALTER)?;
    server.cluster().faults.clear_requests();
    Ok(Json(json!({})))
}

/// The faults still armed.
async fn faults(State(app): State<App>) -> Reply {
    let server = app.server()?;
    let list: Vec<Value> = server
        .cluster()
        .faults
        .pending()
        .into_iter()
        .map(|f| {
            let (error, drop) = match f.action {
                FaultAction::Error(e) => (Some(faults::error_name(e)), None),
                FaultAction::DropRequest => (None, Some("request")),
                FaultAction::DropResponse => (None, Some("response")),
            };
            json!({
                "api": faults::api_name(f.api),
                "error": error,
                "drop": drop,
                "count": f.count,
                "topic": f.topic,
                "broker": f.broker,
                "clientId": f.client_id,
            })
        })
        .collect();
    Ok(Json(Value::Array(list)))
}

/// `{ api, error?, drop?, count?, topic?, broker?, clientId? }`: `kafka.failNext()`.
async fn add_fault(State(app): State<App>, Json(body): Json<Value>) -> Reply {
    let server = app.server()?;
    app.authorize(&server, resource::CLUSTER, CLUSTER_NAME, operation::ALTER)?;
    let api = text_field(&body, "api")?.ok_or_else(|| ApiError::bad_request("name the api"))?;
    let error = match body.get("error") {
        Some(Value::String(s)) if !s.is_empty() => Some(ErrorSpec::Name(s)),
        Some(Value::Number(n)) => Some(ErrorSpec::Code(
            n.as_i64()
                .and_then(|n| i32::try_from(n).ok())
                .unwrap_or(i32::MAX),
        )),
        _ => None,
    };
    let count = integer_field(&body, "count")?
        .map(|n| {
            u32::try_from(n)
                .map_err(|_| ApiError::bad_request(format!("count {n} is out of range")))
        })
        .transpose()?;
    let spec = FaultSpec {
        api,
        error,
        drop: text_field(&body, "drop")?.filter(|d| !d.is_empty()),
        count,
        topic: text_field(&body, "topic")?.filter(|t| !t.is_empty()),
        broker: i32_field(&body, "broker")?,
        client_id: text_field(&body, "clientId")?.filter(|c| !c.is_empty()),
    };
    let fault = control::fault(&spec).map_err(ApiError::bad_request)?;
    server.cluster().faults.fail_next(fault);
    Ok(Json(json!({})))
}

async fn clear_faults(State(app): State<App>) -> Reply {
    let server = app.server()?;
    app.authorize(&server, resource::CLUSTER, CLUSTER_NAME, operation::ALTER)?;
    server.cluster().faults.clear();
    Ok(Json(json!({})))
}

/// Stopping or starting a broker blocks on the cluster's runtime, so it runs on a thread of
/// its own rather than on a runtime worker.
async fn broker_action(
    app: App,
    broker: i32,
    action: fn(&Server, i32) -> Result<(), ControlError>,
) -> Reply {
    let server = app.server()?;
    app.authorize(&server, resource::CLUSTER, CLUSTER_NAME, operation::ALTER)?;
    let (done, result) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let _ = done.send(action(&server, broker));
    });
    result.await.map_err(|_| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ERR_KAFKA",
            "the broker action failed",
        )
    })??;
    Ok(Json(json!({ "broker": broker })))
}

async fn stop_broker(State(app): State<App>, Path(broker): Path<i32>) -> Reply {
    broker_action(app, broker, |server, id| {
        server.stop_broker(id).map(|_| ()).map_err(Into::into)
    })
    .await
}

async fn start_broker(State(app): State<App>, Path(broker): Path<i32>) -> Reply {
    broker_action(app, broker, |server, id| {
        server.start_broker(id).map(|_| ()).map_err(Into::into)
    })
    .await
}
