//! Test controls no real Kafka offers: errors injected into the next matching requests, added
//! latency, and a bounded log of the requests served. `handlers::intercept` consults them for
//! every request; with no fault or delay set, that costs one atomic load and a log entry.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::ApiKey;
use parking_lot::Mutex;

/// Requests the log keeps unless told otherwise.
pub const DEFAULT_LOG_CAPACITY: usize = 1000;

/// What an injected fault does to a request it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultAction {
    /// Answer with this error instead of serving the request.
    Error(ResponseError),
    /// Close the connection without serving the request.
    DropRequest,
    /// Serve the request, then close the connection without answering: the request took effect
    /// but the client cannot know, as when a response is lost.
    DropResponse,
}

/// A fault armed for the next `count` requests that match it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub api: ApiKey,
    pub action: FaultAction,
    pub count: u32,
    /// Only requests naming this topic.
    pub topic: Option<String>,
    /// Only requests to this broker.
    pub broker: Option<i32>,
    /// Only requests from this client id.
    pub client_id: Option<String>,
}

/// Latency added before serving each matching request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delay {
    pub api: Option<ApiKey>,
    pub broker: Option<i32>,
    pub latency: Duration,
}

/// What a fault is matched against.
#[derive(Debug, Clone, Copy)]
pub struct RequestInfo<'a> {
    pub api: ApiKey,
    pub broker_id: i32,
    pub client_id: &'a str,
}

/// One served request, as `requests()` lists it.
#[derive(Debug, Clone)]
pub struct RequestRecord {
    pub api: ApiKey,
    pub version: i16,
    pub correlation_id: i32,
    pub client_id: Arc<str>,
    pub broker_id: i32,
    /// The connection it came on, numbered from 0 in the order they were accepted.
    pub connection_id: u64,
    /// The first error code in the response (0 if none, or if no response was sent).
    pub error_code: i16,
    /// The response (or its absence) came from an injected fault.
    pub injected: bool,
    /// When the request arrived, in ms since the epoch.
    pub timestamp_ms: i64,
    /// How long it took to serve, injected delay included.
    pub duration: Duration,
}

#[derive(Debug, Default)]
struct Rules {
    faults: Vec<Fault>,
    delays: Vec<Delay>,
}

#[derive(Debug)]
pub struct Faults {
    /// Whether any fault or delay is set: the only thing a request checks when none is.
    armed: AtomicBool,
    rules: Mutex<Rules>,
    log: Mutex<VecDeque<RequestRecord>>,
    log_capacity: AtomicUsize,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            armed: AtomicBool::new(false),
            rules: Mutex::default(),
            log: Mutex::default(),
            log_capacity: AtomicUsize::new(DEFAULT_LOG_CAPACITY),
        }
    }
}

impl Faults {
    pub fn armed(&self) -> bool {
        self.armed.load(Ordering::Acquire)
    }

    fn rearm(&self, rules: &Rules) {
        let armed = !rules.faults.is_empty() || !rules.delays.is_empty();
        self.armed.store(armed, Ordering::Release);
    }

    /// Arms a fault after those already armed; the oldest matching fault fires first.
    pub fn fail_next(&self, fault: Fault) {
        if fault.count == 0 {
            return;
        }
        let mut rules = self.rules.lock();
        rules.faults.push(fault);
        self.rearm(&rules);
    }

    /// Sets the latency of requests matching `(api, broker)`, replacing what was set for the
    /// same pair; a zero latency removes it.
    pub fn set_delay(&self, delay: Delay) {
        let mut rules = self.rules.lock();
        rules
            .delays
            .retain(|d| (d.api, d.broker) != (delay.api, delay.broker));
        if !delay.latency.is_zero() {
            rules.delays.push(delay);
        }
        self.rearm(&rules);
    }

    /// Disarms every fault and delay.
    pub fn clear(&self) {
        let mut rules = self.rules.lock();
        *rules = Rules::default();
        self.rearm(&rules);
    }

