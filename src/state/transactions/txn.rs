//! The transaction coordinator: every transactional id's producer id, epoch and transaction
//! (Apache Kafka's TransactionCoordinator), behind one short-held mutex, and a timer task that
//! aborts transactions left open past their `transaction.timeout.ms`.
//!
//! States: Empty -> Ongoing (AddPartitionsToTxn / AddOffsetsToTxn) -> PrepareCommit or
//! PrepareAbort (EndTxn) -> CompleteCommit or CompleteAbort once the markers are written, then
//! Ongoing again with the next transaction. Kafka writes markers asynchronously after answering
//! EndTxn; here they are written before the answer, under the coordinator's lock, so the Prepare
//! states are never seen from outside and a transactional produce (which holds the same lock
//! while it appends) can never land after its transaction's marker.
//!
//! `TxnTable` is the state machine, with time passed in; `TxnCoordinator` adds the lock, the
//! markers (partition logs) and the transactional offsets (group coordinator).

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use kafka_protocol::error::ResponseError;
use parking_lot::{Mutex, MutexGuard};
use tokio::sync::{watch, Notify};

use super::producers::{ProducerIds, TxnMarker, NO_PRODUCER_EPOCH, NO_PRODUCER_ID};
use crate::state::groups::coordinator::{GroupCoordinator, TopicPartition};
use crate::state::topics::Topics;

/// The coordinator epoch markers carry: the leader epoch of the transaction log partition in
/// Kafka; coordinators never move here.
pub const COORDINATOR_EPOCH: i32 = 0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxnState {
    Empty,
    Ongoing,
    PrepareCommit,
    PrepareAbort,
    CompleteCommit,
    CompleteAbort,
    Dead,
    PrepareEpochFence,
}

impl TxnState {
    pub const ALL: [TxnState; 8] = [
        TxnState::Empty,
        TxnState::Ongoing,
        TxnState::PrepareCommit,
        TxnState::PrepareAbort,
        TxnState::CompleteCommit,
        TxnState::CompleteAbort,
        TxnState::Dead,
        TxnState::PrepareEpochFence,
    ];

    /// The name DescribeTransactions and ListTransactions use.
    pub fn name(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
            TxnState::Dead => "Dead",
            TxnState::PrepareEpochFence => "PrepareEpochFence",
        }
    }

    pub fn from_name(name: &str) -> Option<TxnState> {
        TxnState::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// Coordinator settings, named after their server.properties counterparts.
#[derive(Debug, Clone)]
pub struct TxnSettings {
    /// `transaction.max.timeout.ms`: the longest `transaction.timeout.ms` a producer may ask for.
    pub max_timeout_ms: i32,
}

impl Default for TxnSettings {
    fn default() -> Self {
        TxnSettings {
            max_timeout_ms: 900_000,
        }
    }
}

/// The clock as the coordinator reads it: an instant for deadlines, wall-clock milliseconds for
/// what it reports.
#[derive(Debug, Clone, Copy)]
pub struct Timestamp {
    pub instant: Instant,
    pub wall_ms: i64,
}

impl Timestamp {
    pub fn now() -> Timestamp {
        Timestamp {
            instant: Instant::now(),
            wall_ms: crate::state::now_ms(),
        }
    }
}

/// One transactional id's state.
#[derive(Debug, Clone)]
pub struct TransactionMetadata {
    pub transactional_id: String,
    pub producer_id: i64,
    /// The producer id before the last rotation (epoch exhaustion), for KIP-360 retries.
    pub last_producer_id: i64,
    pub producer_epoch: i16,
    /// The epoch before the last bump, so a retried InitProducerId gets the same answer.
    pub last_producer_epoch: i16,
    pub timeout_ms: i32,
    pub state: TxnState,
    /// Partitions written in the transaction in progress.
    pub partitions: BTreeSet<TopicPartition>,
    /// Groups whose offsets the transaction in progress commits (AddOffsetsToTxn).
    pub groups: BTreeSet<String>,
    /// When the transaction in progress began, wall clock; -1 before the first one.
    pub start_time_ms: i64,
    /// When the transaction in progress times out.
    deadline: Option<Instant>,
}

impl TransactionMetadata {
    fn new(transactional_id: &str, producer_id: i64, timeout_ms: i32) -> Self {
        TransactionMetadata {
            transactional_id: transactional_id.to_string(),
            producer_id,
            last_producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            last_producer_epoch: NO_PRODUCER_EPOCH,
            timeout_ms,
            state: TxnState::Empty,
            partitions: BTreeSet::new(),
            groups: BTreeSet::new(),
            start_time_ms: -1,
            deadline: None,
        }
    }

    /// Kafka keeps the last epoch free so a fence can always bump once more.
    fn epoch_exhausted(epoch: i16) -> bool {
        epoch >= i16::MAX - 1
    }

    fn check_producer(&self, producer_id: i64, producer_epoch: i16) -> Result<(), ResponseError> {
        if self.producer_id != producer_id {
            Err(ResponseError::InvalidProducerIdMapping)
        } else if self.producer_epoch != producer_epoch {
            Err(ResponseError::ProducerFenced)
        } else {
            Ok(())
        }
    }

    /// Ends the transaction in progress: the Prepare state and the markers to write.
    fn prepare_end(&mut self, commit: bool) -> Completion {
        self.state = if commit {
            TxnState::PrepareCommit
        } else {
            TxnState::PrepareAbort
        };
        self.deadline = None;
        Completion {
            transactional_id: self.transactional_id.clone(),
            marker: TxnMarker {
                producer_id: self.producer_id,
                producer_epoch: self.producer_epoch,
                coordinator_epoch: COORDINATOR_EPOCH,
                commit,
            },
            partitions: self.partitions.iter().cloned().collect(),
            groups: self.groups.iter().cloned().collect(),
        }
    }

    /// Bumps the epoch so the current producer is fenced, before aborting its transaction
    /// (a new producer with the same id, or the transaction timed out).
    fn fence(&mut self) {
        self.producer_epoch = self.producer_epoch.saturating_add(1);
        self.last_producer_epoch = NO_PRODUCER_EPOCH;
    }
}

/// A transaction being ended: the marker to write into each of its partitions and the groups
/// whose pending offsets it commits or drops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    pub transactional_id: String,
    pub marker: TxnMarker,
    pub partitions: Vec<TopicPartition>,
    pub groups: Vec<String>,
}

