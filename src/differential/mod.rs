//! The differential response checker: the same requests sent to the emulator and to Apache
//! Kafka, both responses decoded with kafka-protocol and compared field by field.
//!
//! Run it against a fresh reference broker (CI does, before `test:external`):
//!
//! ```text
//! KAFKA_BROKERS=127.0.0.1:PORT npm run differential
//! ```
//!
//! Every API the emulator serves is sent at every version both brokers advertise, as the
//! request `handlers::tests::sample_request` builds from kafka-protocol's message types, in one
//! sequence, each on a fresh connection to each broker. Volatile fields (ids, times, ports,
//! throttling) are masked by rule (`tree::MASK_RULES`), lists compared as multisets. A
//! difference must be listed in docs/compatibility.md (between `<!-- differential-known -->`
//! markers) with why, or the run fails; a listed difference no longer seen is reported too.
//! Without `KAFKA_BROKERS` the run is skipped.

pub mod tree;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use crate::handlers::tests::sample_request;
use crate::handlers::SUPPORTED_APIS;
use tree::{canonical, differences, parse, Difference, Node};

/// What one broker answered to one request.
#[derive(Debug)]
enum Answer {
    Response(Node),
    /// The broker closed the connection (Kafka does so for requests it cannot serve).
    Closed,
    /// The response did not decode at the request's version.
    Undecodable(String),
}

fn render_answer(answer: &Answer) -> String {
    match answer {
        Answer::Response(node) => tree::render(node),
        Answer::Closed => "(connection closed)".into(),
        Answer::Undecodable(e) => format!("(undecodable: {e})"),
    }
}

/// Sends one request on a fresh connection and reads its answer.
fn exchange(addr: &str, api_key: ApiKey, version: i16, body: &RequestKind) -> Answer {
    let header = RequestHeader::default()
        .with_request_api_key(api_key as i16)
        .with_request_api_version(version)
        .with_correlation_id(1)
        .with_client_id(Some(StrBytes::from_static_str("differential")));
    let mut frame = BytesMut::new();
    frame.put_i32(0);
    header
        .encode(&mut frame, api_key.request_header_version(version))
        .expect("request header encodes");
    body.encode(&mut frame, version)
        .unwrap_or_else(|e| panic!("{api_key:?} v{version} sample does not encode: {e}"));
    let len = (frame.len() - 4) as i32;
    frame[0..4].copy_from_slice(&len.to_be_bytes());
    exchange_frame(addr, api_key, version, &frame)
}

/// Sends one length-prefixed request frame on a fresh connection and reads its answer.
fn exchange_frame(addr: &str, api_key: ApiKey, version: i16, frame: &[u8]) -> Answer {
    let mut stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    read_answer(&mut stream, api_key, version, frame)
}

/// One connection of a replayed session; once closed by the broker, every later request of
/// the session is answered `Closed`.
struct Connection {
    stream: Option<TcpStream>,
}

impl Connection {
    fn open(addr: &str) -> Self {
        let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        stream
            .set_read_timeout(Some(Duration::from_secs(15)))
            .unwrap();
        Connection {
            stream: Some(stream),
        }
    }

    /// Sends a request frame (without its length prefix) and reads the answer.
    fn exchange(&mut self, api_key: ApiKey, version: i16, frame: &[u8]) -> Answer {
        let Some(stream) = self.stream.as_mut() else {
            return Answer::Closed;
        };
        let mut framed = (frame.len() as i32).to_be_bytes().to_vec();
        framed.extend_from_slice(frame);
        let answer = read_answer(stream, api_key, version, &framed);
        if matches!(answer, Answer::Closed) {
            self.stream = None;
        }
        answer
    }
}

/// The frames of a captured connection, each without its length prefix.
fn split_frames(mut session: &[u8]) -> Vec<&[u8]> {
    let mut frames = Vec::new();
    while session.len() >= 4 {
        let len =
            i32::from_be_bytes([session[0], session[1], session[2], session[3]]).max(0) as usize;
        let Some(frame) = session.get(4..4 + len) else {
            break;
        };
        frames.push(frame);
        session = &session[4 + len..];
    }
    frames
}