    /// Faults still armed, with their remaining counts.
    pub fn pending(&self) -> Vec<Fault> {
        self.rules.lock().faults.clone()
    }

    /// The latency to add to a request: the sum of every matching delay.
    pub fn delay_for(&self, info: &RequestInfo) -> Duration {
        self.rules
            .lock()
            .delays
            .iter()
            .filter(|d| d.api.is_none_or(|api| api == info.api))
            .filter(|d| d.broker.is_none_or(|b| b == info.broker_id))
            .map(|d| d.latency)
            .sum()
    }

    /// Fires the oldest fault matching the request, if any, counting it down. `topics` lists
    /// the topics the request names; it is called only if a matching fault filters by topic.
    pub fn take(
        &self,
        info: &RequestInfo,
        topics: impl FnOnce() -> Vec<String>,
    ) -> Option<FaultAction> {
        let mut rules = self.rules.lock();
        let mut topics = Lazy::new(topics);
        let index = rules.faults.iter().position(|f| {
            f.api == info.api
                && f.broker.is_none_or(|b| b == info.broker_id)
                && f.client_id.as_deref().is_none_or(|c| c == info.client_id)
                && f.topic
                    .as_deref()
                    .is_none_or(|t| topics.get().iter().any(|named| named == t))
        })?;
        let fault = &mut rules.faults[index];
        let action = fault.action;
        fault.count -= 1;
        if fault.count == 0 {
            rules.faults.remove(index);
            self.rearm(&rules);
        }
        Some(action)
    }

    /// Keeps at most `capacity` requests in the log (0 keeps none).
    pub fn set_log_capacity(&self, capacity: usize) {
        self.log_capacity.store(capacity, Ordering::Relaxed);
        let mut log = self.log.lock();
        while log.len() > capacity {
            log.pop_front();
        }
    }

    pub fn record(&self, record: RequestRecord) {
        let capacity = self.log_capacity.load(Ordering::Relaxed);
        if capacity == 0 {
            return;
        }
        let mut log = self.log.lock();
        if log.len() >= capacity {
            log.pop_front();
        }
        log.push_back(record);
    }

    /// The logged requests, oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.log.lock().iter().cloned().collect()
    }

    pub fn clear_requests(&self) {
        self.log.lock().clear();
    }
}

/// A value computed on first use.
struct Lazy<T, F: FnOnce() -> T> {
    value: Option<T>,
    init: Option<F>,
}

impl<T, F: FnOnce() -> T> Lazy<T, F> {
    fn new(init: F) -> Self {
        Lazy {
            value: None,
            init: Some(init),
        }
    }

    fn get(&mut self) -> &T {
        if self.value.is_none() {
            let init = self.init.take().expect("initialised once");
            self.value = Some(init());
        }
        self.value.as_ref().expect("just set")
    }
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// An API by its Kafka name (`Produce`, `FindCoordinator`; case, `_` and `-` ignored, so
/// `END_TXN` works) or its key (`0`).
pub fn parse_api(name: &str) -> Option<ApiKey> {
    if let Ok(key) = name.trim().parse::<i16>() {
        return ApiKey::try_from(key).ok();
    }
    let wanted: String = name
        .chars()
        .filter(|c| !matches!(c, '_' | '-' | ' '))
        .collect();
    ApiKey::iter().find(|key| format!("{key:?}").eq_ignore_ascii_case(&wanted))
}

pub fn api_name(api: ApiKey) -> String {
    format!("{api:?}")
}

/// Error codes Kafka defines (ResponseError has no list of them).
fn known_errors() -> impl Iterator<Item = ResponseError> {
    (-1..=1000i16)
        .filter_map(ResponseError::try_from_code)
        .filter(|e| !matches!(e, ResponseError::Unknown(_)))
}

/// Kafka's name of an error: `NOT_LEADER_OR_FOLLOWER`.
pub fn error_name(error: ResponseError) -> String {
    let camel = error.to_string();
    let mut name = String::with_capacity(camel.len() + 8);
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            name.push('_');
        }
        name.push(c.to_ascii_uppercase());
    }
    name
}

