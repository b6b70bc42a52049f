//! Incremental fetch sessions (KIP-227): a consumer names its partitions once, then each fetch
//! only sends the partitions whose position changed, and each response only carries partitions
//! with something new (records, a moved high watermark or log start offset, an error).

use std::collections::HashMap;
use std::time::Instant;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::{FetchRequest, FetchResponse, TopicName};
use parking_lot::Mutex;
use uuid::Uuid;

/// `max.incremental.fetch.session.cache.slots`
const MAX_SESSIONS: usize = 1000;
/// The epoch that asks for a sessionless (or session-closing) full fetch.
const FINAL_EPOCH: i32 = -1;

/// A partition of a session: by name (v12 and below) or topic id (v13+), and index.
type Key = (TopicName, Uuid, i32);

/// What the last response told the client about a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sent {
    high_watermark: i64,
    last_stable_offset: i64,
    log_start_offset: i64,
}

#[derive(Debug)]
struct Session {
    /// The epoch the next request must carry.
    next_epoch: i32,
    /// The partitions in the order they were added, with the client's latest fetch position.
    partitions: Vec<(Key, FetchPartition)>,
    sent: HashMap<Key, Sent>,
    last_used: Instant,
}

/// How a request relates to a session.
#[derive(Debug, PartialEq, Eq)]
pub enum SessionUse {
    /// A full fetch with no session (session id 0 in the response).
    Sessionless,
    /// A full fetch that created session `id`: every partition is answered.
    Full { id: i32 },
    /// An incremental fetch in session `id`: only partitions with news are answered.
    Incremental { id: i32 },
}

#[derive(Debug, Default)]
pub struct FetchSessions {
    sessions: Mutex<HashMap<i32, Session>>,
    next_id: Mutex<i32>,
}

impl FetchSessions {
    /// Forgets every session (a test's reset): clients get FETCH_SESSION_ID_NOT_FOUND and start
    /// a new one, as after a broker restart.
    pub fn clear(&self) {
        self.sessions.lock().clear();
    }

    /// Applies the request to its session and returns the request to serve: for an incremental
    /// fetch, the session's whole partition list with the request's updates applied.
    pub fn resolve(
        &self,
        mut req: FetchRequest,
    ) -> Result<(FetchRequest, SessionUse), ResponseError> {
        let mut sessions = self.sessions.lock();
        let now = Instant::now();
        if req.session_epoch == FINAL_EPOCH || req.session_epoch == 0 {
            // A full fetch; it closes the session it names, if any.
            if req.session_id != 0 {
                sessions.remove(&req.session_id);
            }
            if req.session_epoch == FINAL_EPOCH {
                return Ok((req, SessionUse::Sessionless));
            }
            if sessions.len() >= MAX_SESSIONS {
                let oldest = sessions
                    .iter()
                    .min_by_key(|(_, s)| s.last_used)
                    .map(|(id, _)| *id);
                if let Some(oldest) = oldest {
                    sessions.remove(&oldest);
                }
            }
            let id = {
                let mut next = self.next_id.lock();
                *next = next.wrapping_add(1).max(1);
                *next
            };
            let mut session = Session {
                next_epoch: 1,
                partitions: Vec::new(),
                sent: HashMap::new(),
                last_used: now,
            };
            update(&mut session, &req);
            sessions.insert(id, session);
            return Ok((req, SessionUse::Full { id }));
        }
        let session = sessions
            .get_mut(&req.session_id)
            .ok_or(ResponseError::FetchSessionIdNotFound)?;
        if req.session_epoch != session.next_epoch {
            return Err(ResponseError::InvalidFetchSessionEpoch);
        }
        session.next_epoch = session.next_epoch.wrapping_add(1).max(1);
        session.last_used = now;
        update(session, &req);
        req.topics = as_topics(&session.partitions);
        req.forgotten_topics_data.clear();
        let id = req.session_id;
        Ok((req, SessionUse::Incremental { id }))
    }

    /// Records what the response tells the client and, for an incremental fetch, drops the
    /// partitions with nothing new.
    pub fn filter_response(&self, usage: &SessionUse, response: &mut FetchResponse) {
        let (SessionUse::Full { id } | SessionUse::Incremental { id }) = *usage else {
            return;
        };
        let incremental = matches!(usage, SessionUse::Incremental { .. });
        let mut sessions = self.sessions.lock();
        let Some(session) = sessions.get_mut(&id) else {
            return;
        };
        for topic in &mut response.responses {
            let name = topic.topic.clone();
            let topic_id = topic.topic_id;
            topic.partitions.retain(|p| {
                let key = (name.clone(), topic_id, p.partition_index);
                let now = sent(p);
                let changed = session.sent.get(&key) != Some(&now);
                session.sent.insert(key, now);
                let has_records = p.records.as_ref().is_some_and(|r| !r.is_empty());
                !incremental || changed || has_records || p.error_code != 0
            });
        }
        response.responses.retain(|t| !t.partitions.is_empty());
        response.session_id = id;
    }
}

fn sent(p: &PartitionData) -> Sent {
    Sent {
        high_watermark: p.high_watermark,
        last_stable_offset: p.last_stable_offset,
        log_start_offset: p.log_start_offset,
    }
}

