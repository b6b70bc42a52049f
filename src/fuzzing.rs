//! Entry points for the fuzz targets in `fuzz/` and for the replay of their corpus in `cargo test`.
//! Each takes arbitrary bytes and must return without panicking, aborting or hanging, whatever
//! they hold: that is the whole property being fuzzed.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::records::RecordBatchDecoder;
use tokio::sync::watch;

use crate::handlers::{self, supported_versions, RequestContext, ANONYMOUS};
use crate::protocol::{decode_request, encode_response};
use crate::state::log::batch::{check_records, decompress_records, read_records, split_batches};
use crate::state::{BrokerConfig, BrokerNode, Cluster};

/// One request frame (header and body, no length prefix), decoded as the broker decodes it.
pub fn frame(data: &[u8]) {
    let _ = decode_request(Bytes::copy_from_slice(data), supported_versions);
}

/// A connection's worth of traffic: length-prefixed frames, as a client writes them, each
/// decoded and served by a fresh one-broker cluster in turn (so a CreateTopics can make the
/// topic a later Produce writes to), and each response encoded at the request's version.
/// Time is paused: long polls and rebalance waits elapse at once instead of stalling the run.
pub fn session(data: &[u8]) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime");
    let cluster = Arc::new(Cluster::new("fuzz".into(), BrokerConfig::default()));
    cluster.add_broker(BrokerNode {
        node_id: 0,
        host: "127.0.0.1".into(),
        port: 9092,
    });
    let (_shutdown_tx, shutdown) = watch::channel(false);
    let mut rest = data;
    while rest.len() >= 4 {
        let len = i32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
        let Ok(len) = usize::try_from(len) else {
            return;
        };
        let Some(frame) = rest.get(4..4 + len) else {
            return;
        };
        rest = &rest[4 + len..];
        let Ok(request) = decode_request(Bytes::copy_from_slice(frame), supported_versions) else {
            continue;
        };
        let (api_key, version) = (request.api_key, request.header.request_api_version);
        let correlation_id = request.header.correlation_id;
        let ctx = RequestContext {
            cluster: cluster.clone(),
            broker_id: 0,
            header: request.header,
            client_host: "/127.0.0.1".into(),
            principal: ANONYMOUS.into(),
            token_authenticated: false,
            listener: "PLAINTEXT".into(),
            connection_id: 0,
            shutdown: shutdown.clone(),
        };
        let served = runtime.block_on(async {
            // A request that never answers would hang the fuzzer: bound it in (paused) time.
            tokio::time::timeout(
                Duration::from_secs(3600),
                handlers::handle(&ctx, request.body),
            )
            .await
        });
        if let Ok(Some(response)) = served {
            // A response that cannot be encoded at the request's version is a broker bug.
            if let Err(e) = encode_response(api_key, version, correlation_id, &response) {
                panic!("{api_key:?} v{version} response does not encode: {e}");
            }
        }
    }
}

/// A produce request's records field: split into batches, each header checked, the records
/// decompressed (any of the four codecs) and walked as the broker does on produce and on
/// `kafka.messages()`.
pub fn records(data: &[u8]) {
    let records = Bytes::copy_from_slice(data);
    let Ok(batches) = split_batches(&records) else {
        return;
    };
    for (header, batch) in batches {
        if check_records(&batch, &header).is_err() {
            continue;
        }
        if let Ok(section) = decompress_records(&batch, &header) {
            let _ = read_records(&section, &header);
        }
        let _ = RecordBatchDecoder::decode(&mut batch.clone());
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// Replays the fuzz corpus (`fuzz/corpus/<target>/`): every input found by fuzzing that was
    /// worth keeping, and the seeds captured from real clients, through the same entry points.
    #[test]
    fn the_fuzz_corpus_replays_without_a_panic() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
        type Target = (&'static str, fn(&[u8]));
        let targets: [Target; 3] = [
            ("frame", super::frame),
            ("session", super::session),
            ("records", super::records),
        ];
        let mut replayed = 0;
        for (target, run) in targets {
            let Ok(entries) = std::fs::read_dir(root.join(target)) else {
                continue;
            };
            for entry in entries {
                let path = entry.unwrap().path();
                run(&std::fs::read(&path).unwrap());
                replayed += 1;
            }
        }
        assert!(replayed > 0, "no corpus under {}", root.display());
    }
}
