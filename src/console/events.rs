//! Live updates: a Server-Sent Events stream telling the page what changed, so it fetches
//! again only what it shows. Appends to any partition log and topic creation wake the stream
//! at once (the notifications parked fetches use); groups, the request log, faults and
//! brokers are compared at most every `TICK`, which no notification covers.

use std::collections::hash_map::DefaultHasher;
use std::convert::Infallible;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use serde_json::json;
use tokio::sync::{watch, Notify};

use super::App;
use crate::server::Server;

/// How often state without a notification is compared.
const TICK: Duration = Duration::from_millis(250);
/// The least time between two events, so a busy producer does not flood the page.
const SPACING: Duration = Duration::from_millis(100);

/// A digest of each kind of state the page shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Digest {
    topics: u64,
    /// Each topic with the sum of its partitions' high watermarks and log start offsets.
    records: Vec<(String, i64)>,
    groups: u64,
    requests: u64,
    faults: u64,
    brokers: u64,
}

fn hash(value: impl Hash) -> u64 {
    let mut hasher = DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}

/// Takes the digest and parks `waiter` on every partition log, so the next append wakes it.
fn digest(server: &Server, waiter: &Arc<Notify>) -> Digest {
    let cluster = server.cluster();
    let mut topics = cluster.topics.all();
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    let records = topics
        .iter()
        .map(|t| {
            let offsets = t
                .partitions
                .read()
                .iter()
                .map(|p| {
                    let mut log = p.log.lock();
                    log.park(waiter);
                    log.high_watermark() + log.log_start_offset()
                })
                .sum();
            (t.name.clone(), offsets)
        })
        .collect();
    let classic = crate::control::groups(cluster);
    let consumer = crate::control::consumer_protocol_groups(cluster);
    let group_ids = classic
        .iter()
        .map(|g| &g.group_id)
        .chain(consumer.iter().map(|g| &g.group_id));
    let group_offsets: Vec<_> = group_ids
        .map(|id| {
            crate::control::offsets(cluster, id)
                .into_iter()
                .map(|o| (o.topic, o.partition, o.offset))
                .collect::<Vec<_>>()
        })
        .collect();
    let groups = format!("{classic:?}{consumer:?}");
    let requests = cluster.faults.requests();
    let last = requests
        .last()
        .map(|r| (r.timestamp_ms, r.connection_id, r.correlation_id));
    Digest {
        topics: hash(
            topics
                .iter()
                .map(|t| (&t.name, t.partition_count()))
                .collect::<Vec<_>>(),
        ),
        records,
        groups: hash((groups, group_offsets)),
        requests: hash((requests.len(), last)),
        faults: hash(format!("{:?}", cluster.faults.pending())),
        brokers: hash(
            server
                .brokers()
                .iter()
                .map(|b| (b.node_id, b.alive))
                .collect::<Vec<_>>(),
        ),
    }
}

/// What changed between two digests: kinds (`topics`, `records`, ...) and the topics whose
/// records changed.
fn changes(before: &Digest, after: &Digest) -> Option<serde_json::Value> {
    let mut kinds = Vec::new();
    for (kind, changed) in [
        ("topics", before.topics != after.topics),
        ("groups", before.groups != after.groups),
        ("requests", before.requests != after.requests),
        ("faults", before.faults != after.faults),
        ("brokers", before.brokers != after.brokers),
    ] {
        if changed {
            kinds.push(kind);
        }
    }
    let topics: Vec<&str> = after
        .records
        .iter()
        .filter(|t| !before.records.contains(t))
        .map(|(name, _)| name.as_str())
        .collect();
    if !topics.is_empty() {
        kinds.push("records");
    }
    (!kinds.is_empty()).then(|| json!({ "changed": kinds, "topics": topics }))
}

struct Watch {
    app: App,
    last: Option<Digest>,
    waiter: Arc<Notify>,
    shutdown: watch::Receiver<bool>,
}

/// `GET /api/events`: a `change` event whenever something the page shows changed; the first
/// one lists everything. Ends when the cluster stops.
pub(super) async fn stream(
    State(app): State<App>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let shutdown = match app.server() {
        Ok(server) => server.shutdown_signal(),
        Err(_) => watch::channel(true).1,
    };
    let watch = Watch {
        app,
        last: None,
        waiter: Arc::new(Notify::new()),
        shutdown,
    };
    let events = stream::unfold(watch, |mut w| async move {
        loop {
            if *w.shutdown.borrow() {
                return None;
            }
            let server = w.app.server().ok()?;
            // The cluster, not the server, is held while waiting: it owns no runtime.
            let cluster = server.cluster().clone();
            let mut created = std::pin::pin!(cluster.topics.created.notified());
            created.as_mut().enable();
            let now = digest(&server, &w.waiter);
            drop(server);
            let change = match &w.last {
                None => Some(json!({ "changed": ["all"], "topics": [] })),
                Some(last) => changes(last, &now),
            };
            if let Some(change) = change {
                if w.last.is_some() {
                    tokio::time::sleep(SPACING).await;
                }
                w.last = Some(now);
                let event = Event::default().event("change").data(change.to_string());
                return Some((Ok(event), w));
            }
            tokio::select! {
                _ = w.waiter.notified() => {}
                _ = created => {}
                _ = tokio::time::sleep(TICK) => {}
                _ = w.shutdown.changed() => {}
            }
        }
    });
    Sse::new(events).keep_alive(KeepAlive::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_name_the_kinds_and_topics_that_moved() {
        let before = Digest {
            records: vec![("a".into(), 1), ("b".into(), 0)],
            ..Default::default()
        };
        let mut after = before.clone();
        assert_eq!(changes(&before, &after), None);
        after.records[1].1 = 3;
        after.groups = 7;
        let change = changes(&before, &after).unwrap();
        assert_eq!(change["changed"], json!(["groups", "records"]));
        assert_eq!(change["topics"], json!(["b"]));
    }
}