/// Adds or updates the request's partitions and removes the forgotten ones.
fn update(session: &mut Session, req: &FetchRequest) {
    for topic in &req.topics {
        for partition in &topic.partitions {
            let key = (topic.topic.clone(), topic.topic_id, partition.partition);
            match session.partitions.iter_mut().find(|(k, _)| *k == key) {
                Some((_, existing)) => *existing = partition.clone(),
                None => session.partitions.push((key, partition.clone())),
            }
        }
    }
    for forgotten in &req.forgotten_topics_data {
        session.partitions.retain(|((name, id, index), _)| {
            !(*name == forgotten.topic
                && *id == forgotten.topic_id
                && forgotten.partitions.contains(index))
        });
        session.sent.retain(|(name, id, index), _| {
            !(*name == forgotten.topic
                && *id == forgotten.topic_id
                && forgotten.partitions.contains(index))
        });
    }
}

/// The session's partitions as a request's topic list, grouped by topic in first-seen order.
fn as_topics(partitions: &[(Key, FetchPartition)]) -> Vec<FetchTopic> {
    let mut topics: Vec<FetchTopic> = Vec::new();
    for ((name, id, _), partition) in partitions {
        match topics
            .iter_mut()
            .find(|t| t.topic == *name && t.topic_id == *id)
        {
            Some(topic) => topic.partitions.push(partition.clone()),
            None => topics.push(
                FetchTopic::default()
                    .with_topic(name.clone())
                    .with_topic_id(*id)
                    .with_partitions(vec![partition.clone()]),
            ),
        }
    }
    topics
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::fetch_request::ForgottenTopic;
    use kafka_protocol::messages::fetch_response::FetchableTopicResponse;
    use kafka_protocol::protocol::StrBytes;

    fn name(s: &'static str) -> TopicName {
        TopicName(StrBytes::from_static_str(s))
    }

    fn request(id: i32, epoch: i32, partitions: &[(i32, i64)]) -> FetchRequest {
        FetchRequest::default()
            .with_session_id(id)
            .with_session_epoch(epoch)
            .with_topics(vec![FetchTopic::default()
                .with_topic(name("t"))
                .with_partitions(
                    partitions
                        .iter()
                        .map(|&(p, offset)| {
                            FetchPartition::default()
                                .with_partition(p)
                                .with_fetch_offset(offset)
                        })
                        .collect(),
                )])
    }

    fn response(partitions: &[(i32, i64, usize)]) -> FetchResponse {
        FetchResponse::default().with_responses(vec![FetchableTopicResponse::default()
            .with_topic(name("t"))
            .with_partitions(
                partitions
                    .iter()
                    .map(|&(p, hw, records)| {
                        PartitionData::default()
                            .with_partition_index(p)
                            .with_high_watermark(hw)
                            .with_records(Some(bytes::Bytes::from(vec![0u8; records])))
                    })
                    .collect(),
            )])
    }

    fn answered(r: &FetchResponse) -> Vec<i32> {
        r.responses
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| p.partition_index))
            .collect()
    }

    #[test]
    fn sessionless_fetches_stay_sessionless() {
        let sessions = FetchSessions::default();
        let (_, usage) = sessions.resolve(request(0, -1, &[(0, 0)])).unwrap();
        assert_eq!(usage, SessionUse::Sessionless);
        let mut r = response(&[(0, 5, 0)]);
        sessions.filter_response(&usage, &mut r);
        assert_eq!(r.session_id, 0);
        assert_eq!(answered(&r), vec![0]);
    }

    #[test]
    fn an_incremental_fetch_answers_only_what_changed() {
        let sessions = FetchSessions::default();
        let (_, usage) = sessions.resolve(request(0, 0, &[(0, 0), (1, 0)])).unwrap();
        let SessionUse::Full { id } = usage else {
            panic!("{usage:?}")
        };
        let mut r = response(&[(0, 5, 10), (1, 0, 0)]);
        sessions.filter_response(&usage, &mut r);
        assert_eq!(r.session_id, id);
        assert_eq!(
            answered(&r),
            vec![0, 1],
            "a new session's first answer is full"
        );

        // The client moved partition 0 forward and sends only that.
        let (served, usage) = sessions.resolve(request(id, 1, &[(0, 5)])).unwrap();
        assert_eq!(usage, SessionUse::Incremental { id });
        let offsets: Vec<_> = served.topics[0]
            .partitions
            .iter()
            .map(|p| (p.partition, p.fetch_offset))
            .collect();
        assert_eq!(offsets, vec![(0, 5), (1, 0)], "the whole session is served");
        let mut r = response(&[(0, 5, 0), (1, 3, 7)]);
        sessions.filter_response(&usage, &mut r);
        assert_eq!(answered(&r), vec![1], "partition 0 has nothing new");

        assert_eq!(
            sessions.resolve(request(id, 1, &[])).unwrap_err(),
            ResponseError::InvalidFetchSessionEpoch
        );
        assert_eq!(
            sessions.resolve(request(id + 100, 1, &[])).unwrap_err(),
            ResponseError::FetchSessionIdNotFound
        );
    }

    #[test]
    fn forgotten_partitions_leave_the_session() {
        let sessions = FetchSessions::default();
        let (_, usage) = sessions.resolve(request(0, 0, &[(0, 0), (1, 0)])).unwrap();
        let SessionUse::Full { id } = usage else {
            panic!()
        };
        let mut req = request(id, 1, &[]);
        req.forgotten_topics_data = vec![ForgottenTopic::default()
            .with_topic(name("t"))
            .with_partitions(vec![1])];
        let (served, _) = sessions.resolve(req).unwrap();
        assert_eq!(served.topics[0].partitions.len(), 1);
        // A full fetch naming the session closes it.
        sessions.resolve(request(id, -1, &[(0, 0)])).unwrap();
        assert_eq!(
            sessions.resolve(request(id, 2, &[])).unwrap_err(),
            ResponseError::FetchSessionIdNotFound
        );
    }
}