/// What InitProducerId decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitOutcome {
    Ready {
        producer_id: i64,
        producer_epoch: i16,
    },
    /// A transaction is in progress: it is aborted with a bumped epoch (fencing its producer) and
    /// the caller is told CONCURRENT_TRANSACTIONS, so it retries and gets the next epoch.
    FenceAndAbort(Completion),
}

/// A transaction as ListTransactions reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedTransaction {
    pub transactional_id: String,
    pub producer_id: i64,
    pub state: TxnState,
}

/// Every transactional id's metadata: the state machine, with no locks and no I/O.
#[derive(Debug, Default)]
pub struct TxnTable {
    txns: HashMap<String, TransactionMetadata>,
}

impl TxnTable {
    pub fn get(&self, transactional_id: &str) -> Option<&TransactionMetadata> {
        self.txns.get(transactional_id)
    }

    /// InitProducerId for a transactional id. `expected` is the producer id and epoch a v3+
    /// client sends when it re-initialises after an error (KIP-360).
    pub fn init_producer_id(
        &mut self,
        producer_ids: &ProducerIds,
        transactional_id: &str,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
        settings: &TxnSettings,
    ) -> Result<InitOutcome, ResponseError> {
        if transactional_id.is_empty() {
            return Err(ResponseError::InvalidRequest);
        }
        if timeout_ms <= 0 || timeout_ms > settings.max_timeout_ms {
            return Err(ResponseError::InvalidTransactionTimeout);
        }
        let txn = self
            .txns
            .entry(transactional_id.to_string())
            .or_insert_with(|| {
                TransactionMetadata::new(transactional_id, producer_ids.next(), timeout_ms)
            });
        if let Some((producer_id, epoch)) = expected {
            let valid = txn.producer_epoch == NO_PRODUCER_EPOCH
                || producer_id == txn.producer_id
                || (producer_id == txn.last_producer_id
                    && TransactionMetadata::epoch_exhausted(epoch));
            if !valid {
                return Err(ResponseError::ProducerFenced);
            }
        }
        match txn.state {
            TxnState::PrepareCommit | TxnState::PrepareAbort => {
                Err(ResponseError::ConcurrentTransactions)
            }
            TxnState::Ongoing => {
                txn.fence();
                Ok(InitOutcome::FenceAndAbort(txn.prepare_end(false)))
            }
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort => {
                if TransactionMetadata::epoch_exhausted(txn.producer_epoch)
                    && expected.is_none_or(|(_, e)| e == txn.producer_epoch)
                {
                    txn.last_producer_id = txn.producer_id;
                    txn.last_producer_epoch = if expected.is_some() {
                        txn.producer_epoch
                    } else {
                        NO_PRODUCER_EPOCH
                    };
                    txn.producer_id = producer_ids.next();
                    txn.producer_epoch = 0;
                } else {
                    let bumped = txn.producer_epoch + 1;
                    match expected {
                        None => {
                            txn.producer_epoch = bumped;
                            txn.last_producer_epoch = NO_PRODUCER_EPOCH;
                        }
                        Some((_, e))
                            if txn.producer_epoch == NO_PRODUCER_EPOCH
                                || e == txn.producer_epoch =>
                        {
                            txn.last_producer_epoch = txn.producer_epoch;
                            txn.producer_epoch = bumped;
                        }
                        // A retry of a bump whose answer was lost: the same epoch again.
                        Some((_, e)) if e == txn.last_producer_epoch => {}
                        Some(_) => return Err(ResponseError::ProducerFenced),
                    }
                }
                txn.timeout_ms = timeout_ms;
                txn.state = TxnState::Empty;
                txn.partitions.clear();
                txn.groups.clear();
                txn.start_time_ms = -1;
                txn.deadline = None;
                Ok(InitOutcome::Ready {
                    producer_id: txn.producer_id,
                    producer_epoch: txn.producer_epoch,
                })
            }
            TxnState::Dead | TxnState::PrepareEpochFence => {
                Err(ResponseError::ConcurrentTransactions)
            }
        }
    }

