//! One share-partition (KIP-932): what a share group has consumed of one topic partition. Records
//! below the share-partition start offset (SPSO) are done; from there to the end offset (SPEO)
//! each record is in flight: available, acquired by one member under an acquisition lock, or
//! acknowledged/archived (done, kept until the start offset passes it). A record released or whose
//! lock expires becomes available again, unless its delivery count reached the limit: then it is
//! archived. Time is passed in, so the machine is tested without clocks.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kafka_protocol::error::ResponseError;

/// AcknowledgeType values of ShareFetch/ShareAcknowledge (`acknowledge_types`).
pub const GAP: i8 = 0;
pub const ACCEPT: i8 = 1;
pub const RELEASE: i8 = 2;
pub const REJECT: i8 = 3;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordState {
    Available,
    Acquired {
        member_id: String,
        deadline: Instant,
    },
    Acknowledged,
    Archived,
}

#[derive(Debug, Clone)]
struct InFlight {
    state: RecordState,
    delivery_count: i16,
}

/// Limits that apply to every share-partition of a group.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `group.share.record.lock.duration.ms` (or the group's `share.record.lock.duration.ms`).
    pub lock_duration: Duration,
    /// `group.share.delivery.count.limit`
    pub delivery_count_limit: i16,
    /// `group.share.partition.max.record.locks`: records in flight at most.
    pub max_record_locks: usize,
}

/// Records handed to a member by one acquisition: offset ranges with their delivery count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acquired {
    pub first_offset: i64,
    pub last_offset: i64,
    pub delivery_count: i16,
}

#[derive(Debug, Clone, Default)]
pub struct SharePartition {
    start_offset: i64,
    end_offset: i64,
    in_flight: BTreeMap<i64, InFlight>,
}

impl SharePartition {
    /// A share-partition starting at `start_offset` (set by `share.auto.offset.reset` at the
    /// group's first fetch, or by AlterShareGroupOffsets).
    pub fn new(start_offset: i64) -> Self {
        SharePartition {
            start_offset,
            end_offset: start_offset,
            in_flight: BTreeMap::new(),
        }
    }

    pub fn start_offset(&self) -> i64 {
        self.start_offset
    }

    /// The share-partition end offset: where new records are acquired from.
    pub fn end_offset(&self) -> i64 {
        self.end_offset
    }

    /// Records acquired by some member now.
    pub fn acquired_count(&self) -> usize {
        let acquired = |r: &&InFlight| matches!(r.state, RecordState::Acquired { .. });
        self.in_flight.values().filter(acquired).count()
    }

    /// Records in flight (from the start offset to the end offset, not yet done).
    pub fn in_flight_count(&self) -> usize {
        let pending = |r: &&InFlight| {
            matches!(
                r.state,
                RecordState::Available | RecordState::Acquired { .. }
            )
        };
        self.in_flight.values().filter(pending).count()
    }

    pub fn state_of(&self, offset: i64) -> Option<(&RecordState, i16)> {
        self.in_flight
            .get(&offset)
            .map(|r| (&r.state, r.delivery_count))
    }