/// Writes a request frame (length prefix included) and reads and decodes its answer.
fn read_answer(stream: &mut TcpStream, api_key: ApiKey, version: i16, frame: &[u8]) -> Answer {
    if stream.write_all(frame).is_err() {
        return Answer::Closed;
    }

    let mut size = [0u8; 4];
    if stream.read_exact(&mut size).is_err() {
        return Answer::Closed;
    }
    let mut response = vec![0u8; i32::from_be_bytes(size).max(0) as usize];
    if stream.read_exact(&mut response).is_err() {
        return Answer::Closed;
    }
    let mut response = Bytes::from(response);
    // ApiVersions answers with header v0 whatever the request's version (KIP-511).
    let header_version = if api_key == ApiKey::ApiVersions {
        0
    } else {
        api_key.response_header_version(version)
    };
    if let Err(e) = ResponseHeader::decode(&mut response, header_version) {
        return Answer::Undecodable(e.to_string());
    }
    match ResponseKind::decode(api_key, &mut response, version) {
        Ok(kind) if !response.has_remaining() => Answer::Response(parse(&response_debug(&kind))),
        Ok(_) => Answer::Undecodable(format!("{} bytes left over", response.remaining())),
        Err(e) => Answer::Undecodable(e.to_string()),
    }
}

/// The `Debug` of the message inside a ResponseKind (without the enum's variant wrapper).
fn response_debug(kind: &ResponseKind) -> String {
    let debug = format!("{kind:?}");
    // `Variant(Message { .. })`: drop the variant and its parentheses.
    match debug.find('(') {
        Some(open) if debug.ends_with(')') => debug[open + 1..debug.len() - 1].to_string(),
        _ => debug,
    }
}

/// The version range of each API a broker advertises.
fn advertised(addr: &str) -> Vec<(i16, i16, i16)> {
    let Answer::Response(node) = exchange(
        addr,
        ApiKey::ApiVersions,
        3,
        &RequestKind::ApiVersions(
            ApiVersionsRequest::default()
                .with_client_software_name(StrBytes::from_static_str("differential"))
                .with_client_software_version(StrBytes::from_static_str("1")),
        ),
    ) else {
        panic!("no ApiVersions answer from {addr}");
    };
    let Node::Fields(fields) = node else {
        panic!("ApiVersions: {node:?}")
    };
    let Some((_, Node::List(keys))) = fields.iter().find(|(n, _)| n == "api_keys") else {
        panic!("ApiVersions without api_keys")
    };
    keys.iter()
        .filter_map(|k| {
            let Node::Fields(f) = k else { return None };
            let get = |name: &str| {
                f.iter()
                    .find(|(n, _)| n == name)
                    .and_then(|(_, v)| match v {
                        Node::Leaf(s) => s.parse::<i16>().ok(),
                        _ => None,
                    })
            };
            Some((get("api_key")?, get("min_version")?, get("max_version")?))
        })
        .collect()
}

fn topic(name: &'static str) -> TopicName {
    TopicName(StrBytes::from_static_str(name))
}

