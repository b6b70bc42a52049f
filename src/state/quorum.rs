//! The KRaft metadata quorum as DescribeQuorum shows it. The emulator has no Raft log: every
//! broker stands for a combined broker+controller node, a voter of a static quorum
//! (`kraft.version` 0, as Kafka formats a cluster by default), and the active controller (the
//! lowest live broker, `Cluster::controller_id`) is its leader. The metadata log grows as
//! Kafka's idle one does, by a no-op record every `metadata.max.idle.interval.ms` (500 ms).

use std::collections::BTreeMap;

use parking_lot::Mutex;

/// `metadata.max.idle.interval.ms`: how often an idle controller appends a NoOpRecord.
const IDLE_INTERVAL_MS: i64 = 500;

#[derive(Debug)]
pub struct Quorum {
    started_ms: i64,
    state: Mutex<QuorumState>,
}

#[derive(Debug, Default)]
struct QuorumState {
    leader_id: i32,
    leader_epoch: i32,
    /// What each voter had fetched when it was last seen live.
    fetched: BTreeMap<i32, Fetched>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fetched {
    log_end_offset: i64,
    at_ms: i64,
}

/// A voter as DescribeQuorum reports it; -1 for what is not known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoterState {
    pub replica_id: i32,
    pub log_end_offset: i64,
    pub last_fetch_timestamp: i64,
    pub last_caught_up_timestamp: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumDescription {
    pub leader_id: i32,
    pub leader_epoch: i32,
    pub high_watermark: i64,
    pub voters: Vec<VoterState>,
}

impl Quorum {
    pub fn new(now_ms: i64) -> Self {
        Quorum {
            started_ms: now_ms,
            state: Mutex::new(QuorumState {
                leader_id: -1,
                ..Default::default()
            }),
        }
    }

    /// The quorum at `now_ms`, given each voter's id and whether it is up, and the active
    /// controller (-1 if none). A new leader is a new epoch; live voters are caught up, a
    /// stopped one stays where it was last seen.
    pub fn describe(
        &self,
        voters: &[(i32, bool)],
        leader_id: i32,
        now_ms: i64,
    ) -> QuorumDescription {
        let high_watermark = 1 + (now_ms - self.started_ms).max(0) / IDLE_INTERVAL_MS;
        let mut state = self.state.lock();
        if leader_id != -1 && leader_id != state.leader_id {
            state.leader_id = leader_id;
            state.leader_epoch += 1;
        }
        let voters = voters
            .iter()
            .map(|&(replica_id, alive)| {
                if alive {
                    state.fetched.insert(
                        replica_id,
                        Fetched {
                            log_end_offset: high_watermark,
                            at_ms: now_ms,
                        },
                    );
                }
                let fetched = state.fetched.get(&replica_id).copied();
                VoterState {
                    replica_id,
                    log_end_offset: fetched.map_or(-1, |f| f.log_end_offset),
                    last_fetch_timestamp: fetched.map_or(-1, |f| f.at_ms),
                    last_caught_up_timestamp: fetched.map_or(-1, |f| f.at_ms),
                }
            })
            .collect();
        QuorumDescription {
            leader_id: if leader_id == -1 { -1 } else { state.leader_id },
            leader_epoch: state.leader_epoch,
            high_watermark,
            voters,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_grows_by_a_no_op_record_every_half_second() {
        let quorum = Quorum::new(1_000);
        let first = quorum.describe(&[(0, true)], 0, 1_000);
        let later = quorum.describe(&[(0, true)], 0, 3_000);
        assert_eq!(first.high_watermark, 1);
        assert_eq!(later.high_watermark, 5);
        assert_eq!(later.voters[0].log_end_offset, 5);
        assert_eq!(later.voters[0].last_fetch_timestamp, 3_000);
    }

    #[test]
    fn a_new_controller_is_a_new_epoch_and_a_stopped_voter_stays_where_it_was() {
        let quorum = Quorum::new(0);
        let first = quorum.describe(&[(0, true), (1, true)], 0, 1_000);
        assert_eq!((first.leader_id, first.leader_epoch), (0, 1));
        let after = quorum.describe(&[(0, false), (1, true)], 1, 2_000);
        assert_eq!((after.leader_id, after.leader_epoch), (1, 2));
        assert_eq!(
            after.voters[0],
            VoterState {
                replica_id: 0,
                log_end_offset: 3,
                last_fetch_timestamp: 1_000,
                last_caught_up_timestamp: 1_000,
            }
        );
        assert_eq!(after.voters[1].log_end_offset, 5);
        // Never seen up: nothing known.
        let unseen = Quorum::new(0).describe(&[(2, false)], -1, 0);
        assert_eq!(unseen.voters[0].log_end_offset, -1);
        assert_eq!(unseen.leader_id, -1);
    }
}