/// Names Kafka used before renaming these errors, which kafkajs still reports.
const FORMER_NAMES: &[(&str, ResponseError)] = &[
    (
        "NOT_LEADER_FOR_PARTITION",
        ResponseError::NotLeaderOrFollower,
    ),
    (
        "GROUP_LOAD_IN_PROGRESS",
        ResponseError::CoordinatorLoadInProgress,
    ),
    (
        "GROUP_COORDINATOR_NOT_AVAILABLE",
        ResponseError::CoordinatorNotAvailable,
    ),
    ("NOT_COORDINATOR_FOR_GROUP", ResponseError::NotCoordinator),
    ("UNKNOWN", ResponseError::UnknownServerError),
];

/// An error by its Kafka name (`NOT_LEADER_OR_FOLLOWER`, any case, or the former name kafkajs
/// reports) or its code (`6`).
pub fn parse_error(name: &str) -> Option<ResponseError> {
    if let Ok(code) = name.trim().parse::<i16>() {
        return error_by_code(code);
    }
    let wanted = name.trim().replace('-', "_");
    known_errors()
        .find(|e| error_name(*e).eq_ignore_ascii_case(&wanted))
        .or_else(|| {
            FORMER_NAMES
                .iter()
                .find(|(former, _)| former.eq_ignore_ascii_case(&wanted))
                .map(|&(_, error)| error)
        })
}