/// Both brokers start from the same state: no topics `t` and `new`, then `t` with two
/// partitions (the topic the sample requests name), served by Kafka before the run goes on,
/// and coordinators for the group `g` and the transactional id `tx` (a fresh Kafka creates
/// its internal topics on the first ask and answers NOT_COORDINATOR until they are loaded).
fn prepare(addr: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    // A group left by an earlier run (once its members' sessions are over).
    exchange(
        addr,
        ApiKey::DeleteGroups,
        2,
        &RequestKind::DeleteGroups(
            DeleteGroupsRequest::default()
                .with_groups_names(vec![GroupId(StrBytes::from_static_str("g"))]),
        ),
    );
    for (key, key_type) in [("g", 0), ("tx", 1)] {
        loop {
            let found = exchange(
                addr,
                ApiKey::FindCoordinator,
                3,
                &RequestKind::FindCoordinator(
                    FindCoordinatorRequest::default()
                        .with_key(StrBytes::from_static_str(key))
                        .with_key_type(key_type),
                ),
            );
            let rendered = render_answer(&found);
            if rendered.starts_with("{throttle_time_ms: 0, error_code: 0,") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "no coordinator for {key} on {addr}: {rendered}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    // The transaction coordinator answers once its log is loaded.
    loop {
        let init = exchange(
            addr,
            ApiKey::InitProducerId,
            4,
            &RequestKind::InitProducerId(
                InitProducerIdRequest::default()
                    .with_transactional_id(Some(TransactionalId(StrBytes::from_static_str(
                        "differential-warm-up",
                    ))))
                    .with_transaction_timeout_ms(10_000)
                    .with_producer_id(ProducerId(-1))
                    .with_producer_epoch(-1),
            ),
        );
        let rendered = render_answer(&init);
        if rendered.contains("error_code: 0,") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "InitProducerId on {addr}: {rendered}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    exchange(
        addr,
        ApiKey::DeleteTopics,
        4,
        &RequestKind::DeleteTopics(
            DeleteTopicsRequest::default()
                .with_topic_names(vec![topic("t"), topic("new")])
                .with_timeout_ms(10_000),
        ),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let created = exchange(
            addr,
            ApiKey::CreateTopics,
            5,
            &RequestKind::CreateTopics(
                CreateTopicsRequest::default()
                    .with_timeout_ms(10_000)
                    .with_topics(vec![create_topics_request::CreatableTopic::default()
                        .with_name(topic("t"))
                        .with_num_partitions(2)
                        .with_replication_factor(1)]),
            ),
        );
        // TOPIC_ALREADY_EXISTS right after a delete means Kafka is still deleting it.
        let rendered = render_answer(&created);
        if rendered.contains("error_code: 0") || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    wait_until_served(addr, "t");
}

/// Waits until `addr` answers ListOffsets for every partition of `topic` (at most 30 s): Kafka
/// hosts a new topic's partitions a moment after CreateTopics answers.
fn wait_until_served(addr: &str, topic: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let name = || TopicName(StrBytes::from_string(topic.to_string()));
    loop {
        let metadata = exchange(
            addr,
            ApiKey::Metadata,
            9,
            &RequestKind::Metadata(MetadataRequest::default().with_topics(Some(vec![
                metadata_request::MetadataRequestTopic::default().with_name(Some(name())),
            ]))),
        );
        let partitions = render_answer(&metadata)
            .matches("partition_index: ")
            .count() as i32;
        let offsets = exchange(
            addr,
            ApiKey::ListOffsets,
            5,
            &RequestKind::ListOffsets(
                ListOffsetsRequest::default()
                    .with_replica_id(BrokerId(-1))
                    .with_topics(vec![list_offsets_request::ListOffsetsTopic::default()
                        .with_name(name())
                        .with_partitions(
                            (0..partitions)
                                .map(|p| {
                                    list_offsets_request::ListOffsetsPartition::default()
                                        .with_partition_index(p)
                                        .with_timestamp(-1)
                                })
                                .collect(),
                        )]),
            ),
        );
        let rendered = render_answer(&offsets);
        if partitions > 0 && rendered.matches("error_code: 0").count() == partitions as usize {
            return;
        }
        if Instant::now() > deadline {
            eprintln!("differential: {topic} not served by {addr} after 30 s: {rendered}");
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A difference docs/compatibility.md explains: `- Api vN[-M] \`path\`: why`.
#[derive(Debug)]
struct KnownDifference {
    api: String,
    versions: (i16, i16),
    path: String,
    line: String,
}

fn known_differences() -> Vec<KnownDifference> {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/compatibility.md"
    ))
    .expect("docs/compatibility.md");
    let start = doc
        .find("<!-- differential-known -->")
        .expect("docs/compatibility.md lacks <!-- differential-known -->");
    let end = doc
        .find("<!-- /differential-known -->")
        .expect("closing marker");
    doc[start..end]
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("- ")?;
            let (api, rest) = rest.split_once(' ')?;
            let (versions, rest) = rest.split_once(' ')?;
            let versions = versions.strip_prefix('v')?;
            let versions = match versions.split_once('-') {
                Some((a, b)) => (a.parse().ok()?, b.parse().ok()?),
                None if versions == "*" => (i16::MIN, i16::MAX),
                None => (versions.parse().ok()?, versions.parse().ok()?),
            };
            let path = rest.strip_prefix('`')?.split('`').next()?.to_string();
            Some(KnownDifference {
                api: api.to_string(),
                versions,
                path,
                line: line.to_string(),
            })
        })
        .collect()
}

/// `pattern` with `*` matching any run of characters.
fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            text.starts_with(head)
                && (head.len()..=text.len())
                    .any(|i| text.is_char_boundary(i) && glob(tail, &text[i..]))
        }
    }
}