    /// AddPartitionsToTxn and AddOffsetsToTxn: the partitions and groups join the transaction,
    /// which begins (Ongoing, its timeout running) if none is in progress.
    pub fn add_to_transaction(
        &mut self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: &[TopicPartition],
        groups: &[String],
        now: Timestamp,
    ) -> Result<(), ResponseError> {
        if transactional_id.is_empty() {
            return Err(ResponseError::InvalidRequest);
        }
        let txn = self
            .txns
            .get_mut(transactional_id)
            .ok_or(ResponseError::InvalidProducerIdMapping)?;
        txn.check_producer(producer_id, producer_epoch)?;
        match txn.state {
            TxnState::PrepareCommit | TxnState::PrepareAbort => {
                return Err(ResponseError::ConcurrentTransactions)
            }
            TxnState::Dead | TxnState::PrepareEpochFence => {
                return Err(ResponseError::ConcurrentTransactions)
            }
            TxnState::Ongoing => {}
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort => {
                txn.state = TxnState::Ongoing;
                txn.partitions.clear();
                txn.groups.clear();
                txn.start_time_ms = now.wall_ms;
                txn.deadline =
                    Some(now.instant + Duration::from_millis(txn.timeout_ms.max(0) as u64));
            }
        }
        txn.partitions.extend(partitions.iter().cloned());
        txn.groups.extend(groups.iter().cloned());
        Ok(())
    }

    /// EndTxn from the producer: the transaction moves to PrepareCommit or PrepareAbort and the
    /// caller writes the markers, then calls `complete`. `None`: nothing to do (a retry of an
    /// EndTxn that already completed).
    pub fn end_txn(
        &mut self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
        bump: Option<&mut dyn FnMut() -> i64>,
    ) -> Result<Option<Completion>, ResponseError> {
        if transactional_id.is_empty() {
            return Err(ResponseError::InvalidRequest);
        }
        let txn = self
            .txns
            .get_mut(transactional_id)
            .ok_or(ResponseError::InvalidProducerIdMapping)?;
        let Some(new_producer_id) = bump else {
            txn.check_producer(producer_id, producer_epoch)?;
            return match (txn.state, commit) {
                (TxnState::Ongoing, _) => Ok(Some(txn.prepare_end(commit))),
                (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false) => Ok(None),
                (TxnState::PrepareCommit, true) | (TxnState::PrepareAbort, false) => {
                    Err(ResponseError::ConcurrentTransactions)
                }
                (TxnState::Dead | TxnState::PrepareEpochFence, _) => {
                    Err(ResponseError::ConcurrentTransactions)
                }
                _ => Err(ResponseError::InvalidTxnState),
            };
        };
        // Transactions v2 (EndTxn v5, KIP-890): every end bumps the epoch, so a retry of the
        // EndTxn that did it comes with the epoch before; the markers carry the new epoch.
        let completed = matches!(
            (txn.state, commit),
            (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false)
        );
        let retry = txn.producer_id == producer_id
            && txn.last_producer_epoch == producer_epoch
            && txn.producer_epoch != producer_epoch;
        if retry && completed {
            return Ok(None);
        }
        txn.check_producer(producer_id, producer_epoch)?;
        match (txn.state, commit) {
            (TxnState::Ongoing, _) => {}
            // An abort with nothing in progress (its writes never reached a partition) still
            // bumps the epoch and completes, with no markers to write.
            (TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort, false) => {
                txn.partitions.clear();
                txn.groups.clear();
            }
            (TxnState::PrepareCommit | TxnState::PrepareAbort, _)
            | (TxnState::Dead | TxnState::PrepareEpochFence, _) => {
                return Err(ResponseError::ConcurrentTransactions)
            }
            _ => return Err(ResponseError::InvalidTxnState),
        }
        txn.last_producer_epoch = txn.producer_epoch;
        if txn.producer_epoch >= i16::MAX - 1 {
            // The epoch is spent: a new producer id, from epoch 0, as Kafka rotates it.
            txn.producer_id = new_producer_id();
            txn.producer_epoch = 0;
        } else {
            txn.producer_epoch += 1;
        }
        Ok(Some(txn.prepare_end(commit)))
    }