/// A known error by code; 0 (no error) and codes Kafka does not define are `None`.
pub fn error_by_code(code: i16) -> Option<ResponseError> {
    ResponseError::try_from_code(code).filter(|e| !matches!(e, ResponseError::Unknown(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(api: ApiKey, count: u32) -> Fault {
        Fault {
            api,
            action: FaultAction::Error(ResponseError::NotLeaderOrFollower),
            count,
            topic: None,
            broker: None,
            client_id: None,
        }
    }

    fn info(api: ApiKey, broker_id: i32, client_id: &str) -> RequestInfo<'_> {
        RequestInfo {
            api,
            broker_id,
            client_id,
        }
    }

    fn no_topics() -> Vec<String> {
        Vec::new()
    }

    #[test]
    fn a_fault_fires_count_times_then_disarms() {
        let faults = Faults::default();
        assert!(!faults.armed());
        faults.fail_next(fault(ApiKey::Produce, 2));
        assert!(faults.armed());
        let produce = info(ApiKey::Produce, 0, "c");
        assert_eq!(faults.take(&info(ApiKey::Fetch, 0, "c"), no_topics), None);
        for _ in 0..2 {
            assert_eq!(
                faults.take(&produce, no_topics),
                Some(FaultAction::Error(ResponseError::NotLeaderOrFollower))
            );
        }
        assert_eq!(faults.take(&produce, no_topics), None);
        assert!(!faults.armed());
    }

    #[test]
    fn faults_match_broker_client_and_topic() {
        let faults = Faults::default();
        faults.fail_next(Fault {
            broker: Some(1),
            client_id: Some("svc".into()),
            topic: Some("orders".into()),
            action: FaultAction::DropResponse,
            ..fault(ApiKey::Produce, 1)
        });
        let topics = || vec!["orders".to_string()];
        assert_eq!(faults.take(&info(ApiKey::Produce, 0, "svc"), topics), None);
        assert_eq!(
            faults.take(&info(ApiKey::Produce, 1, "other"), topics),
            None
        );
        assert_eq!(
            faults.take(&info(ApiKey::Produce, 1, "svc"), || vec!["audit".into()]),
            None
        );
        assert_eq!(
            faults.take(&info(ApiKey::Produce, 1, "svc"), topics),
            Some(FaultAction::DropResponse)
        );
    }

    #[test]
    fn topics_are_listed_only_when_a_fault_asks() {
        let faults = Faults::default();
        faults.fail_next(fault(ApiKey::Fetch, 1));
        let listed = std::cell::Cell::new(false);
        let topics = || {
            listed.set(true);
            Vec::new()
        };
        assert!(faults.take(&info(ApiKey::Fetch, 0, ""), topics).is_some());
        assert!(!listed.get());
    }

    #[test]
    fn the_oldest_matching_fault_fires_first() {
        let faults = Faults::default();
        faults.fail_next(Fault {
            action: FaultAction::DropRequest,
            ..fault(ApiKey::Metadata, 1)
        });
        faults.fail_next(fault(ApiKey::Metadata, 1));
        let metadata = info(ApiKey::Metadata, 0, "");
        assert_eq!(
            faults.take(&metadata, no_topics),
            Some(FaultAction::DropRequest)
        );
        assert!(matches!(
            faults.take(&metadata, no_topics),
            Some(FaultAction::Error(_))
        ));
    }

    #[test]
    fn delays_add_up_and_are_replaced_per_api_and_broker() {
        let faults = Faults::default();
        let ms = Duration::from_millis;
        faults.set_delay(Delay {
            api: None,
            broker: None,
            latency: ms(10),
        });
        faults.set_delay(Delay {
            api: Some(ApiKey::Fetch),
            broker: Some(2),
            latency: ms(5),
        });
        faults.set_delay(Delay {
            api: Some(ApiKey::Fetch),
            broker: Some(2),
            latency: ms(7),
        });
        assert_eq!(faults.delay_for(&info(ApiKey::Fetch, 2, "")), ms(17));
        assert_eq!(faults.delay_for(&info(ApiKey::Fetch, 1, "")), ms(10));
        faults.set_delay(Delay {
            api: None,
            broker: None,
            latency: Duration::ZERO,
        });
        assert_eq!(faults.delay_for(&info(ApiKey::Produce, 2, "")), ms(0));
        assert!(faults.armed());
        faults.clear();
        assert!(!faults.armed());
    }

    #[test]
    fn the_request_log_keeps_the_newest() {
        let faults = Faults::default();
        faults.set_log_capacity(2);
        for correlation_id in 0..3 {
            faults.record(RequestRecord {
                api: ApiKey::Metadata,
                version: 1,
                correlation_id,
                client_id: Arc::from("c"),
                broker_id: 0,
                connection_id: 0,
                error_code: 0,
                injected: false,
                timestamp_ms: 0,
                duration: Duration::ZERO,
            });
        }
        let ids: Vec<_> = faults.requests().iter().map(|r| r.correlation_id).collect();
        assert_eq!(ids, vec![1, 2]);
        faults.set_log_capacity(0);
        assert!(faults.requests().is_empty());
    }

    #[test]
    fn apis_and_errors_are_named_as_kafka_names_them() {
        assert_eq!(parse_api("Produce"), Some(ApiKey::Produce));
        assert_eq!(parse_api("findcoordinator"), Some(ApiKey::FindCoordinator));
        assert_eq!(parse_api("END_TXN"), Some(ApiKey::EndTxn));
        assert_eq!(parse_api("1"), Some(ApiKey::Fetch));
        assert_eq!(parse_api("Nope"), None);
        assert_eq!(
            parse_error("NOT_LEADER_OR_FOLLOWER"),
            Some(ResponseError::NotLeaderOrFollower)
        );
        assert_eq!(parse_error("6"), Some(ResponseError::NotLeaderOrFollower));
        assert_eq!(
            parse_error("not_coordinator"),
            Some(ResponseError::NotCoordinator)
        );
        assert_eq!(
            parse_error("GROUP_LOAD_IN_PROGRESS"),
            Some(ResponseError::CoordinatorLoadInProgress)
        );
        assert_eq!(parse_error("0"), None);
        assert_eq!(parse_error("NO_SUCH_ERROR"), None);
        assert_eq!(
            error_name(ResponseError::UnknownTopicOrPartition),
            "UNKNOWN_TOPIC_OR_PARTITION"
        );
        // Every defined error round-trips through its name.
        for error in known_errors() {
            assert_eq!(parse_error(&error_name(error)), Some(error), "{error:?}");
        }
    }
}