/// Whether an answer lists `name` (a topic) with error code 0.
fn succeeded_for(answer: &Answer, name: &str) -> bool {
    fn walk(node: &Node, quoted: &str) -> bool {
        match node {
            Node::Leaf(_) => false,
            Node::List(items) => items.iter().any(|n| walk(n, quoted)),
            Node::Fields(fields) => {
                let field = |f: &str| fields.iter().find(|(n, _)| n == f).map(|(_, v)| v);
                let named = matches!(field("name"), Some(Node::Leaf(n)) if n == quoted);
                let ok = matches!(field("error_code"), Some(Node::Leaf(c)) if c == "0");
                (named && ok) || fields.iter().any(|(_, v)| walk(v, quoted))
            }
        }
    }
    match answer {
        Answer::Response(node) => walk(node, &format!("{name:?}")),
        _ => false,
    }
}

fn compare(ours: &Answer, theirs: &Answer) -> Vec<Difference> {
    match (ours, theirs) {
        (Answer::Response(a), Answer::Response(b)) => differences(&canonical(a), &canonical(b)),
        (Answer::Closed, Answer::Closed) => Vec::new(),
        _ => vec![Difference {
            path: "(answer)".into(),
            emulator: render_answer(ours),
            kafka: render_answer(theirs),
        }],
    }
}

struct Compared {
    api: ApiKey,
    version: i16,
    differences: Vec<Difference>,
}

/// The settings scripts/apache-kafka.sh gives the reference broker, where they are not
/// Kafka's defaults.
fn reference_settings() -> crate::state::BrokerConfig {
    let mut config = crate::state::BrokerConfig::default();
    config.groups.min_session_timeout = Duration::from_millis(100);
    config.groups.consumer.heartbeat_interval = Duration::from_millis(200);
    config.groups.consumer.session_timeout = Duration::from_millis(3000);
    config
}