    /// The markers of a prepared transaction are written: it is complete.
    pub fn complete(&mut self, transactional_id: &str) {
        if let Some(txn) = self.txns.get_mut(transactional_id) {
            txn.state = match txn.state {
                TxnState::PrepareCommit => TxnState::CompleteCommit,
                TxnState::PrepareAbort => TxnState::CompleteAbort,
                other => other,
            };
            txn.partitions.clear();
            txn.groups.clear();
        }
    }

    /// Whether a transactional produce (or TxnOffsetCommit) by this producer may write to
    /// `partition` (or commit offsets of `group`): the producer is current and the partition
    /// or group was added to its transaction in progress (Kafka 3.6+ verification, KIP-890).
    pub fn verify(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        member: Member<'_>,
    ) -> Result<(), ResponseError> {
        let txn = self
            .txns
            .get(transactional_id)
            .ok_or(ResponseError::InvalidProducerIdMapping)?;
        txn.check_producer(producer_id, producer_epoch)?;
        let added = match member {
            Member::Partition(tp) => txn.partitions.contains(tp),
            Member::Group(group) => txn.groups.contains(group),
        };
        match txn.state {
            TxnState::PrepareCommit | TxnState::PrepareAbort => {
                Err(ResponseError::ConcurrentTransactions)
            }
            TxnState::Ongoing if added => Ok(()),
            _ => Err(ResponseError::InvalidTxnState),
        }
    }

    /// The earliest transaction timeout still to fire.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.txns.values().filter_map(|t| t.deadline).min()
    }

    /// Transactions open past their timeout: each is fenced (its producer's epoch bumped, as
    /// Kafka does, so the abandoned producer cannot go on) and prepared for abort.
    pub fn expire(&mut self, now: Instant) -> Vec<Completion> {
        let mut expired = Vec::new();
        for txn in self.txns.values_mut() {
            if txn.state == TxnState::Ongoing && txn.deadline.is_some_and(|d| d <= now) {
                txn.fence();
                expired.push(txn.prepare_end(false));
            }
        }
        expired
    }

    /// ListTransactions: by state names (unknown names are reported back), producer ids and,
    /// from v1, a minimum running time (-1: any).
    pub fn list(
        &self,
        states: &[String],
        producer_ids: &[i64],
        min_duration_ms: i64,
        now_ms: i64,
    ) -> (Vec<ListedTransaction>, Vec<String>) {
        let unknown: Vec<String> = states
            .iter()
            .filter(|s| TxnState::from_name(s).is_none())
            .cloned()
            .collect();
        let wanted: Vec<TxnState> = states
            .iter()
            .filter_map(|s| TxnState::from_name(s))
            .collect();
        let mut listed: Vec<ListedTransaction> = self
            .txns
            .values()
            .filter(|t| t.state != TxnState::Dead)
            .filter(|t| states.is_empty() || wanted.contains(&t.state))
            .filter(|t| producer_ids.is_empty() || producer_ids.contains(&t.producer_id))
            .filter(|t| min_duration_ms < 0 || now_ms - t.start_time_ms > min_duration_ms)
            .map(|t| ListedTransaction {
                transactional_id: t.transactional_id.clone(),
                producer_id: t.producer_id,
                state: t.state,
            })
            .collect();
        listed.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
        (listed, unknown)
    }
}

/// What a transactional write is checked against: a partition, or a group's offsets.
#[derive(Debug, Clone, Copy)]
pub enum Member<'a> {
    Partition(&'a TopicPartition),
    Group(&'a str),
}

/// Holds the coordinator while a verified transactional write is appended, so the transaction
/// cannot end in between.
pub struct TxnGuard<'a> {
    _table: MutexGuard<'a, TxnTable>,
}