    /// The earliest acquisition lock to expire.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.in_flight
            .values()
            .filter_map(|r| match &r.state {
                RecordState::Acquired { deadline, .. } => Some(*deadline),
                _ => None,
            })
            .min()
    }

    /// Moves the start offset to `offset` (the log start moved past it, or an admin reset),
    /// dropping what lies below.
    pub fn move_start(&mut self, offset: i64) {
        if offset > self.start_offset {
            self.in_flight = self.in_flight.split_off(&offset);
            self.start_offset = offset;
            self.end_offset = self.end_offset.max(offset);
        }
    }

    /// Whether there is anything a fetch could acquire below `high_watermark`.
    pub fn has_available(&self, high_watermark: i64) -> bool {
        self.end_offset < high_watermark
            || self
                .in_flight
                .values()
                .any(|r| r.state == RecordState::Available)
    }

    /// Acquires for `member_id` up to `max_records` records: available ones in flight first, then
    /// new ones from the end offset. `records` lists the log's record offsets from the end offset
    /// (from its batches, without control batches) up to the high watermark; `high_watermark`
    /// becomes the end offset once they are all taken.
    pub fn acquire(
        &mut self,
        member_id: &str,
        max_records: usize,
        new_records: &[(i64, i64)],
        high_watermark: i64,
        now: Instant,
        limits: &Limits,
    ) -> Vec<Acquired> {
        self.expire(now, limits);
        let deadline = now + limits.lock_duration;
        let acquired_state = || RecordState::Acquired {
            member_id: member_id.to_string(),
            deadline,
        };
        let mut taken: Vec<(i64, i16)> = Vec::new();
        for (&offset, record) in self.in_flight.iter_mut() {
            if taken.len() >= max_records {
                break;
            }
            if record.state == RecordState::Available {
                record.state = acquired_state();
                record.delivery_count += 1;
                taken.push((offset, record.delivery_count));
            }
        }
        'batches: for &(first, last) in new_records {
            for offset in first.max(self.end_offset)..=last {
                if taken.len() >= max_records || self.in_flight.len() >= limits.max_record_locks {
                    break 'batches;
                }
                self.in_flight.insert(
                    offset,
                    InFlight {
                        state: acquired_state(),
                        delivery_count: 1,
                    },
                );
                taken.push((offset, 1));
                self.end_offset = offset + 1;
            }
        }
        // Offsets without a record (control batches, compacted away) are never delivered.
        let all_taken = new_records
            .last()
            .is_none_or(|&(_, last)| self.end_offset > last);
        if all_taken && self.end_offset < high_watermark {
            self.end_offset = high_watermark;
        }
        self.advance_start();
        ranges(taken)
    }

    /// Applies one acknowledgement batch of `member_id`: `types` holds one type for the whole
    /// range or one per offset. Every offset must be acquired by the member.
    pub fn acknowledge(
        &mut self,
        member_id: &str,
        first_offset: i64,
        last_offset: i64,
        types: &[i8],
        now: Instant,
        limits: &Limits,
    ) -> Result<(), ResponseError> {
        self.expire(now, limits);
        let count = last_offset - first_offset + 1;
        if last_offset < first_offset
            || types.is_empty()
            || (types.len() != 1 && types.len() as i64 != count)
            || types.iter().any(|t| !(GAP..=REJECT).contains(t))
        {
            return Err(ResponseError::InvalidRequest);
        }
        for offset in first_offset..=last_offset {
            let owned = self.in_flight.get(&offset).is_some_and(|r| {
                matches!(&r.state, RecordState::Acquired { member_id: m, .. } if m == member_id)
            });
            if !owned {
                return Err(ResponseError::InvalidRecordState);
            }
        }
        for (i, offset) in (first_offset..=last_offset).enumerate() {
            let kind = if types.len() == 1 { types[0] } else { types[i] };
            let record = self.in_flight.get_mut(&offset).expect("checked above");
            record.state = match kind {
                ACCEPT => RecordState::Acknowledged,
                RELEASE if record.delivery_count >= limits.delivery_count_limit => {
                    RecordState::Archived
                }
                RELEASE => RecordState::Available,
                _ => RecordState::Archived,
            };
        }
        self.advance_start();
        Ok(())
    }

    /// Releases every record `member_id` holds (its share session closed or it left the group).
    /// As in Kafka, that delivery does not count: the delivery count goes back down.
    pub fn release_member(&mut self, member_id: &str) -> bool {
        let mut released = false;
        for record in self.in_flight.values_mut() {
            if matches!(&record.state, RecordState::Acquired { member_id: m, .. } if m == member_id)
            {
                record.state = RecordState::Available;
                record.delivery_count = (record.delivery_count - 1).max(0);
                released = true;
            }
        }
        self.advance_start();
        released
    }

    /// Acquisition locks that ran out: their records are released. Whether any did.
    pub fn expire(&mut self, now: Instant, limits: &Limits) -> bool {
        let mut expired = false;
        for record in self.in_flight.values_mut() {
            if matches!(record.state, RecordState::Acquired { deadline, .. } if deadline <= now) {
                record.state = after_release(record.delivery_count, limits);
                expired = true;
            }
        }
        self.advance_start();
        expired
    }

    fn advance_start(&mut self) {
        while let Some(entry) = self.in_flight.first_entry() {
            let done = matches!(
                entry.get().state,
                RecordState::Acknowledged | RecordState::Archived
            );
            if !done {
                break;
            }
            entry.remove();
        }
        self.start_offset = match self.in_flight.keys().next() {
            Some(&first) => first,
            None => self.end_offset,
        };
    }
}

fn after_release(delivery_count: i16, limits: &Limits) -> RecordState {
    if delivery_count >= limits.delivery_count_limit {
        RecordState::Archived
    } else {
        RecordState::Available
    }
}