#[test]
fn differential_responses_match_apache_kafka() {
    let Ok(brokers) = std::env::var("KAFKA_BROKERS") else {
        eprintln!("differential: skipped (set KAFKA_BROKERS=host:port of Apache Kafka)");
        return;
    };
    let kafka = brokers.split(',').next().unwrap().to_string();
    let server = crate::server::Server::start(crate::server::ServerOptions {
        cluster_id: crate::state::random_cluster_id(),
        config: reference_settings(),
        listeners: vec![crate::server::ListenerSpec::plaintext(0, "127.0.0.1", 0)],
        request_log_capacity: 0,
        log_retention_check_interval: Duration::from_secs(300),
        tls: None,
        sasl: None,
        limits: Default::default(),
        logger: Default::default(),
    })
    .expect("emulator starts");
    let emulator = format!("127.0.0.1:{}", server.brokers()[0].endpoints[0].port);

    let kafka_versions = advertised(&kafka);
    prepare(&emulator);
    prepare(&kafka);

    let mut compared = Vec::new();
    let mut skipped = Vec::new();
    for &(api, min, max) in SUPPORTED_APIS {
        let Some(&(_, kmin, kmax)) = kafka_versions.iter().find(|(k, _, _)| *k == api as i16)
        else {
            skipped.push(format!("{api:?} (not advertised by Kafka)"));
            continue;
        };
        // The SASL APIs change a connection's state; a PLAINTEXT reference refuses them by
        // closing it, which says nothing about their answers.
        for version in min.max(kmin)..=max.min(kmax) {
            let body = sample_request(api, version);
            let ours = exchange(&emulator, api, version, &body);
            let theirs = exchange(&kafka, api, version, &body);
            compared.push(Compared {
                api,
                version,
                differences: compare(&ours, &theirs),
            });
        }
    }
    // Real client traffic: each connection kafkajs and @platformatic/kafka opened while
    // creating topics, producing with every codec, consuming in groups, committing, running a
    // transaction and using the admin APIs (fuzz/corpus/session, from scripts/fuzz-corpus.js),
    // replayed in order on one connection to each broker.
    let corpus = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/corpus/session");
    let mut files: Vec<_> = std::fs::read_dir(corpus)
        .expect("fuzz/corpus/session")
        .map(|e| e.unwrap().path())
        // Inputs the fuzzer found (`oom-...`, `crash-...`) are hostile, not client traffic.
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            !name.starts_with("oom-") && !name.starts_with("crash-")
        })
        .collect();
    files.sort();
    let mut replayed = 0;
    for file in files {
        let session = std::fs::read(&file).unwrap();
        let mut ours = Connection::open(&emulator);
        let mut theirs = Connection::open(&kafka);
        for frame in split_frames(&session) {
            let Ok(request) = crate::protocol::decode_request(Bytes::copy_from_slice(frame), |k| {
                crate::handlers::supported_versions(k)
            }) else {
                continue;
            };
            let (api, version) = (request.api_key, request.header.request_api_version);
            // Not sent: a long-poll waits out its max wait on both sides and says nothing
            // more, a produce with acks=0 has no answer, SASL was not enabled on the capture.
            let skip = match &request.body {
                RequestKind::Fetch(f) => f.max_wait_ms > 0,
                RequestKind::Produce(p) => p.acks == 0,
                RequestKind::SaslHandshake(_) | RequestKind::SaslAuthenticate(_) => true,
                _ => false,
            };
            let advertised = kafka_versions
                .iter()
                .any(|&(k, lo, hi)| k == api as i16 && (lo..=hi).contains(&version));
            if skip || !advertised {
                continue;
            }
            let a = ours.exchange(api, version, frame);
            let b = theirs.exchange(api, version, frame);
            replayed += 1;
            compared.push(Compared {
                api,
                version,
                differences: compare(&a, &b),
            });
            // Kafka hosts new partitions a moment after answering (see "New topics and
            // partitions"): the replay waits for them, as a client retries.
            let created: Vec<String> = match &request.body {
                RequestKind::CreateTopics(r) => {
                    r.topics.iter().map(|t| t.name.to_string()).collect()
                }
                RequestKind::CreatePartitions(r) => {
                    r.topics.iter().map(|t| t.name.to_string()).collect()
                }
                _ => Vec::new(),
            };
            for topic in created {
                if succeeded_for(&b, &topic) {
                    wait_until_served(&kafka, &topic);
                }
            }
        }
    }
    server.stop();
    println!(
        "differential: {replayed} requests replayed from real client traffic (fuzz/corpus/session)"
    );

    let known = known_differences();
    let mut used = vec![false; known.len()];
    let mut unexplained = Vec::new();
    let mut explained = 0;
    for c in &compared {
        for d in &c.differences {
            let name = format!("{:?}", c.api);
            match known.iter().position(|k| {
                k.api == name
                    && (k.versions.0..=k.versions.1).contains(&c.version)
                    && glob(&k.path, &d.path)
            }) {
                Some(i) => {
                    used[i] = true;
                    explained += 1;
                }
                None => unexplained.push(format!(
                    "{name} v{} {}: emulator {} / kafka {}",
                    c.version, d.path, d.emulator, d.kafka
                )),
            }
        }
    }
    let apis: std::collections::BTreeSet<_> = compared.iter().map(|c| c.api as i16).collect();
    let identical = compared.iter().filter(|c| c.differences.is_empty()).count();
    println!(
        "differential: {} API versions of {} APIs compared with Apache Kafka at {kafka}: {identical} identical, {} with differences ({explained} field differences explained in docs/compatibility.md, {} unexplained)",
        compared.len(),
        apis.len(),
        compared.len() - identical,
        unexplained.len()
    );
    for rule in tree::MASK_RULES {
        println!("differential: masked {}: {}", rule.name, rule.why);
    }
    for s in &skipped {
        println!("differential: not compared: {s}");
    }
    for (k, used) in known.iter().zip(&used) {
        if !used {
            println!(
                "differential: listed but not seen (fixed? remove it): {}",
                k.line
            );
        }
    }
    for u in &unexplained {
        println!("differential: UNEXPLAINED {u}");
    }
    assert!(
        unexplained.is_empty(),
        "{} differences from Apache Kafka are neither fixed nor listed in docs/compatibility.md",
        unexplained.len()
    );
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn globs_match_paths() {
        assert!(glob(
            "topics[].partitions[].*",
            "topics[].partitions[].error_code"
        ));
        assert!(glob("error_message", "error_message"));
        assert!(!glob("error_message", "error_code"));
        assert!(glob("*", "anything.at[].all"));
    }
}