#[derive(Debug, Default)]
pub struct TxnCoordinator {
    table: Mutex<TxnTable>,
    producer_ids: ProducerIds,
    settings: TxnSettings,
    /// Wakes the timer task when a transaction begins (its deadline may be the earliest).
    deadlines_changed: Notify,
}

impl TxnCoordinator {
    pub fn new(settings: TxnSettings) -> Self {
        TxnCoordinator {
            settings,
            ..Default::default()
        }
    }

    /// Forgets every transactional id and its transaction (a test's reset). Producer ids keep
    /// counting up, so a producer from before is never mistaken for a new one.
    pub fn clear(&self) {
        *self.table.lock() = TxnTable::default();
        self.deadlines_changed.notify_one();
    }

    /// A producer id for an idempotent producer without a transactional id, epoch 0.
    pub fn new_producer_id(&self) -> i64 {
        self.producer_ids.next()
    }

    /// InitProducerId for a transactional id; a transaction in progress is aborted (its
    /// producer fenced) and CONCURRENT_TRANSACTIONS returned, as Kafka does.
    pub fn init_producer_id(
        &self,
        topics: &Topics,
        groups: &GroupCoordinator,
        transactional_id: &str,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
    ) -> Result<(i64, i16), ResponseError> {
        let mut table = self.table.lock();
        let outcome = table.init_producer_id(
            &self.producer_ids,
            transactional_id,
            timeout_ms,
            expected,
            &self.settings,
        )?;
        match outcome {
            InitOutcome::Ready {
                producer_id,
                producer_epoch,
            } => Ok((producer_id, producer_epoch)),
            InitOutcome::FenceAndAbort(completion) => {
                finish(&mut table, topics, groups, &completion);
                Err(ResponseError::ConcurrentTransactions)
            }
        }
    }

    pub fn add_to_transaction(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: &[TopicPartition],
        groups: &[String],
    ) -> Result<(), ResponseError> {
        let result = self.table.lock().add_to_transaction(
            transactional_id,
            producer_id,
            producer_epoch,
            partitions,
            groups,
            Timestamp::now(),
        );
        self.deadlines_changed.notify_one();
        result
    }

    /// EndTxn: writes the COMMIT or ABORT markers into every partition of the transaction and
    /// commits or drops its groups' pending offsets, then answers.
    pub fn end_txn(
        &self,
        topics: &Topics,
        groups: &GroupCoordinator,
        transactional_id: &str,
        (producer_id, producer_epoch): (i64, i16),
        commit: bool,
        bump_epoch: bool,
    ) -> Result<(i64, i16), ResponseError> {
        let mut table = self.table.lock();
        let mut new_producer_id = || self.producer_ids.next();
        let bump = bump_epoch.then_some(&mut new_producer_id as &mut dyn FnMut() -> i64);
        if let Some(completion) =
            table.end_txn(transactional_id, producer_id, producer_epoch, commit, bump)?
        {
            finish(&mut table, topics, groups, &completion);
        }
        // The producer id and epoch the producer goes on with (EndTxn v5 returns them).
        let txn = table.get(transactional_id);
        Ok(txn.map_or((producer_id, producer_epoch), |t| {
            (t.producer_id, t.producer_epoch)
        }))
    }

    /// Verifies a transactional write and keeps the coordinator locked until the returned
    /// guard is dropped (see `TxnTable::verify`).
    pub fn lock_verified(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        member: Member<'_>,
    ) -> Result<TxnGuard<'_>, ResponseError> {
        let table = self.table.lock();
        table.verify(transactional_id, producer_id, producer_epoch, member)?;
        Ok(TxnGuard { _table: table })
    }

    /// A transactions v2 write (Produce v12+, TxnOffsetCommit v5+): adds the partition or group
    /// to the producer's transaction, beginning one if none is ongoing, and keeps the
    /// coordinator locked until the returned guard is dropped.
    pub fn lock_added(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        member: Member<'_>,
    ) -> Result<TxnGuard<'_>, ResponseError> {
        let mut table = self.table.lock();
        let (partitions, groups) = match member {
            Member::Partition(tp) => (vec![tp.clone()], vec![]),
            Member::Group(group) => (vec![], vec![group.to_string()]),
        };
        table.add_to_transaction(
            transactional_id,
            producer_id,
            producer_epoch,
            &partitions,
            &groups,
            Timestamp::now(),
        )?;
        self.deadlines_changed.notify_one();
        Ok(TxnGuard { _table: table })
    }

    pub fn describe(&self, transactional_id: &str) -> Option<TransactionMetadata> {
        self.table.lock().get(transactional_id).cloned()
    }

    pub fn list(
        &self,
        states: &[String],
        producer_ids: &[i64],
        min_duration_ms: i64,
    ) -> (Vec<ListedTransaction>, Vec<String>) {
        self.table.lock().list(
            states,
            producer_ids,
            min_duration_ms,
            crate::state::now_ms(),
        )
    }

    /// Aborts the transactions whose timeout has passed.
    pub fn expire(&self, topics: &Topics, groups: &GroupCoordinator, now: Instant) {
        let mut table = self.table.lock();
        for completion in table.expire(now) {
            finish(&mut table, topics, groups, &completion);
        }
    }

    /// Aborts abandoned transactions as their timeouts fall due, until shutdown: it sleeps until
    /// the earliest deadline and is woken early when a transaction begins.
    pub async fn run_timers(
        &self,
        topics: &Topics,
        groups: &GroupCoordinator,
        mut shutdown: watch::Receiver<bool>,
    ) {
        loop {
            let changed = self.deadlines_changed.notified();
            let next = self.table.lock().next_deadline();
            let sleep = match next {
                Some(deadline) => tokio::time::sleep_until(deadline.into()),
                None => tokio::time::sleep(Duration::from_secs(3600)),
            };
            tokio::select! {
                _ = changed => {}
                _ = sleep => self.expire(topics, groups, Instant::now()),
                _ = shutdown.changed() => return,
            }
        }
    }
}