/// Contiguous offsets of one delivery count as ranges, as ShareFetch reports acquired records.
fn ranges(mut taken: Vec<(i64, i16)>) -> Vec<Acquired> {
    taken.sort_unstable();
    let mut out: Vec<Acquired> = Vec::new();
    for (offset, count) in taken {
        match out.last_mut() {
            Some(last) if last.last_offset + 1 == offset && last.delivery_count == count => {
                last.last_offset = offset;
            }
            _ => out.push(Acquired {
                first_offset: offset,
                last_offset: offset,
                delivery_count: count,
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        lock_duration: Duration::from_secs(30),
        delivery_count_limit: 3,
        max_record_locks: 200,
    };

    fn acquired(first: i64, last: i64, count: i16) -> Acquired {
        Acquired {
            first_offset: first,
            last_offset: last,
            delivery_count: count,
        }
    }

    #[test]
    fn new_records_are_acquired_once_and_accepting_them_moves_the_start_offset() {
        let now = Instant::now();
        let mut sp = SharePartition::new(0);
        let got = sp.acquire("a", 100, &[(0, 4)], 5, now, &LIMITS);
        assert_eq!(got, vec![acquired(0, 4, 1)]);
        assert!(sp.acquire("b", 100, &[], 5, now, &LIMITS).is_empty());
        assert_eq!(sp.in_flight_count(), 5);
        sp.acknowledge("a", 0, 4, &[ACCEPT], now, &LIMITS).unwrap();
        assert_eq!((sp.start_offset(), sp.in_flight_count()), (5, 0));
    }

    #[test]
    fn a_released_record_comes_back_with_its_delivery_count_raised() {
        let now = Instant::now();
        let mut sp = SharePartition::new(0);
        sp.acquire("a", 100, &[(0, 2)], 3, now, &LIMITS);
        sp.acknowledge("a", 0, 2, &[ACCEPT, RELEASE, REJECT], now, &LIMITS)
            .unwrap();
        assert_eq!(sp.start_offset(), 1);
        let got = sp.acquire("b", 100, &[], 3, now, &LIMITS);
        assert_eq!(got, vec![acquired(1, 1, 2)]);
        assert_eq!(sp.state_of(2).map(|s| s.0), Some(&RecordState::Archived));
    }

    #[test]
    fn only_the_member_holding_a_record_acknowledges_it() {
        let now = Instant::now();
        let mut sp = SharePartition::new(0);
        sp.acquire("a", 100, &[(0, 0)], 1, now, &LIMITS);
        let err = sp.acknowledge("b", 0, 0, &[ACCEPT], now, &LIMITS);
        assert_eq!(err, Err(ResponseError::InvalidRecordState));
        let bad = sp.acknowledge("a", 0, 0, &[9], now, &LIMITS);
        assert_eq!(bad, Err(ResponseError::InvalidRequest));
    }

    #[test]
    fn an_expired_lock_releases_and_the_delivery_count_limit_archives() {
        let now = Instant::now();
        let later = |n: u32| now + LIMITS.lock_duration * n + Duration::from_millis(1);
        let mut sp = SharePartition::new(0);
        assert_eq!(sp.acquire("a", 100, &[(0, 0)], 1, now, &LIMITS).len(), 1);
        assert_eq!(sp.next_deadline(), Some(now + LIMITS.lock_duration));
        let again = sp.acquire("a", 100, &[], 1, later(1), &LIMITS);
        assert_eq!(again, vec![acquired(0, 0, 2)]);
        let third = sp.acquire("a", 100, &[], 1, later(2) + LIMITS.lock_duration, &LIMITS);
        assert_eq!(third, vec![acquired(0, 0, 3)]);
        assert!(sp.expire(later(5), &LIMITS));
        assert_eq!((sp.start_offset(), sp.in_flight_count()), (1, 0));
    }

    #[test]
    fn offsets_without_records_are_skipped_and_locks_are_limited() {
        let now = Instant::now();
        let limits = Limits {
            max_record_locks: 2,
            ..LIMITS
        };
        let mut sp = SharePartition::new(0);
        // Offset 2 is a transaction marker.
        let got = sp.acquire("a", 100, &[(0, 1), (3, 4)], 5, now, &limits);
        assert_eq!(got, vec![acquired(0, 1, 1)]);
        sp.acknowledge("a", 0, 1, &[ACCEPT], now, &limits).unwrap();
        let got = sp.acquire("a", 100, &[(3, 4)], 5, now, &limits);
        assert_eq!(got, vec![acquired(3, 4, 1)]);
        assert!(sp.release_member("a"));
        assert!(sp.has_available(5));
        assert_eq!((sp.start_offset(), sp.in_flight_count()), (3, 2));
        let again = sp.acquire("b", 100, &[], 5, now, &limits);
        assert_eq!(
            again,
            vec![acquired(3, 4, 1)],
            "a release by leaving is no delivery"
        );
    }
}