/// Writes a prepared transaction's markers, settles its groups' offsets, and completes it.
/// A partition deleted since it joined the transaction is skipped.
fn finish(
    table: &mut TxnTable,
    topics: &Topics,
    groups: &GroupCoordinator,
    completion: &Completion,
) {
    let now_ms = crate::state::now_ms();
    for (topic, index) in &completion.partitions {
        let Some(partition) = topics.get(topic).and_then(|t| t.partition(*index)) else {
            continue;
        };
        let leader_epoch = partition.leadership().leader_epoch;
        // A stale epoch cannot happen: the coordinator's epoch only grows.
        let _ = partition
            .log
            .lock()
            .append_txn_marker(&completion.marker, leader_epoch, now_ms);
    }
    for group in &completion.groups {
        groups.end_txn_offsets(
            group,
            completion.marker.producer_id,
            completion.marker.commit,
        );
    }
    table.complete(&completion.transactional_id);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now(ms: u64, base: Instant) -> Timestamp {
        Timestamp {
            instant: base + Duration::from_millis(ms),
            wall_ms: ms as i64,
        }
    }

    fn tp(topic: &str, partition: i32) -> TopicPartition {
        (topic.to_string(), partition)
    }

    fn init(table: &mut TxnTable, ids: &ProducerIds, id: &str) -> (i64, i16) {
        match table
            .init_producer_id(ids, id, 1000, None, &TxnSettings::default())
            .unwrap()
        {
            InitOutcome::Ready {
                producer_id,
                producer_epoch,
            } => (producer_id, producer_epoch),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_transaction_goes_from_empty_through_ongoing_to_complete() {
        let (mut table, ids, base) = (TxnTable::default(), ProducerIds::default(), Instant::now());
        let (pid, epoch) = init(&mut table, &ids, "t");
        assert_eq!((pid, epoch), (0, 0));
        assert_eq!(table.get("t").unwrap().state, TxnState::Empty);
        table
            .add_to_transaction("t", pid, epoch, &[tp("a", 0)], &[], now(5, base))
            .unwrap();
        table
            .add_to_transaction("t", pid, epoch, &[tp("a", 1)], &["g".into()], now(9, base))
            .unwrap();
        let txn = table.get("t").unwrap();
        assert_eq!(txn.state, TxnState::Ongoing);
        assert_eq!(txn.start_time_ms, 5, "the first add starts the transaction");
        assert_eq!(txn.partitions.len(), 2);
        assert_eq!(
            table.next_deadline(),
            Some(base + Duration::from_millis(1005))
        );

        let completion = table.end_txn("t", pid, epoch, true, None).unwrap().unwrap();
        assert_eq!(completion.partitions, vec![tp("a", 0), tp("a", 1)]);
        assert_eq!(completion.groups, vec!["g".to_string()]);
        assert!(completion.marker.commit);
        assert_eq!(table.get("t").unwrap().state, TxnState::PrepareCommit);
        assert_eq!(
            table.end_txn("t", pid, epoch, true, None),
            Err(ResponseError::ConcurrentTransactions)
        );
        assert_eq!(
            table.end_txn("t", pid, epoch, false, None),
            Err(ResponseError::InvalidTxnState)
        );
        table.complete("t");
        let txn = table.get("t").unwrap();
        assert_eq!(txn.state, TxnState::CompleteCommit);
        assert!(txn.partitions.is_empty());
        assert_eq!(table.next_deadline(), None);
        assert_eq!(
            table.end_txn("t", pid, epoch, true, None),
            Ok(None),
            "a retried commit succeeds"
        );
        assert_eq!(
            table.end_txn("t", pid, epoch, false, None),
            Err(ResponseError::InvalidTxnState)
        );

        // The next transaction starts from CompleteCommit.
        table
            .add_to_transaction("t", pid, epoch, &[tp("b", 0)], &[], now(20, base))
            .unwrap();
        assert_eq!(table.get("t").unwrap().start_time_ms, 20);
        assert_eq!(table.get("t").unwrap().partitions.len(), 1);
    }

    #[test]
    fn ending_a_transaction_that_never_began_is_an_invalid_state() {
        let (mut table, ids) = (TxnTable::default(), ProducerIds::default());
        let (pid, epoch) = init(&mut table, &ids, "t");
        assert_eq!(
            table.end_txn("t", pid, epoch, true, None),
            Err(ResponseError::InvalidTxnState)
        );
        assert_eq!(
            table.end_txn("nope", pid, epoch, true, None),
            Err(ResponseError::InvalidProducerIdMapping)
        );
        assert_eq!(
            table.end_txn("t", pid + 1, epoch, true, None),
            Err(ResponseError::InvalidProducerIdMapping)
        );
    }

    #[test]
    fn a_second_producer_fences_the_first_and_aborts_its_transaction() {
        let (mut table, ids, base) = (TxnTable::default(), ProducerIds::default(), Instant::now());
        let (pid, epoch) = init(&mut table, &ids, "t");
        table
            .add_to_transaction("t", pid, epoch, &[tp("a", 0)], &[], now(0, base))
            .unwrap();
        let outcome = table
            .init_producer_id(&ids, "t", 1000, None, &TxnSettings::default())
            .unwrap();
        let InitOutcome::FenceAndAbort(completion) = outcome else {
            panic!("{outcome:?}");
        };
        assert!(!completion.marker.commit);
        assert_eq!(
            completion.marker.producer_epoch,
            epoch + 1,
            "aborted fenced"
        );
        assert_eq!(table.get("t").unwrap().state, TxnState::PrepareAbort);
        assert_eq!(
            table.init_producer_id(&ids, "t", 1000, None, &TxnSettings::default()),
            Err(ResponseError::ConcurrentTransactions),
            "until the markers are written"
        );
        table.complete("t");
        // The retry gets a second bump; the old producer is fenced everywhere.
        let (pid2, epoch2) = init(&mut table, &ids, "t");
        assert_eq!((pid2, epoch2), (pid, epoch + 2));
        assert_eq!(
            table.add_to_transaction("t", pid, epoch, &[tp("a", 0)], &[], now(1, base)),
            Err(ResponseError::ProducerFenced)
        );
        assert_eq!(
            table.end_txn("t", pid, epoch, true, None),
            Err(ResponseError::ProducerFenced)
        );
    }

    #[test]
    fn reinitialising_with_the_expected_epoch_follows_kip_360() {
        let (mut table, ids) = (TxnTable::default(), ProducerIds::default());
        let settings = TxnSettings::default();
        let (pid, epoch) = init(&mut table, &ids, "t");
        // The producer itself re-initialises after an abortable error.
        assert_eq!(
            table.init_producer_id(&ids, "t", 1000, Some((pid, epoch)), &settings),
            Ok(InitOutcome::Ready {
                producer_id: pid,
                producer_epoch: epoch + 1
            })
        );
        // Its answer was lost and it retries with the old epoch: same answer.
        assert_eq!(
            table.init_producer_id(&ids, "t", 1000, Some((pid, epoch)), &settings),
            Ok(InitOutcome::Ready {
                producer_id: pid,
                producer_epoch: epoch + 1
            })
        );
        // A stranger's producer id is fenced.
        assert_eq!(
            table.init_producer_id(&ids, "t", 1000, Some((pid + 7, 0)), &settings),
            Err(ResponseError::ProducerFenced)
        );
    }

    #[test]
    fn an_exhausted_epoch_rotates_the_producer_id() {
        let (mut table, ids) = (TxnTable::default(), ProducerIds::default());
        let (pid, _) = init(&mut table, &ids, "t");
        table.txns.get_mut("t").unwrap().producer_epoch = i16::MAX - 1;
        let (new_pid, epoch) = init(&mut table, &ids, "t");
        assert_ne!(new_pid, pid);
        assert_eq!(epoch, 0);
        assert_eq!(table.get("t").unwrap().last_producer_id, pid);
    }

    #[test]
    fn timeouts_are_validated() {
        let (mut table, ids) = (TxnTable::default(), ProducerIds::default());
        let settings = TxnSettings {
            max_timeout_ms: 1000,
        };
        for bad in [0, -1, 1001] {
            assert_eq!(
                table.init_producer_id(&ids, "t", bad, None, &settings),
                Err(ResponseError::InvalidTransactionTimeout)
            );
        }
        assert_eq!(
            table.init_producer_id(&ids, "", 10, None, &settings),
            Err(ResponseError::InvalidRequest)
        );
    }

    #[test]
    fn writes_are_verified_against_the_transaction() {
        let (mut table, ids, base) = (TxnTable::default(), ProducerIds::default(), Instant::now());
        let (pid, epoch) = init(&mut table, &ids, "t");
        let a0 = tp("a", 0);
        let a1 = tp("a", 1);
        assert_eq!(
            table.verify("t", pid, epoch, Member::Partition(&a0)),
            Err(ResponseError::InvalidTxnState),
            "no transaction in progress"
        );
        table
            .add_to_transaction(
                "t",
                pid,
                epoch,
                std::slice::from_ref(&a0),
                &["g".into()],
                now(0, base),
            )
            .unwrap();
        assert_eq!(
            table.verify("t", pid, epoch, Member::Partition(&a0)),
            Ok(())
        );
        assert_eq!(table.verify("t", pid, epoch, Member::Group("g")), Ok(()));
        assert_eq!(
            table.verify("t", pid, epoch, Member::Partition(&a1)),
            Err(ResponseError::InvalidTxnState),
            "a partition not added"
        );
        assert_eq!(
            table.verify("t", pid, epoch + 1, Member::Partition(&a0)),
            Err(ResponseError::ProducerFenced)
        );
        assert_eq!(
            table.verify("u", pid, epoch, Member::Partition(&a0)),
            Err(ResponseError::InvalidProducerIdMapping)
        );
    }

    #[test]
    fn an_abandoned_transaction_is_fenced_and_aborted_at_its_deadline() {
        let (mut table, ids, base) = (TxnTable::default(), ProducerIds::default(), Instant::now());
        let (pid, epoch) = init(&mut table, &ids, "t");
        table
            .add_to_transaction("t", pid, epoch, &[tp("a", 0)], &[], now(100, base))
            .unwrap();
        assert!(table.expire(base + Duration::from_millis(1099)).is_empty());
        let expired = table.expire(base + Duration::from_millis(1100));
        assert_eq!(expired.len(), 1);
        assert!(!expired[0].marker.commit);
        assert_eq!(expired[0].marker.producer_epoch, epoch + 1);
        table.complete("t");
        assert_eq!(table.get("t").unwrap().state, TxnState::CompleteAbort);
        assert_eq!(table.next_deadline(), None);
        assert_eq!(
            table.end_txn("t", pid, epoch, true, None),
            Err(ResponseError::ProducerFenced),
            "the abandoned producer cannot commit any more"
        );
    }

    #[test]
    fn transactions_are_listed_by_state_producer_and_age() {
        let (mut table, ids, base) = (TxnTable::default(), ProducerIds::default(), Instant::now());
        let (a, e) = init(&mut table, &ids, "a");
        let (b, _) = init(&mut table, &ids, "b");
        table
            .add_to_transaction("a", a, e, &[tp("x", 0)], &[], now(100, base))
            .unwrap();
        let names = |(listed, _): (Vec<ListedTransaction>, Vec<String>)| -> Vec<String> {
            listed.into_iter().map(|t| t.transactional_id).collect()
        };
        assert_eq!(names(table.list(&[], &[], -1, 0)), vec!["a", "b"]);
        assert_eq!(
            names(table.list(&["Ongoing".into()], &[], -1, 0)),
            vec!["a"]
        );
        assert_eq!(names(table.list(&[], &[b], -1, 0)), vec!["b"]);
        assert_eq!(
            names(table.list(&["Ongoing".into()], &[], 50, 200)),
            vec!["a"]
        );
        assert!(names(table.list(&["Ongoing".into()], &[], 150, 200)).is_empty());
        let (listed, unknown) = table.list(&["Bogus".into(), "Empty".into()], &[], -1, 0);
        assert_eq!(unknown, vec!["Bogus".to_string()]);
        assert_eq!(listed[0].state, TxnState::Empty);
        for state in TxnState::ALL {
            assert_eq!(TxnState::from_name(state.name()), Some(state));
        }
    }
}
